"""Find the text and label columns of a table and build checked labelled texts from them."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from typing import Sequence

import pandas as pd

from core.errors import DataError
from core.tables import cell_text, clean_text, quoted
from core.texts import TASKS, LabeledTexts, first_occurrences

TEXT_NAMES = ("text", "review", "reviews", "sentence", "content", "comment", "body",
              "document", "message", "tweet", "utterance", "review_text", "description")
LABEL_NAMES = ("label", "labels", "sentiment", "class", "target", "category", "polarity",
               "rating", "score", "stars", "y", "tag", "intent", "emotion", "topic", "label_text")

_INTEGER = re.compile(r"[+-]?\d+")


def detect_columns(df: pd.DataFrame, *, text_column: str | None = None,
                   label_column: str | None = None) -> tuple[str, str]:
    """(text column, label column): the given names, else common names, else by content."""
    columns = [str(column) for column in df.columns]
    if len(columns) < 2:
        raise DataError(f"The data needs a text column and a label column; it has only: "
                        f"{', '.join(columns) or 'no columns'}.")
    text = _find_column(columns, text_column) if text_column else None
    label = _find_column(columns, label_column) if label_column else None
    text = text or _by_name(columns, TEXT_NAMES, exclude=label)
    label = label or _by_name(columns, LABEL_NAMES, exclude=text)
    text = text or _longest_text_column(df, exclude=label)
    label = label or _few_values_column(df, exclude=text)
    if label is None:
        raise DataError(f"Cannot tell which column holds the labels; the file has columns: "
                        f"{', '.join(columns)}. Name it 'label' or choose it explicitly.")
    if text == label:
        raise DataError(f"Column '{text}' cannot be both the text and the label column.")
    return text, label


def text_column_of(df: pd.DataFrame, text_column: str | None = None) -> str:
    """The column holding texts to predict on (no label column needed): given, by name, or longest."""
    columns = [str(column) for column in df.columns]
    if text_column:
        return _find_column(columns, text_column)
    return _by_name(columns, TEXT_NAMES, exclude=None) or _longest_text_column(df, exclude=None)


def _find_column(columns: list[str], wanted: str) -> str:
    """`wanted` as spelled in `columns` (exact first, then ignoring case)."""
    if wanted in columns:
        return wanted
    folded = [column for column in columns if column.casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    raise DataError(f"Column '{wanted}' not found; the file has columns: {', '.join(columns)}.")


def _excluded(exclude) -> set[str]:
    """A column name, several, or None -> a set of names to skip."""
    if exclude is None:
        return set()
    return {exclude} if isinstance(exclude, str) else set(exclude)


def _by_name(columns: list[str], names: Sequence[str], exclude) -> str | None:
    """The first column whose name is in `names` (by priority, ignoring case)."""
    skip = _excluded(exclude)
    by_folded = {column.strip().casefold(): column for column in columns if column not in skip}
    return next((by_folded[name] for name in names if name in by_folded), None)


def _longest_text_column(df: pd.DataFrame, exclude) -> str:
    """The column whose cells are longest on average: free text is longer than labels."""
    skip = _excluded(exclude)
    lengths = {str(column): df[column].map(cell_text).str.len().mean()
               for column in df.columns if str(column) not in skip}
    return max(lengths, key=lengths.get)


def _few_values_column(df: pd.DataFrame, exclude: str) -> str | None:
    """The column with the fewest distinct values, if that looks like classes (2..100)."""
    limit = min(100, max(2, len(df) // 2))
    distinct = {str(column): df[column].map(cell_text).nunique()
                for column in df.columns if str(column) != exclude}
    candidates = {column: n for column, n in distinct.items() if 2 <= n <= limit}
    return min(candidates, key=candidates.get) if candidates else None


def from_frame(df: pd.DataFrame, text_column: str | None = None, label_column=None,
               task: str = "auto") -> LabeledTexts:
    """Labelled texts from a table; columns are detected unless named.

    `label_column` may name several columns (a list, or "a,b"): one target each, trained as
    one multi-task model. `task` is auto, classification or regression, for all of them or one
    per label column ("classification,regression"); auto picks regression for numeric columns
    that do not look like a handful of classes.
    """
    wanted = _names(label_column)
    columns = [str(column) for column in df.columns]
    chosen = {"text": text_column, "label": label_column}
    if len(wanted) <= 1:
        text_column, label = detect_columns(df, text_column=text_column,
                                            label_column=wanted[0] if wanted else None)
        labels = [label]
    else:
        labels = [_find_column(columns, name) for name in wanted]
        if len(set(labels)) != len(labels):
            raise DataError(f"Label column {quoted(sorted({c for c in labels if labels.count(c) > 1}))} "
                            "is named more than once.")
        text_column = (_find_column(columns, text_column) if text_column
                       else _by_name(columns, TEXT_NAMES, exclude=labels) or _longest_text_column(df, exclude=labels))
        if text_column in labels:
            raise DataError(f"Column '{text_column}' cannot be both the text and a label column.")
    tasks = _task_per_column(task, labels)
    texts = [clean_text(cell_text(value)) for value in df[text_column]]
    _check_holds_text(texts, text_column, columns)
    specs = [(column, [cell_text(value) for value in df[column]], kind, None)
             for column, kind in zip(labels, tasks)]
    data = _build_targets(texts, specs)
    return dataclasses.replace(data, notes=(_columns_note(text_column, labels, chosen), *data.notes))


def _columns_note(text_column: str, labels: list[str], chosen: dict) -> str:
    """Which columns are used, and whether they were detected or named."""
    how = "as named" if chosen["text"] and chosen["label"] else "detected"
    label_words = f"label column '{labels[0]}'" if len(labels) == 1 else f"label columns {quoted(labels)}"
    return f"Text column '{text_column}' and {label_words} ({how}; choose others to change them)."


def _is_code(cell: str) -> bool:
    """A number or an id ('12.5', 'A-1024', 'user_17'): no letters, or one token with digits in it."""
    has_letter = any(ch.isalpha() for ch in cell)
    return not has_letter or (not any(ch.isspace() for ch in cell) and any(ch.isdigit() for ch in cell))


def _check_holds_text(texts: list[str], column: str, columns: list[str]) -> None:
    """Refuse a text column whose cells are mostly numbers or ids: training on digits teaches nothing."""
    filled = [text for text in texts if text]
    codes = sum(map(_is_code, filled))
    if filled and codes > 0.5 * len(filled):
        raise DataError(f"Column '{column}' holds no text to learn from ({codes:,} of its {len(filled):,} "
                        f"cells are numbers or ids); the file has columns: {', '.join(columns)}. "
                        "Choose the column with the texts.")


def _names(columns) -> list[str]:
    """None, "a", "a,b" or ["a", "b"] -> a list of stripped, non-empty names."""
    if columns is None:
        return []
    parts = columns.split(",") if isinstance(columns, str) else list(columns)
    return [str(part).strip() for part in parts if str(part).strip()]


def _task_per_column(task: str, columns: list[str]) -> list[str]:
    """One of auto / classification / regression per label column."""
    tasks = _names(task) or ["auto"]
    if len(tasks) == 1:
        tasks = tasks * len(columns)
    if len(tasks) != len(columns):
        raise DataError(f"Got {len(tasks)} tasks for {len(columns)} label columns; give one task, "
                        "or one per label column.")
    for kind in tasks:
        if kind not in ("auto", *TASKS):
            raise DataError(f"Unknown task '{kind}'; choose auto, classification or regression.")
    return tasks


def labeled(texts: Sequence[str], labels: Sequence[str], label_column: str,
             class_order: Sequence[str] | None = None) -> LabeledTexts:
    """Classification texts: drop rows without text or label, name the classes, check them."""
    return _build_targets(texts, [(label_column, labels, "classification", class_order)])


def _build_targets(texts: Sequence[str], specs) -> LabeledTexts:
    """Drop rows without text or with any empty target, then build each target.

    `specs` is a list of (column, values as strings, task, class order or None); the first is
    the main target and the rest become `others` (multi-task).
    """
    values = [[str(value).strip() for value in column_values] for _, column_values, _, _ in specs]
    filled = [i for i, text in enumerate(texts) if text and all(column[i] for column in values)]
    if not filled:
        names = ", ".join(f"'{column}'" for column, *_ in specs)
        raise DataError(f"No row has both a text and a label (column {names}).")
    keep = [filled[i] for i in first_occurrences([texts[j] for j in filled])]  # a repeated text: first row only
    kept_texts = tuple(texts[i] for i in keep)
    targets = []
    for (column, _, task, class_order), column_values in zip(specs, values):
        kept = [column_values[i] for i in keep]
        if task == "auto":
            task = "regression" if _looks_numeric_target(kept) else "classification"
        build = _numeric_target if task == "regression" else _class_target
        targets.append(build(kept_texts, kept, column, class_order))
    first = targets[0]
    return LabeledTexts(first.texts, first.labels, first.label_names, dropped=len(texts) - len(filled),
                        task=first.task, target=first.target, others=tuple(targets[1:]),
                        duplicates=len(filled) - len(keep), notes=tuple(n for t in targets for n in t.notes))


def _class_target(texts: tuple[str, ...], labels: list[str], column: str,
                  class_order: Sequence[str] | None) -> LabeledTexts:
    notes = ()
    if not class_order:
        labels, notes = _merge_case_variants(_canonical_labels(labels), column)
    counts = Counter(labels)
    _check_classes(counts, column)
    names = tuple(name for name in class_order if name in counts) if class_order else _sorted_names(counts)
    index = {name: i for i, name in enumerate(names)}
    return LabeledTexts(texts, tuple(index[label] for label in labels), names, target=column, notes=notes)


def _merge_case_variants(labels: list[str], column: str) -> tuple[list[str], tuple[str, ...]]:
    """Labels that differ only in case ('Positive', 'positive') become the most common spelling;
    returns the labels and a sentence per merge (surrounding spaces were stripped already)."""
    spellings: dict[str, Counter] = {}
    for label in labels:
        spellings.setdefault(label.casefold(), Counter())[label] += 1
    canonical, notes = {}, []
    for variants in spellings.values():
        main = max(sorted(variants), key=variants.get)
        canonical.update({variant: main for variant in variants})
        if len(variants) > 1:
            notes.append(f"In '{column}', labels {quoted(sorted(variants))} differ only in case and were merged "
                         f"into '{main}'.")
    return [canonical[label] for label in labels], tuple(notes)


def _numeric_target(texts: tuple[str, ...], labels: list[str], column: str, _order=None) -> LabeledTexts:
    numbers = []
    for row, label in enumerate(labels, start=1):
        number = _as_number(label)
        if number is None:
            raise DataError(f"Regression needs numbers in '{column}', but row {row:,} (of the rows with text) "
                            f"holds {label[:40]!r}; fix it, or treat '{column}' as classes.")
        numbers.append(number)
    if len(set(numbers)) < 2:
        raise DataError(f"The target '{column}' has a single value ({numbers[0]:g}); there is nothing to predict.")
    return LabeledTexts(texts, tuple(numbers), (), task="regression", target=column)


def _as_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _looks_numeric_target(labels: list[str]) -> bool:
    """Numbers with fractions, or more than 20 distinct numbers: a quantity, not a set of classes."""
    numbers = [_as_number(label) for label in labels]
    if any(number is None for number in numbers):
        return False
    distinct = set(numbers)
    return len(distinct) > 20 or any(not float(number).is_integer() for number in distinct)


def _canonical_labels(labels: list[str]) -> list[str]:
    """Integer labels written differently ("01", "+1") become one spelling ("1")."""
    if all(_INTEGER.fullmatch(label) for label in labels):
        return [str(int(label)) for label in labels]
    return labels


def _sorted_names(counts: Counter) -> tuple[str, ...]:
    """Class names in a stable order: numeric when all are integers, else alphabetical."""
    if all(_INTEGER.fullmatch(name) for name in counts):
        return tuple(sorted(counts, key=int))
    return tuple(sorted(counts))


def _check_classes(counts: Counter, label_column: str) -> None:
    """At least two classes, each with at least two examples (one per side of a split)."""
    if len(counts) < 2:
        raise DataError(f"The label column '{label_column}' has only one class "
                        f"({quoted(counts)}); a classifier needs at least two.")
    single = sorted(name for name, count in counts.items() if count == 1)
    if single:
        subject = f"Class {quoted(single)} has" if len(single) == 1 else \
            f"Classes {quoted(single)} have"
        raise DataError(f"{subject} only one example; stratified splitting needs at least 2 "
                        "per class, so add examples or remove it.")
