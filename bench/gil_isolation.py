"""Training beside a server's page work: in the job's thread (executor "local") or in a worker process
(executor "process", core/process_executor.py, the default).

A class's server runs every session's page scripts in its own process while runs train. Stand-in for
those scripts: `--busy` threads in this process that loop over pure Python (they hold the GIL, as
script runs do). Timed side by side, in one run:
- alone: the run in this process with nothing else going on;
- in a thread, busy server: the run in a thread of this process while the busy threads loop (what the
  "local" executor does);
- in a worker, busy server: the same run through core.process_executor.ProcessExecutor while the busy
  threads loop (the worker is warm: started and used once before the timing);
- CPU only: the run in this process while `--busy` other processes loop, which share the CPU but not
  the GIL: the part of the slowdown that any engine on this machine pays.
For each, the run's seconds, and the busy threads' loops per second (the page work done meanwhile).
Runs: TF-IDF on Rotten Tomatoes (2,000 training sentences) and a MiniLM `full` fine-tune (200 sentences,
one epoch, max length 64).

    python bench/run.py gil_isolation [--busy 4] [--runs tfidf,full] [--thread-limit 600] [--quick]
"""

from __future__ import annotations

import multiprocessing
import threading
import time

from core.config import RunConfig
from core.jobs import Job
from core.process_executor import ProcessExecutor
from core.sources import load_bundled
from core.splits import make_splits
from core.training import train


def add_arguments(p) -> None:
    p.add_argument("--busy", type=int, default=4, help="threads (or processes) of pure-Python work beside the run")
    p.add_argument("--runs", default="tfidf,full", help="which runs: tfidf, full")
    p.add_argument("--thread-limit", type=float, default=600.0,
                   help="seconds after which the run in a thread is stopped and reported as over this")


def _loop(stop, counts: list, index: int) -> None:
    while not stop.is_set():
        "".join(str(i) for i in range(200))  # pure Python: holds the GIL
        counts[index] += 1


def _spin() -> None:
    while True:
        "".join(str(i) for i in range(200))


class _BusyThreads:
    def __init__(self, n: int):
        self.stop, self.counts = threading.Event(), [0] * n
        self.threads = [threading.Thread(target=_loop, args=(self.stop, self.counts, i), daemon=True)
                        for i in range(n)]

    def __enter__(self):
        self.started = time.perf_counter()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()
        self.rate = sum(self.counts) / (time.perf_counter() - self.started)


class _BusyProcesses:
    def __init__(self, n: int):
        self.processes = [multiprocessing.get_context("spawn").Process(target=_spin, daemon=True) for _ in range(n)]

    def __enter__(self):
        for process in self.processes:
            process.start()
        time.sleep(1.0)  # they are spinning
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.kill()
            process.join()


def _in_thread(config, splits, limit: float | None = None) -> float | None:
    """The run's seconds in a thread of this process; None if it was still training after `limit` s
    (then it is cancelled)."""
    took, stop = [], threading.Event()

    def work():
        started = time.perf_counter()
        outcome = train(config, splits, stop=stop)
        assert outcome.result.ok or stop.is_set(), outcome.result.reason
        took.append(time.perf_counter() - started)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        stop.set()
        thread.join()
        return None
    return took[0]


def _in_worker(executor, config, splits) -> float:
    started = time.perf_counter()
    job = Job([config], splits, None, executor=executor).start()
    job.join()
    assert job.results and job.results[0].ok, job.results
    return time.perf_counter() - started


def _case(config, splits, busy: int, executor, limit: float) -> dict:
    train(config, splits)  # warm-up here: files in the page cache
    _in_worker(executor, config, splits)  # and a warm worker
    alone = _in_thread(config, splits)
    with _BusyThreads(busy) as threads:
        in_thread = _in_thread(config, splits, limit)
    with _BusyThreads(busy) as workers:
        in_worker = _in_worker(executor, config, splits)
    with _BusyProcesses(busy):
        cpu_only = _in_thread(config, splits)
    with _BusyThreads(busy) as idle_server:
        time.sleep(3.0)
    return {"alone_seconds": alone, "in_thread_seconds": in_thread, "in_thread_limit_seconds": limit,
            "in_worker_seconds": in_worker, "cpu_only_seconds": cpu_only,
            "in_thread_slowdown": in_thread / alone if in_thread else None,
            "in_worker_slowdown": in_worker / alone, "cpu_only_slowdown": cpu_only / alone,
            "page_loops_per_second": {"nothing_training": idle_server.rate, "training_in_thread": threads.rate,
                                      "training_in_worker": workers.rate}}


def run(args) -> dict:
    busy = 2 if args.quick else args.busy
    tfidf_splits = make_splits(load_bundled("rotten_tomatoes"), n_train=200 if args.quick else 2000, n_test=500,
                               seed=0)
    full_splits = make_splits(load_bundled("rotten_tomatoes"), n_train=40 if args.quick else 200, n_test=100, seed=0)
    executor = ProcessExecutor(keep_warm=1)
    try:
        cases = {}
        if "tfidf" in args.runs:
            cases["tfidf"] = _case(RunConfig(strategy="tfidf"), tfidf_splits, busy, executor, args.thread_limit)
        if "full" in args.runs and not args.quick:
            cases["full"] = _case(RunConfig(strategy="full", epochs=1, max_length=64, patience=0), full_splits, busy,
                                  executor, args.thread_limit)
    finally:
        executor.close()
    return {"busy": busy, "n_train": {"tfidf": len(tfidf_splits.train), "full": len(full_splits.train)},
            "cases": cases}
