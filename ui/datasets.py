"""From a data choice to the Dataset training uses: one path for the Data page, a plain first visit
and a lesson link, so the three cannot drift (same defaults, same description, same splits)."""

from __future__ import annotations

import streamlit as st

from core.lesson import DataChoice
from core.sources import BUNDLED, load_source
from core.splits import describe_splits, make_splits, with_unlabelled
from core.texts import LabeledTexts
from ui.state import Dataset, use_dataset

SOURCE_NAMES = {"rotten_tomatoes": "Rotten Tomatoes", "imdb": "IMDb"}
CHOICE_KEY = "data_choice"  # the DataChoice behind the dataset in use; None for an uploaded file
# Kept widget keys of the Data page (see ui.state.kept); the sizes are kept per data (see size_key).
SOURCE_KEY, SYNTHETIC_SIZE_KEY, DIFFICULTY_KEY, NOISE_KEY = ("data_source", "data_synthetic_size",
                                                             "data_difficulty", "data_label_noise")


def synthetic_name(difficulty: str, label_noise: float) -> str:
    return f"Synthetic reviews ({difficulty}, {label_noise:.0%} label noise)"


def load_choice(choice: DataChoice) -> tuple[LabeledTexts, str]:
    """The labelled texts of a bundled or synthetic choice, and what people call them."""
    if choice.source in BUNDLED:
        return load_source(choice.source), SOURCE_NAMES[choice.source]
    data = load_source("synthetic", n_synthetic=choice.synthetic_size, difficulty=choice.difficulty,
                       label_noise=choice.label_noise)
    return data, synthetic_name(choice.difficulty, choice.label_noise)


def size_key(source: str, data: LabeledTexts, name: str) -> str:
    """Which sizes the Data page shows: each bundled set, synthetic size and uploaded file keeps its own."""
    if source in BUNDLED:
        return source
    return f"synthetic_{len(data)}" if source == "synthetic" else f"upload_{name}"


def size_keys(key: str) -> tuple[str, str, str]:
    """The kept widget keys of the training, validation and test sizes for `key` (see size_key)."""
    return f"data_n_train_{key}", f"data_n_val_{key}", f"data_n_test_{key}"


def default_sizes(key: str, n_rows: int) -> tuple[int, int, int]:
    """Training, validation (0 = 20% of training) and test sizes the Data page starts from."""
    if key in BUNDLED:
        return 1000, 0, 1000
    return min(1000, n_rows // 2), 0, min(1000, n_rows // 4)


def build_dataset(source: str, name: str, data: LabeledTexts, n_train: int, n_val: int, n_test: int,
                  unlabelled: tuple[str, ...] = ()) -> Dataset:
    """Split `data` (n_val 0: 20% of training) and describe it; unlabelled texts of the same domain are
    added for continued pre-training. Raises DataError when the sizes do not fit the data."""
    splits = make_splits(data, n_train=n_train, n_val=n_val or None, n_test=n_test)
    if unlabelled:
        splits, _ = with_unlabelled(splits, unlabelled)
    info = describe_splits(source if source != "upload" else name, name, data, splits)
    if splits.unlabelled:
        info["unlabelled"] = len(splits.unlabelled)
    return Dataset(splits, info)


def dataset_of(choice: DataChoice) -> tuple[Dataset, str]:
    """The dataset a bundled or synthetic choice describes (sizes left None take the Data page's
    defaults), and the key its sizes are kept under. Raises DataError (see build_dataset)."""
    data, name = load_choice(choice)
    key = size_key(choice.source, data, name)
    n_train, n_val, n_test = default_sizes(key, len(data))
    n_train = n_train if choice.n_train is None else choice.n_train
    n_test = n_test if choice.n_test is None else choice.n_test
    return build_dataset(choice.source, name, data, n_train, choice.n_val or n_val, n_test), key


def use_data(dataset: Dataset, choice: DataChoice | None) -> None:
    """Train on `dataset`; `choice` (None for an uploaded file) is what a lesson link can say about it."""
    use_dataset(dataset)
    st.session_state[CHOICE_KEY] = choice


def current_choice() -> DataChoice | None:
    """The choice behind the dataset in use, or None (an uploaded file, or data set by other means)."""
    return st.session_state.get(CHOICE_KEY)
