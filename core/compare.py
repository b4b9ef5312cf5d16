"""Run a queue of strategies on one data split, saving each run; a failure never stops the rest."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

from core.config import RunConfig
from core.results import RunResult
from core.store import new_run_dir, save_run, write_json
from core.texts import Splits
from core.training import train


def run_queue(configs: list[RunConfig], splits: Splits, runs_root: Path | None,
              on_event: Callable | None = None, stop: threading.Event | None = None,
              data_info: dict | None = None, on_run: Callable | None = None,
              results: list | None = None, slot: Callable | None = None) -> list[RunResult]:
    """Train every config in order. Finished runs are saved under `runs_root` (when given).

    `on_run(index, config)` is called before each run; results are appended to `results` as
    they finish (a live list a reader may watch). `slot(index)` is a context manager around each
    run that waits for the scheduler's go (core.jobs) and yields False if the wait was cancelled.
    After a cancel the remaining runs are recorded as cancelled, not started.
    """
    results = [] if results is None else results
    slot = slot or (lambda index: nullcontext(True))
    for index, config in enumerate(configs):
        if on_run is not None:
            on_run(index, config)
        with slot(index) as go:
            if not go or (stop is not None and stop.is_set()):
                results.append(RunResult(strategy=config.strategy, status="cancelled",
                                         reason="Cancelled before it started.", model=config.model,
                                         config=config.to_dict()))
                continue
            outcome = train(config, splits, on_event, stop)
            if runs_root is not None and outcome.result.ok:
                _save(outcome, runs_root, data_info)
            results.append(outcome.result)
    return results


def _save(outcome, runs_root: Path, data_info: dict | None) -> None:
    """Save a finished run; if saving fails (disk full, ...), the run is reported failed with the reason
    and the queue goes on (nothing half-written is left: core.store saves atomically)."""
    try:
        save_run(new_run_dir(runs_root, outcome.result.strategy), outcome.result, outcome.predictor, data_info,
                 outcome.predictions)
    except (OSError, ValueError, RuntimeError) as exc:
        outcome.result.status = "failed"
        outcome.result.reason = f"Trained, but saving the run failed ({type(exc).__name__}: {exc}); nothing was kept."


def write_results(out_dir: Path, common: dict, results: list[RunResult]) -> Path:
    """Write `results.json`: the shared settings and one entry per run."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    write_json(path, {"config": common, "runs": [r.to_dict() for r in results]})
    return path
