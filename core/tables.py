"""Read a table file (CSV, TSV, JSON Lines, JSON, Parquet) into a frame of strings, and tidy cell texts."""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from core.errors import DataError

FORMATS = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet")

_LINE_BREAK_TAG = re.compile(r"<\s*/?\s*(?:br|hr|p)\b[^>]*>", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


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
        raise DataError(f"The file '{name}' has more than one column named {quoted(repeated)}; "
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
    return frame.apply(lambda column: column.map(cell_text)).astype(str)


def cell_text(value) -> str:
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


def clean_text(text: str) -> str:
    """Turn HTML line breaks (`<br />`, `<p>`, ...) and entities into plain text on one line."""
    if "&" in text:
        text = html.unescape(text)
    return _WHITESPACE.sub(" ", _LINE_BREAK_TAG.sub(" ", text)).strip()


def quoted(names: Iterable[str], limit: int = 5) -> str:
    """'a', 'b', 'c' and 4 more: a short list of names for a message."""
    names = list(names)
    shown = ", ".join(f"'{name}'" for name in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")


# A spreadsheet runs a cell starting with one of these as a formula. An apostrophe first makes it
# text; cells that already start with one get another, so `from_spreadsheet` undoes it exactly.
_QUOTED_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def spreadsheet_safe(value):
    """A cell a spreadsheet will show as text: strings that Excel or LibreOffice would run as a formula
    (starting with =, +, -, @, tab or carriage return) get a leading apostrophe; other values pass."""
    if isinstance(value, str) and value.startswith(_QUOTED_STARTS):
        return "'" + value
    return value


def from_spreadsheet(value):
    """The original of a `spreadsheet_safe` cell (for reading our own CSV files back)."""
    return value[1:] if isinstance(value, str) and value.startswith("'") else value


def safe_csv(frame: pd.DataFrame) -> str:
    """`frame` as CSV text with every string cell (and column name) made `spreadsheet_safe`."""
    safe = frame.map(spreadsheet_safe)
    safe.columns = [spreadsheet_safe(str(column)) for column in frame.columns]
    return safe.to_csv(index=False)
