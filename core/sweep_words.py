"""Sweep results in sentences: who won at each value, whether a lead is a tie, and the data-size advice.

`name` turns a strategy id into what the reader sees (a title, or markdown in bold).
"""

from __future__ import annotations

from typing import Callable

from core.sweep import best_two
from core.vary import SIZE, value_words


def _score(row: dict) -> str:
    return f"{row['mean_accuracy']:.3f} ± {row['std_accuracy']:.3f}"


def is_tie(best: dict, runner_up: dict | None) -> bool:
    """True when the winner's lead is no larger than the spread between seeds (one std of either)."""
    if runner_up is None:
        return False
    return best["mean_accuracy"] - runner_up["mean_accuracy"] <= max(best["std_accuracy"], runner_up["std_accuracy"])


def winner_sentence(best: dict, runner_up: dict | None, name: Callable[[str], str] = str,
                    setting: str = SIZE) -> str:
    """Who won at one value of `setting` and by how much; a lead inside the seeds' spread is a tie."""
    opening = f"With {value_words(setting, best['value'])}, {name(best['strategy'])}"
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
    ties = [int(best["value"]) for best, runner_up in ranked if is_tie(best, runner_up)]
    # "won" only where at least one size is a clear win; a lead made only of ties is a lead
    parts = [f"{_size_span(rows, len(segments), i == len(segments) - 1)}, {name(rows[0]['strategy'])} "
             f"{'led' if all(int(row['value']) in ties for row in rows) else 'won'} ({_scores(rows)})"
             for i, rows in enumerate(segments)]
    tie_note = (f" With {_and_list(ties)} training examples the lead is within the spread between seeds: "
                "a tie, not a win." if ties else "")
    return f"On your data, {'; '.join(parts)}.{tie_note}" if parts else ""


def _and_list(sizes: list[int]) -> str:
    words = [f"{size:,}" for size in sizes]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _size_span(rows: list[dict], n_segments: int, last: bool) -> str:
    first, end = int(rows[0]["value"]), int(rows[-1]["value"])
    if len(rows) == 1:
        return f"with {first:,} training examples"
    if n_segments == 1:
        return f"at every size tried ({first:,} to {end:,} training examples)"
    return f"from {first:,} training examples on" if last else f"from {first:,} to {end:,} training examples"


def _scores(rows: list[dict]) -> str:
    if len(rows) == 1:
        return _score(rows[0])
    return ", ".join(f"{_score(row)} at {int(row['value']):,}" for row in rows)
