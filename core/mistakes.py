"""Every run's held-out predictions, and the questions asked of them: which texts did it get wrong,
which does one run get right where another fails.

A run folder keeps them as predictions.csv: one row per test text with the true and the predicted
label (or value), the probability of the prediction and of every class. Its mistakes add up to
the off-diagonal of the run's confusion matrix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.tables import from_spreadsheet, safe_csv
from core.tasks import slices

PREDICTIONS_FILE = "predictions.csv"


def prediction_table(texts, y: np.ndarray, decoded: np.ndarray, targets) -> pd.DataFrame:
    """One row per text: the first target as true / predicted / correct / confidence / P(class) (or
    true / predicted / error for a number); further targets (multi-task) as '<name>: ...' columns."""
    table = pd.DataFrame({"text": list(texts)})
    for j, (target, cut) in enumerate(slices(targets)):
        prefix = "" if j == 0 else f"{target.name}: "
        block = decoded[:, cut]
        if target.kind == "regression":
            columns = {"true": y[:, j], "predicted": block[:, 0], "error": block[:, 0] - y[:, j]}
        else:
            names = np.asarray(target.label_names, dtype=object)
            true, predicted = y[:, j].astype(int), block.argmax(axis=1)
            columns = {"true": names[true], "predicted": names[predicted], "correct": true == predicted,
                       "confidence": block.max(axis=1),
                       **{f"P({name})": block[:, k] for k, name in enumerate(target.label_names)}}
        for name, values in columns.items():
            table[prefix + name] = values
    return table


def write_predictions(folder: Path, table: pd.DataFrame) -> None:
    """predictions.csv in a run folder (spreadsheet-safe)."""
    (Path(folder) / PREDICTIONS_FILE).write_text(safe_csv(table), encoding="utf-8")


def read_predictions(folder: Path) -> pd.DataFrame | None:
    """A run's predictions.csv as it was written, or None for runs saved before runs kept them."""
    path = Path(folder) / PREDICTIONS_FILE
    if not path.is_file():
        return None
    table = pd.read_csv(path, dtype={"text": str, "true": object, "predicted": object}, keep_default_na=False)
    table.columns = [from_spreadsheet(column) for column in table.columns]
    return table.map(from_spreadsheet)


def mistakes(table: pd.DataFrame, true: str | None = None, predicted: str | None = None) -> pd.DataFrame:
    """The wrong predictions, most confident first (a confusion-matrix cell when `true` / `predicted`
    are given); for a number, the largest errors first."""
    if "error" in table:
        return table.reindex(table["error"].abs().sort_values(ascending=False).index)
    wrong = table[~table["correct"].astype(bool)]
    if true is not None:
        wrong = wrong[wrong["true"].astype(str) == str(true)]
    if predicted is not None:
        wrong = wrong[wrong["predicted"].astype(str) == str(predicted)]
    return wrong.sort_values("confidence", ascending=False)


def disagreements(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Test texts that exactly one of two runs (on the same test split) gets right: text, the true
    label, what each predicted, and which one was right."""
    both = first[["text", "true", "predicted", "correct"]].merge(
        second[["text", "predicted", "correct"]], on="text", suffixes=(" (first)", " (second)"))
    right_first, right_second = both["correct (first)"].astype(bool), both["correct (second)"].astype(bool)
    split = both[right_first != right_second].copy()
    split["right"] = np.where(right_first[split.index], "first", "second")
    return split.drop(columns=["correct (first)", "correct (second)"])
