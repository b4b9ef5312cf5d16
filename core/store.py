"""Runs on disk: `<root>/<run id>/` holds config.json, result.json and model/ (safetensors).

Everything is JSON or safetensors, so a saved run can be read back without unpickling.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from core.results import RunResult

DEFAULT_RUNS_ROOT = Path(os.environ.get("TL_LAB_RUNS", "runs"))


def new_run_dir(root: Path, strategy: str) -> Path:
    """A fresh, unique folder name: <UTC time>-<strategy>-<random>."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    folder = Path(root) / f"{stamp}-{strategy}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def write_json(path: Path, payload) -> None:
    """Write JSON atomically (temp file + rename) so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    tmp.replace(path)


def save_run(run_dir: Path, result: RunResult, predictor=None, data_info: dict | None = None) -> Path:
    """Save a run: config, result (with history and metrics), and the model when there is one."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if predictor is not None:
        predictor.save(run_dir / "model")
        result.model_dir = str(run_dir)
    write_json(run_dir / "config.json", {"run": result.config, "data": data_info or {}})
    write_json(run_dir / "result.json", result.to_dict())
    return run_dir


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
