"""Data-size sweep: strategies x training sizes x seeds, all scored on one fixed held-out test.

It answers "how much labelled data before fine-tuning beats a frozen encoder?" with the
user's own data instead of a rule of thumb.
"""

from __future__ import annotations

import dataclasses
import statistics
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


POOL_FACTOR = 2  # the training pool holds up to this many times the largest training size


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


@dataclass(frozen=True)
class PlannedRun:
    """One (training size, seed, strategy) of a sweep, in the order the sweep trains them."""

    n_train: int
    seed: int
    strategy: str


def sweep_plan(strategies: list[str], sizes: list[int], seeds: int) -> list[PlannedRun]:
    """Every run of a sweep in training order: smallest size first, all strategies on each sample."""
    return [PlannedRun(size, seed, strategy)
            for size in sorted(set(sizes)) for seed in range(seeds) for strategy in strategies]


def parse_sizes(text: str) -> list[int]:
    """'100, 300,1000' -> [100, 300, 1000] (sorted, repeats removed); a LabError says what is wrong."""
    try:
        sizes = sorted({int(part) for part in text.replace(" ", "").split(",") if part})
    except ValueError:
        raise LabError(f"Training sizes must be whole numbers separated by commas, got '{text}'.") from None
    if not sizes or sizes[0] < 1:
        raise LabError(f"Give at least one training size above 0, got '{text}'.")
    return sizes


def run_sweep(data: LabeledTexts, base: RunConfig, strategies: list[str], sizes: list[int], seeds: int,
              n_test: int = 1000, n_val: int | None = None, on_record: Callable | None = None,
              stop=None) -> list[SweepRecord]:
    """Train every (strategy, size, seed); the test and validation splits are the same for all.

    Samples are drawn from a pool of up to twice the largest size, so that the seeds of the
    largest size also train on different texts (with a pool of exactly that size they would all
    get the same texts, and their spread would show only initialisation and batch order).
    """
    n_classes = len(data.label_names)
    n_val = n_val if n_val is not None else max(2 * n_classes, round(0.2 * max(sizes)))
    n_pool = max(max(sizes), min(POOL_FACTOR * max(sizes), len(data) - n_test - n_val))
    pool = make_splits(data, n_train=n_pool, n_test=n_test, n_val=n_val, seed=0)
    return run_sweep_on_splits(pool, base, strategies, sizes, seeds, on_record=on_record, stop=stop)


def run_sweep_on_splits(pool: Splits, base: RunConfig, strategies: list[str], sizes: list[int], seeds: int,
                        on_record: Callable | None = None, stop=None) -> list[SweepRecord]:
    """Like `run_sweep` on splits already made: training samples are drawn from `pool.train`;
    `pool.val` and `pool.test` stay fixed, so every run is scored on the same texts."""
    if pool.train.is_regression or pool.train.others:
        raise DataError("The data-size sweep compares test accuracy of single-label classification; "
                        "numeric (regression) and multi-task targets can be compared on the Train page.")
    records = []
    for run in sweep_plan(strategies, sizes, seeds):
        if stop is not None and stop.is_set():
            break
        # Seeded, so all strategies of one (size, seed) train on the same sample.
        splits = Splits(stratified_subset(pool.train, run.n_train, run.seed), pool.val, pool.test)
        result = train(base.replace(strategy=run.strategy, seed=run.seed), splits, stop=stop).result
        record = SweepRecord(run.strategy, run.n_train, run.seed, result.status, result.test_accuracy,
                             result.macro_f1, result.train_seconds, result.reason)
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records


def estimate_sweep_seconds(pool: Splits, base: RunConfig, strategies: list[str], sizes: list[int],
                           seeds: int) -> float:
    """Expected wall time of the whole sweep: each strategy and size timed once, times the seeds."""
    total = 0.0
    for size in sorted(set(sizes)):
        splits = Splits(stratified_subset(pool.train, size, seed=0), pool.val, pool.test)
        total += seeds * sum(training.estimate_run_seconds(base.replace(strategy=s), splits) for s in strategies)
    return total


def summarize(records: list[SweepRecord]) -> list[dict]:
    """Mean and standard deviation of test accuracy per (strategy, size), finished runs only."""
    groups: dict[tuple, list[float]] = {}
    for r in records:
        if r.status == "finished":
            groups.setdefault((r.strategy, r.n_train), []).append(r.test_accuracy)
    return [{"strategy": s, "n_train": n, "mean_accuracy": statistics.fmean(v),
             "std_accuracy": statistics.stdev(v) if len(v) > 1 else 0.0, "runs": len(v)}
            for (s, n), v in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]))]


def best_two(summary: list[dict]) -> list[tuple[dict, dict | None]]:
    """Per training size (ascending): the summary row with the best mean accuracy and the runner-up
    (None where only one strategy finished). Ties go to the strategy listed first."""
    by_size: dict[int, list[dict]] = {}
    for row in summary:
        by_size.setdefault(row["n_train"], []).append(row)
    ranked = [sorted(rows, key=lambda row: -row["mean_accuracy"]) for _, rows in sorted(by_size.items())]
    return [(rows[0], rows[1] if len(rows) > 1 else None) for rows in ranked]


def winners(summary: list[dict]) -> dict[int, str]:
    """The strategy with the best mean accuracy at each training size."""
    return {best["n_train"]: best["strategy"] for best, _ in best_two(summary)}


def sweep_config(data_info: dict, base: RunConfig, strategies: list[str], sizes: list[int], seeds: int,
                 n_test: int) -> dict:
    """The settings a sweep.json records: the data (source and description), the plan, the training settings."""
    return {"data": data_info.get("data", ""), "description": data_info.get("description", ""),
            "sizes": sorted(set(sizes)), "seeds": seeds, "strategies": list(strategies), "n_test": n_test,
            **base.to_dict()}


def sweep_payload(config: dict, records: list[SweepRecord]) -> dict:
    """What sweep.json holds: the settings, every run, the summary and the winner per size."""
    summary = summarize(records)
    return {"config": config, "records": [dataclasses.asdict(r) for r in records], "summary": summary,
            "winners": winners(summary)}


def records_csv(records: list[SweepRecord]) -> str:
    """One CSV row per run, failed and cancelled ones included with their reason (spreadsheet-safe)."""
    columns = [field.name for field in dataclasses.fields(SweepRecord)]
    return safe_csv(pd.DataFrame([dataclasses.asdict(r) for r in records], columns=columns))


# ---------------------------------------------------------------- in words
# `name` turns a strategy id into what the reader sees (a title, or markdown in bold).


def _score(row: dict) -> str:
    return f"{row['mean_accuracy']:.3f} ± {row['std_accuracy']:.3f}"


def is_tie(best: dict, runner_up: dict | None) -> bool:
    """True when the winner's lead is no larger than the spread between seeds (one std of either)."""
    if runner_up is None:
        return False
    return best["mean_accuracy"] - runner_up["mean_accuracy"] <= max(best["std_accuracy"], runner_up["std_accuracy"])


def winner_sentence(best: dict, runner_up: dict | None, name: Callable[[str], str] = str) -> str:
    """Who won at one training size and by how much; a lead inside the seeds' spread is called a tie."""
    opening = f"With {best['n_train']:,} training examples, {name(best['strategy'])}"
    if runner_up is None:
        return f"{opening} was the only strategy that finished: {_score(best)}."
    margin = best["mean_accuracy"] - runner_up["mean_accuracy"]
    if is_tie(best, runner_up):
        return (f"{opening} and {name(runner_up['strategy'])} are tied: {_score(best)} against {_score(runner_up)}, "
                f"a gap of {margin:.3f}, within the spread between seeds.")
    return (f"{opening} won with {_score(best)}, {margin:.3f} ahead of {name(runner_up['strategy'])} "
            f"({_score(runner_up)}).")


def sweep_advice(summary: list[dict], name: Callable[[str], str] = str) -> str:
    """The winners in one sentence, sizes with the same winner grouped, ties said after:
    'On your data, with 100 training examples, frozen won (0.710 ± 0.020); from 300 training examples on, ...'."""
    ranked = best_two(summary)
    segments: list[list[dict]] = []  # consecutive sizes won by the same strategy
    for best, _ in ranked:
        if segments and segments[-1][-1]["strategy"] == best["strategy"]:
            segments[-1].append(best)
        else:
            segments.append([best])
    ties = [best["n_train"] for best, runner_up in ranked if is_tie(best, runner_up)]
    # "won" only where at least one size is a clear win; a lead made only of ties is a lead
    parts = [f"{_size_span(rows, len(segments), i == len(segments) - 1)}, {name(rows[0]['strategy'])} "
             f"{'led' if all(row['n_train'] in ties for row in rows) else 'won'} ({_scores(rows)})"
             for i, rows in enumerate(segments)]
    tie_note = (f" With {_and_list(ties)} training examples the lead is within the spread between seeds: "
                "a tie, not a win." if ties else "")
    return f"On your data, {'; '.join(parts)}.{tie_note}" if parts else ""


def _and_list(sizes: list[int]) -> str:
    words = [f"{size:,}" for size in sizes]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _size_span(rows: list[dict], n_segments: int, last: bool) -> str:
    first, end = rows[0]["n_train"], rows[-1]["n_train"]
    if len(rows) == 1:
        return f"with {first:,} training examples"
    if n_segments == 1:
        return f"at every size tried ({first:,} to {end:,} training examples)"
    return f"from {first:,} training examples on" if last else f"from {first:,} to {end:,} training examples"


def _scores(rows: list[dict]) -> str:
    if len(rows) == 1:
        return _score(rows[0])
    return ", ".join(f"{_score(row)} at {row['n_train']:,}" for row in rows)
