"""Runs on disk: `<root>/<run id>/` holds config.json, result.json and model/ (safetensors).

Everything is JSON or safetensors, so a saved run can be read back without unpickling. A run is
written into a hidden `.partial-<run id>` folder and renamed into place when complete, so a crash
while saving leaves nothing that looks like a run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path

from core.results import RunResult

DEFAULT_RUNS_ROOT = Path(os.environ.get("TL_LAB_RUNS", "runs"))


PARTIAL_PREFIX = ".partial-"  # a run being written; never listed, removed by the next save


def new_run_dir(root: Path, strategy: str) -> Path:
    """A fresh, unique folder path (not created yet): <root>/<UTC time>-<strategy>-<random>."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path(root) / f"{stamp}-{strategy}-{secrets.token_hex(3)}"


def write_json(path: Path, payload) -> None:
    """Write JSON atomically (temp file + rename) so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    tmp.replace(path)


def save_run(run_dir: Path, result: RunResult, predictor=None, data_info: dict | None = None,
             predictions=None) -> Path:
    """Save a run (config, result with history and metrics, the model and the test predictions when
    given) all at once: written aside, then renamed to `run_dir`, which must not exist yet."""
    run_dir = Path(run_dir)
    partial = run_dir.parent / f"{PARTIAL_PREFIX}{run_dir.name}"
    shutil.rmtree(partial, ignore_errors=True)  # left by a crash while saving this very run
    partial.mkdir(parents=True)
    try:
        if predictor is not None:
            predictor.save(partial / "model")
        if predictions is not None:
            from core.mistakes import write_predictions  # pandas: loaded only when a run is saved

            write_predictions(partial, predictions)
        write_json(partial / "config.json", {"run": result.config, "data": data_info or {}})
        write_json(partial / "result.json", {**result.to_dict(), "model_dir": str(run_dir) if predictor else None})
        partial.rename(run_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if predictor is not None:
        result.model_dir = str(run_dir)
    return run_dir


def rename_run(run_dir: Path, name: str) -> RunResult:
    """Give a saved run a name of its own (stored in its result.json); '' gives it back its strategy id."""
    name = " ".join(str(name).split())[:80]
    result = load_result(run_dir)
    result.name = name
    write_json(Path(run_dir) / "result.json", result.to_dict())
    return result


def load_result(run_dir: Path) -> RunResult:
    """Read a run's result.json back."""
    return RunResult.from_dict(json.loads((Path(run_dir) / "result.json").read_text()))


def list_runs(root: Path = DEFAULT_RUNS_ROOT) -> list[tuple[Path, RunResult]]:
    """Every readable saved run under `root`, newest first; unreadable folders are skipped."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir(), reverse=True):
        if folder.name.startswith("."):  # .partial-<run>: a save that did not finish
            continue
        try:
            found.append((folder, load_result(folder)))
        except (OSError, ValueError, TypeError):
            continue
    return found


def read_data_info(run_dir: Path) -> dict:
    """The data description saved with a run (source, sizes), or {}."""
    try:
        return json.loads((Path(run_dir) / "config.json").read_text()).get("data", {})
    except (OSError, ValueError):
        return {}
