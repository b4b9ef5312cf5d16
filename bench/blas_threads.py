"""TF-IDF with OpenBLAS's threads (numpy/scipy's default: one per core) vs one BLAS thread (core.blas,
what the lab does), timed side by side in one run, alternating, idle and beside busy processes.

Timed: a TF-IDF run (core.training.train: vectorizer, four logistic regressions chosen on validation,
evaluation) on Rotten Tomatoes (the lesson default, 1,000 sentences) and on IMDb (4,000 reviews), and
the trained predictor's predictions for 1 and 500 held-out texts (what the Playground and the REST
service ask of it; the lab leaves them at OpenBLAS's default, since one thread did not make them faster). "Busy": `--busy` other processes spin on the CPU, as a class's pages and a run
beside it do on a server. The same seeds give the same models either way (the accuracies are recorded).

    python bench/run.py blas_threads [--busy 2] [--reps 3] [--quick]
"""

from __future__ import annotations

import contextlib
import statistics
import time

import core.trainers
from core.blas import one_blas_thread
from core.config import RunConfig
from core.sources import load_bundled
from core.splits import make_splits
from core.training import train

from gil_isolation import _BusyProcesses


def add_arguments(p) -> None:
    p.add_argument("--busy", type=int, default=2, help="processes spinning on the CPU in the busy case")
    p.add_argument("--reps", type=int, default=3, help="timings per arm and case (median reported)")


@contextlib.contextmanager
def blas_threads(default: bool):
    """The lab's code with OpenBLAS's own threads (default) or with core.blas's one thread."""
    saved = core.trainers.one_blas_thread
    core.trainers.one_blas_thread = contextlib.nullcontext if default else one_blas_thread
    predictions = contextlib.nullcontext() if default else one_blas_thread()  # the run's own are inside
    try:
        with predictions:
            yield
    finally:
        core.trainers.one_blas_thread = saved


def _timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    out = work()
    return time.perf_counter() - started, out


def _arms(work, reps: int) -> dict:
    """Median seconds of `work()` per arm, the arms alternating; and what the last call of each gave."""
    seconds, last = {"openblas_threads": [], "one_thread": []}, {}
    for _ in range(reps):
        for arm in seconds:
            with blas_threads(default=arm == "openblas_threads"):
                took, last[arm] = _timed(work)
            seconds[arm].append(took)
    out = {arm: statistics.median(values) for arm, values in seconds.items()}
    out["speedup"] = out["openblas_threads"] / out["one_thread"]
    out["all_seconds"] = seconds
    return out, last


def _cases(datasets: dict, reps: int) -> dict:
    cases = {}
    for name, splits in datasets.items():
        config = RunConfig(strategy="tfidf")
        train(config, splits)  # warm-up: imports, page cache
        timing, last = _arms(lambda: train(config, splits), reps)
        timing["test_accuracy"] = {arm: outcome.result.test_accuracy for arm, outcome in last.items()}
        cases[f"train {name}"] = timing
        predictor = train(config, splits).predictor
        texts = list(splits.test.texts)
        for n in (1, 500):
            batch = texts[:n]
            predictor.predict_outputs(batch)
            timing, _ = _arms(lambda: [predictor.predict_outputs(batch) for _ in range(20)], reps)
            cases[f"predict {n} {name}"] = {k: (v / 20 if k in ("openblas_threads", "one_thread") else v)
                                             for k, v in timing.items() if k != "all_seconds"}
    return cases


def run(args) -> dict:
    reps = 1 if args.quick else args.reps
    sizes = {"rotten_tomatoes": 100 if args.quick else 1000, "imdb": None if args.quick else 4000}
    datasets = {f"{name} {n}": make_splits(load_bundled(name), n_train=n, n_test=500, seed=0)
                for name, n in sizes.items() if n}
    idle = _cases(datasets, reps)
    with _BusyProcesses(args.busy):
        busy = _cases(datasets, reps)
    return {"busy_processes": args.busy, "reps": reps, "idle": idle, "busy": busy}
