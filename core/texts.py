"""The data types every part of the lab shares: labelled texts and their train / validation / test splits."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from core.errors import DataError

TASKS = ("classification", "regression")
REGRESSION_BINS = 5  # quantile bins that stand in for classes when splitting numeric targets
SENTIMENT_NAMES = ("negative", "positive")  # bundled and synthetic label 0 / label 1


@dataclass(frozen=True)
class LabeledTexts:
    """Texts with one target per text; any sequences are stored as tuples.

    Classification (the default): `labels` are integer indices into `label_names`.
    Regression: `labels` are finite numbers and `label_names` is empty.
    Multi-task: `others` holds more targets for the same texts (one head each), every one a
    `LabeledTexts` of its own; `target` names the column this one came from.
    """

    texts: tuple[str, ...]
    labels: tuple
    label_names: tuple[str, ...]
    dropped: int = 0  # rows left out at load time because the text or the label was empty
    task: str = "classification"
    target: str = "label"
    others: tuple[LabeledTexts, ...] = ()
    duplicates: int = 0  # rows left out at load time because the same text came earlier
    notes: tuple[str, ...] = ()  # what loading decided, in sentences (columns detected, labels merged)

    def __post_init__(self) -> None:
        # Frozen, so coerce through object.__setattr__: callers may pass lists or arrays.
        object.__setattr__(self, "texts", tuple(self.texts))
        object.__setattr__(self, "label_names", tuple(self.label_names))
        object.__setattr__(self, "others", tuple(self.others))
        object.__setattr__(self, "notes", tuple(self.notes))
        if self.task not in TASKS:
            raise DataError(f"Unknown task '{self.task}'; choose {' or '.join(TASKS)}.")
        if len(self.texts) != len(self.labels):
            raise DataError(f"Got {len(self.texts):,} texts but {len(self.labels):,} labels; "
                            "every text needs exactly one label.")
        if self.task == "regression":
            object.__setattr__(self, "labels", tuple(float(value) for value in self.labels))
            if not all(math.isfinite(value) for value in self.labels):
                raise DataError(f"The target '{self.target}' has values that are not finite numbers.")
        else:
            object.__setattr__(self, "labels", tuple(int(label) for label in self.labels))
            if self.labels and not 0 <= min(self.labels) <= max(self.labels) < len(self.label_names):
                raise DataError(f"Labels must be indices into the {len(self.label_names)} label names.")
        for other in self.others:
            if len(other) != len(self.texts) or other.others:
                raise DataError(f"Target '{other.target}' must have one value per text and no targets of its own.")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_regression(self) -> bool:
        """True when the target is a number (regression), not a class."""
        return self.task == "regression"

    @property
    def columns(self) -> tuple[LabeledTexts, ...]:
        """Every target of these texts: this one first, then `others` (multi-task)."""
        return (self, *self.others)

    def describe_targets(self) -> str:
        """'classes negative, positive' or, per target, 'score: a number (regression)'."""
        def words(column: LabeledTexts) -> str:
            return "a number (regression)" if column.is_regression else f"classes {', '.join(column.label_names)}"

        if not self.others:
            return words(self)
        return "; ".join(f"{column.target}: {words(column)}" for column in self.columns)

    def load_report(self) -> list[str]:
        """What loading decided and the label map, one sentence each (the Data page and the CLI show them)."""
        lines = list(self.notes)
        if self.dropped:
            lines.append(f"{_rows(self.dropped)} without a text or a label {_were(self.dropped)} left out.")
        if self.duplicates:
            lines.append(f"{_rows(self.duplicates)} repeating an earlier text {_were(self.duplicates)} left out, "
                         "so that no text can be in both training and test.")
        lines.append(f"{len(self):,} labelled texts; {self.describe_targets()}.")
        for column in self.columns:
            if not column.is_regression:
                counts = column.class_counts()
                pairs = ", ".join(f"'{name}' = {i} ({counts[name]:,})" for i, name in enumerate(column.label_names))
                lines.append(f"Label map of '{column.target}': {pairs}.")
        return lines

    def subset(self, indices: Iterable[int]) -> LabeledTexts:
        """The rows at `indices`, in that order, with the same targets (nothing dropped, no notes)."""
        rows = [int(i) for i in indices]
        return LabeledTexts(tuple(self.texts[i] for i in rows), tuple(self.labels[i] for i in rows),
                            self.label_names, task=self.task, target=self.target,
                            others=tuple(other.subset(rows) for other in self.others))

    def without_repeated_texts(self) -> LabeledTexts:
        """The first row of every distinct text; `duplicates` counts the rows left out.

        The same text in training and test would inflate every score, so repeats go before splitting."""
        first = first_occurrences(self.texts)
        if len(first) == len(self.texts):
            return self
        kept = self.subset(first)
        return dataclasses.replace(kept, dropped=self.dropped, duplicates=self.duplicates + len(self) - len(first),
                                   notes=self.notes)

    def class_counts(self) -> dict[str, int]:
        """Number of examples per label name, in label order (zero for absent classes); {} for regression."""
        counts = Counter(self.labels) if not self.is_regression else Counter()
        return {name: counts.get(i, 0) for i, name in enumerate(self.label_names)}

    def strata(self) -> tuple[np.ndarray, int]:
        """(group of each row, number of groups) to stratify splits by: classes, or value quantiles."""
        if not self.is_regression:
            return np.asarray(self.labels, dtype=int), len(self.label_names)
        values = np.asarray(self.labels, dtype=float)
        n_bins = max(1, min(REGRESSION_BINS, len(values) // 10))
        edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1]))
        groups = np.searchsorted(edges, values, side="right")
        present = np.unique(groups)  # ties can leave a bin empty: renumber the ones in use
        return np.searchsorted(present, groups), len(present)


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def _were(n: int) -> str:
    return "was" if n == 1 else "were"


def first_occurrences(texts) -> list[int]:
    """Indices of the first row of each distinct text, in order."""
    seen: set[str] = set()
    first = []
    for index, text in enumerate(texts):
        if text not in seen:
            seen.add(text)
            first.append(index)
    return first


@dataclass(frozen=True)
class Splits:
    """Disjoint train / validation / test sets over the same label names, and optionally unlabelled
    texts of the same domain (continued pre-training reads them besides the training texts)."""

    train: LabeledTexts
    val: LabeledTexts
    test: LabeledTexts
    unlabelled: tuple[str, ...] = ()

    @property
    def pretraining_texts(self) -> tuple[str, ...]:
        """What continued pre-training may read: the training texts and the unlabelled ones, never
        validation or test."""
        return (*self.train.texts, *self.unlabelled)

    @property
    def label_names(self) -> tuple[str, ...]:
        """The label names shared by the three splits."""
        return self.train.label_names

    @property
    def task(self) -> str:
        """classification or regression (of the first target)."""
        return self.train.task
