"""Where a job's runs train: here in the job's thread (None), in worker processes of this machine
(core.process_executor, the dashboard's default), or as Ray tasks (core.ray_executor); the lab settings
choose (core.jobs.configured_executor).

An executor's `run_queue(...)` / `run_sweep(...)` take and return what core.compare.run_queue and
core.sweep.run_sweep_on_splits do; `OffThreadExecutor` writes those two once, over a "call" object of
each engine that trains run `index` when asked and reports each run's end (`finish`). A run trained
elsewhere comes back as a TrainOutcome whose model is a SavedFiles (the folder Predictor.save wrote
there, as bytes: Ray's machines) or a StagedFiles (that folder on this machine: worker processes), and
the caller saves the run in its own runs folder with core.store.save_run, as for
a run trained here. No torch up here: Ray's channel actor imports this module too.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable

from core.results import RunResult


class SavedFiles:
    """A trained model's folder as bytes (what Predictor.save wrote where the run trained). It stands
    in for the predictor when the caller saves the run: `save(folder)` writes the same files there."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    @classmethod
    def of(cls, predictor) -> SavedFiles:
        with tempfile.TemporaryDirectory() as tmp:
            predictor.save(Path(tmp))
            return cls({str(p.relative_to(tmp)): p.read_bytes() for p in Path(tmp).rglob("*") if p.is_file()})

    def save(self, folder) -> None:
        for name, data in self.files.items():
            (Path(folder) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(folder) / name).write_bytes(data)


class StagedFiles:
    """A trained model's folder that a worker process of this machine wrote to a staging folder;
    `save(folder)` moves it into place (a rename when both are on one filesystem), so the model's bytes
    never pass through the server process. A frozen MiniLM run's 91 MB took 6.3 s to cross the
    worker's pipe as SavedFiles beside four busy server threads (the server's job thread reads it
    between page scripts) and 0.15 s staged; 0.62 s and 0.03 s alone (bench/model_handoff.py)."""

    def __init__(self, folder):
        self.folder = str(folder)

    def save(self, folder) -> None:
        folder = Path(folder)
        if folder.exists():
            for child in Path(self.folder).iterdir():
                shutil.move(str(child), str(folder / child.name))
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(self.folder, str(folder))


def unreported_result(config, splits, status: str, reason: str) -> RunResult:
    """A run's result when where it trained never reported one (cancelled, failed, or nowhere to run)."""
    return RunResult(strategy=config.strategy, status=status, reason=reason, model=config.model,
                     labels=list(splits.label_names), task=splits.task, n_train=len(splits.train),
                     n_val=len(splits.val), n_test=len(splits.test), config=config.to_dict())


def unreported_outcome(emit: Callable, config, splits, status: str, reason: str):
    """The outcome of a run whose trainer never reported its end, after `emit`ting the event it would have
    sent (RunFailed or RunCancelled)."""
    from core import events as ev
    from core.training import TrainOutcome

    emit(ev.RunFailed(config.strategy, reason) if status == "failed" else ev.RunCancelled(config.strategy))
    return TrainOutcome(unreported_result(config, splits, status, reason))


class OffThreadExecutor:
    """run_queue and run_sweep for an engine that trains each run away from the caller's thread.
    A subclass gives `new_call(finish, on_event, on_run, stop, keep_model)`: an object whose
    `run(count, prepare, slot)` trains runs 0..count-1 (`prepare(index) -> (config, splits)`), each inside
    `slot(index)` when given, and calls `finish(index, config, splits, outcome)` as each ends (outcome
    None: cancelled before it started)."""

    def new_call(self, finish: Callable, on_event, on_run, stop, keep_model: bool):
        raise NotImplementedError

    def run_queue(self, configs: list, splits, runs_root: Path | None, on_event: Callable | None = None,
                  stop: threading.Event | None = None, data_info: dict | None = None, on_run: Callable | None = None,
                  results: list | None = None, slot: Callable | None = None) -> list[RunResult]:
        """core.compare.run_queue elsewhere: the same arguments, results and saved runs. `results` fills in
        queue order; with runs side by side, `on_run(index, config)` is called again whenever the events
        passed to `on_event` switch runs, so a reader's "current run" (core.jobs.Job) stays right."""
        from core.compare import _save

        results = [] if results is None else results
        first, ended = len(results), {}

        def finish(index, config, run_splits, outcome) -> None:
            if outcome is None:
                ended[index] = unreported_result(config, run_splits, "cancelled", "Cancelled before it started.")
            else:
                if runs_root is not None and outcome.result.ok:
                    _save(outcome, runs_root, data_info)
                ended[index] = outcome.result
            while len(results) - first in ended:
                results.append(ended[len(results) - first])

        call = self.new_call(finish, on_event, on_run, stop, keep_model=runs_root is not None)
        call.run(len(configs), lambda index: (configs[index], splits), slot)
        return results

    def run_sweep(self, pool, base, strategies: list[str], vary, seeds: int, n_train: int | None = None,
                  on_record: Callable | None = None, stop=None, slot: Callable | None = None) -> list:
        """core.sweep.run_sweep_on_splits elsewhere: the same plan, samples and records (in plan order);
        `on_record` is called as runs end. Runs Cancel took back before they started leave no record."""
        from core.sweep import DEFAULT_N_TRAIN, SweepRecord, _run_setup, check_sweepable, sweep_plan

        check_sweepable(pool)
        n_train = min(n_train or DEFAULT_N_TRAIN, len(pool.train))
        plan = sweep_plan(strategies, vary, seeds)
        records: dict = {}

        def finish(index, config, splits, outcome) -> None:
            if outcome is None:
                return
            result, run = outcome.result, plan[index]
            records[index] = SweepRecord(run.strategy, vary.setting, run.value, len(splits.train), run.seed,
                                         result.status, result.test_accuracy, result.macro_f1, result.train_seconds,
                                         result.reason)
            if on_record is not None:
                on_record(records[index])

        call = self.new_call(finish, None, None, stop, keep_model=False)
        call.run(len(plan), lambda index: _run_setup(pool, base, vary, plan[index], n_train), slot)
        return [records[index] for index in sorted(records)]
