"""What Ray costs on one machine: the same Rotten Tomatoes sweep trained here, then as Ray tasks on a local cluster.

The sweep is `python -m core sweep --data rotten_tomatoes --strategies frozen,tfidf --sizes 100,300,1000
--seeds 2` (1,000 test sentences, default settings). First in this process, one run after the other
(torch on every core), then through core.ray_executor.RayExecutor on a local Ray cluster of
`--workers` one-CPU workers started here (`--executor ray --ray-address local`, where runs go side by
side, one torch thread each). A model is loaded once beforehand, so both start with the files in the
page cache. Reported: wall seconds of each, the Ray cluster's start apart, the overhead per task
((Ray wall - local wall) / tasks, with and without the start), the summed in-task seconds, and
whether the records agree (TF-IDF exactly; frozen within rounding, as thread counts differ).

    python bench/run.py ray_sweep [--quick] [--workers 2]
"""

from __future__ import annotations

import time

from _common import log

from core.config import RunConfig
from core.sources import load_bundled
from core.sweep import run_sweep
from core.training import train
from core.vary import SIZE, Vary


def add_arguments(p) -> None:
    p.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray cluster (one run per CPU)")
    p.add_argument("--sizes", default="100,300,1000", help="training sizes")
    p.add_argument("--seeds", type=int, default=2, help="seeds per size")
    p.add_argument("--strategies", default="frozen,tfidf", help="strategies of the sweep")


def _key(record) -> tuple:
    return record.strategy, record.value, record.n_train, record.seed, record.status


def _timed_sweep(data, base, strategies, vary, seeds, n_test, executor=None) -> tuple[float, list]:
    started = time.perf_counter()
    records = run_sweep(data, base, strategies, vary, seeds, n_test=n_test, executor=executor)
    return time.perf_counter() - started, records


def run(args) -> dict:
    from core.ray_executor import RayExecutor
    from core.splits import make_splits

    sizes = (20, 40) if args.quick else tuple(int(s) for s in args.sizes.split(","))
    seeds, n_test = (1, 100) if args.quick else (args.seeds, 1000)
    strategies = [s.strip() for s in args.strategies.split(",")]
    data, base, vary = load_bundled("rotten_tomatoes"), RunConfig(), Vary(SIZE, sizes)
    warm = make_splits(data, n_train=16, n_val=8, n_test=8, seed=99)  # other texts: no cached test features
    train(base.replace(strategy="frozen", epochs=1), warm)  # model files in the page cache, imports done
    log(f"local sweep: {', '.join(strategies)} x sizes {sizes} x {seeds} seeds")
    local_seconds, local = _timed_sweep(data, base, strategies, vary, seeds, n_test)
    log(f"Ray sweep: a local cluster of {args.workers} one-CPU workers")

    executor = RayExecutor("local", cpus_per_run=1, num_cpus=args.workers, object_store_memory=200 * 2**20,
                           include_dashboard=False, log_to_driver=False)
    started = time.perf_counter()
    executor.connect()
    start_seconds = time.perf_counter() - started
    try:
        sweep_seconds, remote = _timed_sweep(data, base, strategies, vary, seeds, n_test, executor)
    finally:
        executor.close()
    tasks = len(local)
    ray_wall = start_seconds + sweep_seconds
    same_runs = [_key(r) for r in remote] == [_key(r) for r in local]
    tfidf_equal = same_runs and all(r.test_accuracy == l.test_accuracy for r, l in zip(remote, local)
                                    if r.strategy == "tfidf")
    differences = [abs(r.test_accuracy - l.test_accuracy) for r, l in zip(remote, local)
                   if same_runs and r.test_accuracy is not None and l.test_accuracy is not None]
    print(f"local {local_seconds:.1f} s; Ray: start {start_seconds:.1f} s + sweep {sweep_seconds:.1f} s "
          f"({args.workers} workers); overhead per task {(ray_wall - local_seconds) / tasks:+.2f} s with the start, "
          f"{(sweep_seconds - local_seconds) / tasks:+.2f} s without; TF-IDF records equal: {tfidf_equal}")

    def table(records) -> list[dict]:
        return [{"strategy": r.strategy, "n_train": r.n_train, "seed": r.seed, "status": r.status,
                 "test_accuracy": r.test_accuracy, "train_seconds": r.train_seconds} for r in records]

    return {"settings": {"data": "rotten_tomatoes", "strategies": strategies, "sizes": list(sizes), "seeds": seeds,
                         "n_test": n_test, "workers": args.workers, "cpus_per_run": 1,
                         **{k: v for k, v in base.to_dict().items() if k != "strategy"}},
            "equivalent_command": f"python -m core sweep --data rotten_tomatoes --strategies {','.join(strategies)} "
                                  f"--sizes {','.join(map(str, sizes))} --seeds {seeds} --n-test {n_test} "
                                  "[--executor ray --ray-address local]",
            "tasks": tasks, "local_wall_seconds": local_seconds, "ray_start_seconds": start_seconds,
            "ray_sweep_seconds": sweep_seconds, "ray_wall_seconds": ray_wall,
            "overhead_per_task_seconds": (ray_wall - local_seconds) / tasks,
            "overhead_per_task_without_start_seconds": (sweep_seconds - local_seconds) / tasks,
            "local_sum_train_seconds": sum(r.train_seconds for r in local),
            "ray_sum_train_seconds": sum(r.train_seconds for r in remote),
            "records": {"same_runs_and_statuses": same_runs, "tfidf_accuracies_equal": tfidf_equal,
                        "max_abs_accuracy_difference": max(differences, default=None),
                        "all_equal": same_runs and not any(differences)},
            "local": table(local), "ray": table(remote)}


if __name__ == "__main__":  # the same as `python bench/run.py ray_sweep ARGS`
    import run as runner

    runner.main_as_script(__file__)
