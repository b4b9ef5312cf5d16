"""Sweeps: strategies x the values of one setting x seeds, all scored on one fixed held-out test.

The classic one varies the training size ("how much labelled data before fine-tuning beats a
frozen encoder?"); any other setting works the same way (core.vary): the learning rate, epochs,
max length, top k, LoRA rank, dropout, label noise. Each seed draws its own training sample.
"""

from __future__ import annotations

import dataclasses
import statistics
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from core import training
from core.config import RunConfig
from core.errors import DataError, LabError
from core.splits import make_splits, stratified_subset
from core.tables import safe_csv
from core.texts import LabeledTexts, Splits
from core.training import train
from core.vary import Vary

POOL_FACTOR = 2  # the training pool holds up to this many times the largest training size
DEFAULT_N_TRAIN = 1000  # training texts per run when the sweep varies something else than the size


@dataclass(frozen=True)
class SweepRecord:
    """One run of the sweep."""

    strategy: str
    setting: str  # what the sweep varies (core.vary)
    value: float
    n_train: int
    seed: int
    status: str
    test_accuracy: float | None
    macro_f1: float | None
    train_seconds: float
    reason: str = ""


@dataclass(frozen=True)
class PlannedRun:
    """One (value, seed, strategy) of a sweep, in the order the sweep trains them."""

    value: float
    seed: int
    strategy: str


def sweep_plan(strategies: list[str], vary: Vary, seeds: int) -> list[PlannedRun]:
    """Every run of a sweep in training order: smallest value first, all strategies on each sample."""
    return [PlannedRun(value, seed, strategy) for value in vary.values for seed in range(seeds)
            for strategy in strategies]


def parse_sizes(text: str) -> list[int]:
    """'100, 300,1000' -> [100, 300, 1000] (sorted, repeats removed); a LabError says what is wrong."""
    try:
        sizes = sorted({int(part) for part in text.replace(" ", "").split(",") if part})
    except ValueError:
        raise LabError(f"Training sizes must be whole numbers separated by commas, got '{text}'.") from None
    if not sizes or sizes[0] < 1:
        raise LabError(f"Give at least one training size above 0, got '{text}'.")
    return sizes


def largest_sample(vary: Vary, n_train: int | None) -> int:
    """The most training texts one run of the sweep takes."""
    return int(max(vary.values)) if vary.is_size else (n_train or DEFAULT_N_TRAIN)


def run_sweep(data: LabeledTexts, base: RunConfig, strategies: list[str], vary: Vary, seeds: int,
              n_test: int = 1000, n_val: int | None = None, n_train: int | None = None,
              on_record: Callable | None = None, stop=None, executor=None) -> list[SweepRecord]:
    """Train every (strategy, value, seed); the test and validation splits are the same for all.

    Samples are drawn from a pool of up to twice the largest sample, so that the seeds of the
    largest size also train on different texts (with a pool of exactly that size they would all
    get the same texts, and their spread would show only initialisation and batch order).
    `executor`: None trains here; a core.ray_executor.RayExecutor trains each run as a Ray task.
    """
    largest = largest_sample(vary, n_train)
    n_val = n_val if n_val is not None else max(2 * len(data.label_names), round(0.2 * largest))
    n_pool = max(largest, min(POOL_FACTOR * largest, len(data) - n_test - n_val))
    pool = make_splits(data, n_train=n_pool, n_test=n_test, n_val=n_val, seed=0)
    run = executor.run_sweep if executor is not None else run_sweep_on_splits
    return run(pool, base, strategies, vary, seeds, n_train, on_record=on_record, stop=stop)


def _run_setup(pool: Splits, base: RunConfig, vary: Vary, run: PlannedRun, n_train: int) -> tuple[RunConfig, Splits]:
    """The config and splits of one planned run. Seeded, so all strategies of one (value, seed) train
    on the same sample."""
    size = int(run.value) if vary.is_size else n_train
    config, train_texts = vary.apply(run.value, base.replace(strategy=run.strategy, seed=run.seed),
                                     stratified_subset(pool.train, size, run.seed), run.seed)
    return config, Splits(train_texts, pool.val, pool.test)


def check_sweepable(pool: Splits) -> None:
    """A sweep compares accuracy: single-label classification only (a DataError says so)."""
    if pool.train.is_regression or pool.train.others:
        raise DataError("A sweep compares test accuracy of single-label classification; numeric (regression) "
                        "and multi-task targets can be compared on the Train page.")


def run_sweep_on_splits(pool: Splits, base: RunConfig, strategies: list[str], vary: Vary, seeds: int,
                        n_train: int | None = None, on_record: Callable | None = None, stop=None,
                        slot: Callable | None = None) -> list[SweepRecord]:
    """Like `run_sweep` on splits already made: training samples are drawn from `pool.train`;
    `pool.val` and `pool.test` stay fixed, so every run is scored on the same texts. `slot(index)`
    wraps each run as in core.compare.run_queue (the scheduler's go; False = cancelled)."""
    check_sweepable(pool)
    n_train = min(n_train or DEFAULT_N_TRAIN, len(pool.train))
    records = []
    slot = slot or (lambda index: nullcontext(True))
    for index, run in enumerate(sweep_plan(strategies, vary, seeds)):
        if stop is not None and stop.is_set():
            break
        config, splits = _run_setup(pool, base, vary, run, n_train)
        with slot(index) as go:
            if not go:
                break
            result = train(config, splits, stop=stop).result
            record = SweepRecord(run.strategy, vary.setting, run.value, len(splits.train), run.seed, result.status,
                                 result.test_accuracy, result.macro_f1, result.train_seconds, result.reason)
            records.append(record)
            if on_record is not None:
                on_record(record)
    return records


def estimate_sweep_seconds(pool: Splits, base: RunConfig, strategies: list[str], vary: Vary, seeds: int,
                           n_train: int | None = None) -> float:
    """Expected wall time of the whole sweep: each strategy and value timed once, times the seeds."""
    return sum(cell_seconds(pool, base, strategies, vary, seeds, n_train))


def cell_seconds(pool: Splits, base: RunConfig, strategies: list[str], vary: Vary, seeds: int,
                 n_train: int | None = None) -> list[float]:
    """Expected seconds of each run of the sweep plan, in plan order (each strategy and value timed once)."""
    n_train = min(n_train or DEFAULT_N_TRAIN, len(pool.train))
    memo: dict = {}
    out = []
    for run in sweep_plan(strategies, vary, seeds):
        key = (run.strategy, run.value)
        if key not in memo:
            config, splits = _run_setup(pool, base, vary, PlannedRun(run.value, 0, run.strategy), n_train)
            memo[key] = training.estimate_run_seconds(config, splits)
        out.append(memo[key])
    return out


def summarize(records: list[SweepRecord]) -> list[dict]:
    """Mean and standard deviation of test accuracy per (strategy, value), finished runs only."""
    groups: dict[tuple, list[float]] = {}
    for r in records:
        if r.status == "finished":
            groups.setdefault((r.strategy, r.value), []).append(r.test_accuracy)
    return [{"strategy": s, "value": v, "mean_accuracy": statistics.fmean(scores),
             "std_accuracy": statistics.stdev(scores) if len(scores) > 1 else 0.0, "runs": len(scores)}
            for (s, v), scores in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]))]


def best_two(summary: list[dict]) -> list[tuple[dict, dict | None]]:
    """Per value (ascending): the summary row with the best mean accuracy and the runner-up (None
    where only one strategy finished). Ties go to the strategy listed first."""
    by_value: dict[float, list[dict]] = {}
    for row in summary:
        by_value.setdefault(row["value"], []).append(row)
    ranked = [sorted(rows, key=lambda row: -row["mean_accuracy"]) for _, rows in sorted(by_value.items())]
    return [(rows[0], rows[1] if len(rows) > 1 else None) for rows in ranked]


def winners(summary: list[dict]) -> dict[float, str]:
    """The strategy with the best mean accuracy at each value."""
    return {best["value"]: best["strategy"] for best, _ in best_two(summary)}


def sweep_config(data_info: dict, base: RunConfig, strategies: list[str], vary: Vary, seeds: int,
                 n_test: int, n_train: int | None = None) -> dict:
    """The settings a sweep.json records: the data (source and description), the plan, the training settings."""
    return {"data": data_info.get("data", ""), "description": data_info.get("description", ""),
            "vary": vary.setting, "values": list(vary.values), "seeds": seeds, "strategies": list(strategies),
            "n_test": n_test, **({} if vary.is_size else {"n_train_per_run": n_train or DEFAULT_N_TRAIN}),
            **base.to_dict()}


def sweep_payload(config: dict, records: list[SweepRecord]) -> dict:
    """What sweep.json holds: the settings, every run, the summary and the winner per value."""
    summary = summarize(records)
    return {"config": config, "records": [dataclasses.asdict(r) for r in records], "summary": summary,
            "winners": winners(summary)}


def records_csv(records: list[SweepRecord]) -> str:
    """One CSV row per run, failed and cancelled ones included with their reason (spreadsheet-safe)."""
    columns = [field.name for field in dataclasses.fields(SweepRecord)]
    return safe_csv(pd.DataFrame([dataclasses.asdict(r) for r in records], columns=columns))
