"""How many long trainings at once on this CPU: two MiniLM fine-tunes one after the other vs side by side.

core.lab_settings.default_slots picks one long training per CORES_PER_TRAINING cores on a CPU. This
measures why: the same two `full` runs (Rotten Tomatoes, 300 training sentences, one epoch, max
length 64) trained in turn, then in two threads at once (as two sessions would without a scheduler).
Reported: each run's seconds and the wall time of both; side by side wins only if its wall time is
lower than in turn.

    python bench/run.py scheduler_slots [--quick] [--n-train 300] [--executor process]
"""

from __future__ import annotations

import threading
import time

from core.config import RunConfig
from core.jobs import Job
from core.process_executor import ProcessExecutor
from core.scheduler import Scheduler
from core.sources import load_bundled
from core.splits import make_splits
from core.training import train


UNLIMITED = Scheduler(slots=2, short_slots=0)  # the runs' own: the server's would let one long run at a time


def add_arguments(p) -> None:
    p.add_argument("--n-train", type=int, default=300, help="training sentences per run")
    p.add_argument("--executor", choices=("local", "process"), default="local",
                   help="train in threads of this process (local) or in worker processes (core.process_executor)")


def _timed(config, splits, out: list, executor=None) -> None:
    started = time.perf_counter()
    if executor is None:
        result = train(config, splits).result
    else:
        job = Job([config], splits, None, executor=executor, scheduler=UNLIMITED).start()
        job.join()
        result = job.results[0]
    out.append({"seconds": time.perf_counter() - started, "status": result.status, "accuracy": result.test_accuracy})


def run(args) -> dict:
    n_train = 40 if args.quick else args.n_train
    splits = make_splits(load_bundled("rotten_tomatoes"), n_train=n_train, n_val=n_train // 5, n_test=200, seed=0)
    config = RunConfig(strategy="full", epochs=1, max_length=64, patience=0)
    executor = ProcessExecutor(keep_warm=2) if args.executor == "process" else None
    try:
        return {"executor": args.executor, **_compare(config, splits, n_train, executor)}
    finally:
        if executor is not None:
            executor.close()


def _compare(config, splits, n_train: int, executor) -> dict:
    train(config, splits)  # warm-up: model files in the page cache, kernels chosen
    if executor is not None:  # and two warm workers
        warm = [threading.Thread(target=_timed, args=(config, splits, [], executor)) for _ in range(2)]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()
    in_turn: list = []
    started = time.perf_counter()
    for _ in range(2):
        _timed(config, splits, in_turn, executor)
    in_turn_wall = time.perf_counter() - started
    side_by_side: list = []
    threads = [threading.Thread(target=_timed, args=(config, splits, side_by_side, executor)) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together_wall = time.perf_counter() - started
    return {"n_train": n_train, "in_turn": {"runs": in_turn, "wall_seconds": in_turn_wall},
            "side_by_side": {"runs": side_by_side, "wall_seconds": together_wall},
            "side_by_side_wall_ratio": together_wall / in_turn_wall,
            "per_run_slowdown": sum(r["seconds"] for r in side_by_side) / sum(r["seconds"] for r in in_turn)}
