"""Data-size sweep: strategies x training sizes x seeds, all scored on one fixed held-out test.

It answers "how much labelled data before fine-tuning beats a frozen encoder?" with the
user's own data instead of a rule of thumb.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable

import numpy as np

from core.config import RunConfig
from core.data import LabeledTexts, Splits, make_splits
from core.errors import DataError
from core.training import train


@dataclass(frozen=True)
class SweepRecord:
    """One run of the sweep."""

    strategy: str
    n_train: int
    seed: int
    status: str
    test_accuracy: float | None
    macro_f1: float | None
    train_seconds: float
    reason: str = ""


def stratified_subset(data: LabeledTexts, size: int, seed: int) -> LabeledTexts:
    """`size` examples drawn per class in the data's proportions (at least 1 per class), seeded."""
    labels = np.asarray(data.labels)
    classes = np.unique(labels)
    if size < len(classes) or size > len(labels):
        raise DataError(f"A training size of {size} is impossible with {len(labels)} examples in {len(classes)} classes.")
    rng = np.random.default_rng(seed)
    shares = np.array([np.sum(labels == c) for c in classes]) / len(labels)
    counts = np.maximum(1, np.floor(shares * size).astype(int))
    counts[np.argmax(shares)] += size - counts.sum()
    picked = [rng.choice(np.flatnonzero(labels == c), n, replace=False) for c, n in zip(classes, counts)]
    return data.subset(rng.permutation(np.concatenate(picked)).tolist())


def run_sweep(data: LabeledTexts, base: RunConfig, strategies: list[str], sizes: list[int], seeds: int,
              n_test: int = 1000, n_val: int | None = None, on_record: Callable | None = None,
              stop=None) -> list[SweepRecord]:
    """Train every (strategy, size, seed); the test and validation splits are the same for all."""
    sizes = sorted(set(sizes))
    pool = make_splits(data, n_train=sizes[-1], n_test=n_test, n_val=n_val, seed=0)
    records = []
    for size in sizes:
        for seed in range(seeds):
            train_part = stratified_subset(pool.train, size, seed)
            splits = Splits(train_part, pool.val, pool.test)
            for strategy in strategies:
                if stop is not None and stop.is_set():
                    return records
                result = train(base.replace(strategy=strategy, seed=seed), splits, stop=stop).result
                record = SweepRecord(strategy, size, seed, result.status, result.test_accuracy,
                                     result.macro_f1, result.train_seconds, result.reason)
                records.append(record)
                if on_record is not None:
                    on_record(record)
    return records


def summarize(records: list[SweepRecord]) -> list[dict]:
    """Mean and standard deviation of test accuracy per (strategy, size), finished runs only."""
    groups: dict[tuple, list[float]] = {}
    for r in records:
        if r.status == "finished":
            groups.setdefault((r.strategy, r.n_train), []).append(r.test_accuracy)
    return [{"strategy": s, "n_train": n, "mean_accuracy": statistics.fmean(v),
             "std_accuracy": statistics.stdev(v) if len(v) > 1 else 0.0, "runs": len(v)}
            for (s, n), v in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]))]


def winners(summary: list[dict]) -> dict[int, str]:
    """The strategy with the best mean accuracy at each training size."""
    best: dict[int, dict] = {}
    for row in summary:
        if row["n_train"] not in best or row["mean_accuracy"] > best[row["n_train"]]["mean_accuracy"]:
            best[row["n_train"]] = row
    return {size: row["strategy"] for size, row in sorted(best.items())}
