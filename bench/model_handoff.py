"""A trained model's files, from the worker process that trained it to the run's folder in the server:
as bytes through the worker's pipe (core.executors.SavedFiles, what the workers did before and Ray's
tasks still do) vs written to a staging folder that saving moves into the run (core.executors.StagedFiles,
what the workers do now).

The model: a frozen MiniLM run's folder (the whole encoder, 91 MB). In both arms a child process writes
the folder (a copy of it) where the arm says and tells this process; timed here, from the request to the
files saved in a new run folder. Alone, and beside `--busy` busy threads of this process (the class's
page scripts, which the server's job thread that reads the pipe has to share the interpreter with).
Arms alternate; median of `--reps`.

    python bench/run.py model_handoff [--busy 4] [--reps 3] [--quick]
"""

from __future__ import annotations

import multiprocessing
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from core.config import RunConfig
from core.executors import SavedFiles, StagedFiles
from core.sources import load_bundled
from core.splits import make_splits
from core.training import train

from gil_isolation import _BusyThreads


def add_arguments(p) -> None:
    p.add_argument("--busy", type=int, default=4, help="busy threads of this process in the busy case")
    p.add_argument("--reps", type=int, default=3, help="timings per arm and case (median reported)")


class _Copy:
    """Stands in for the trained predictor: its `save(folder)` writes a copy of the model folder."""

    def __init__(self, model: str):
        self.model = model

    def save(self, folder) -> None:
        shutil.copytree(self.model, folder, dirs_exist_ok=True)


def _child(conn) -> None:
    """Asked (arm, model folder, staging folder): write the model there and answer as the arm does."""
    while True:
        message = conn.recv()
        if message is None:
            return
        arm, model, stage = message
        if arm == "pipe":  # SavedFiles.of, as the workers did: written to a folder, read back as bytes
            conn.send(SavedFiles.of(_Copy(model)))
        else:
            shutil.copytree(model, stage, dirs_exist_ok=True)
            conn.send(StagedFiles(stage))


def _handoff(conn, arm: str, model: Path, root: Path) -> float:
    stage = tempfile.mkdtemp(dir=root)
    started = time.perf_counter()
    conn.send((arm, str(model), stage))
    files = conn.recv()
    files.save(Path(tempfile.mkdtemp(dir=root)) / "model")
    seconds = time.perf_counter() - started
    shutil.rmtree(stage, ignore_errors=True)
    return seconds


def run(args) -> dict:
    reps = 1 if args.quick else args.reps
    splits = make_splits(load_bundled("rotten_tomatoes"), n_train=40, n_test=40, seed=0)
    predictor = train(RunConfig(strategy="frozen", epochs=1), splits).predictor
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = root / "model"
        predictor.save(model)
        size = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
        here, there = multiprocessing.get_context("spawn").Pipe()
        child = multiprocessing.get_context("spawn").Process(target=_child, args=(there,), daemon=True)
        child.start()
        try:
            _handoff(here, "pipe", model, root), _handoff(here, "staged", model, root)  # warm: page cache
            cases = {}
            for case, busy in (("alone", 0), ("beside busy server threads", 2 if args.quick else args.busy)):
                seconds = {"pipe": [], "staged": []}
                with _BusyThreads(busy):
                    for _ in range(reps):
                        for arm in seconds:
                            seconds[arm].append(_handoff(here, arm, model, root))
                cases[case] = {"busy_threads": busy, "pipe_seconds": statistics.median(seconds["pipe"]),
                               "staged_seconds": statistics.median(seconds["staged"]), "all_seconds": seconds}
                cases[case]["speedup"] = cases[case]["pipe_seconds"] / cases[case]["staged_seconds"]
        finally:
            here.send(None)
            child.join(10)
    return {"model_bytes": size, "reps": reps, "cases": cases}
