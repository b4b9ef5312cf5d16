"""Split labelled texts into stratified, seeded train / validation / test sets, and describe the result."""

from __future__ import annotations

import dataclasses

import numpy as np

from core.errors import DataError
from core.texts import LabeledTexts, Splits


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


def stratified_subset(data: LabeledTexts, size: int, seed: int) -> LabeledTexts:
    """`size` examples drawn per class in the data's proportions (at least 1 per class), seeded."""
    labels = np.asarray(data.labels)
    classes = np.unique(labels)
    if size < len(classes) or size > len(labels):
        raise DataError(f"A training size of {size} is impossible with {len(labels)} examples "
                        f"in {len(classes)} classes.")
    rng = np.random.default_rng(seed)
    shares = np.array([np.sum(labels == c) for c in classes]) / len(labels)
    counts = np.maximum(1, np.floor(shares * size).astype(int))
    counts[np.argmax(shares)] += size - counts.sum()
    picked = [rng.choice(np.flatnonzero(labels == c), n, replace=False) for c, n in zip(classes, counts)]
    return data.subset(rng.permutation(np.concatenate(picked)).tolist())


def sizes_text(splits: Splits) -> str:
    """'1,000 train / 200 validation / 1,000 test': the sizes of the three splits in words."""
    return f"{len(splits.train):,} train / {len(splits.val):,} validation / {len(splits.test):,} test"


def describe_splits(source: str, name: str, data: LabeledTexts, splits: Splits) -> dict:
    """The JSON-ready record of a data choice that every run saves, with a one-line `description`.

    Keys: data, n_train, n_val, n_test, labels, dropped, duplicates, task, targets, description. `data` is
    `source`, what loads the data again ("rotten_tomatoes", a file name or path); `name` is what a
    person calls it, and starts the description ("Rotten Tomatoes · 1,000 train / ...").
    """
    targets = data.describe_targets()
    description = f"{name} · {sizes_text(splits)}" + (f" · {targets}" if data.is_regression or data.others else "")
    return {"data": source, "n_train": len(splits.train), "n_val": len(splits.val), "n_test": len(splits.test),
            "labels": list(splits.label_names), "dropped": data.dropped,
            "duplicates": data.duplicates, "task": data.task, "targets": targets,
            "description": description}


def with_unlabelled(splits: Splits, texts) -> tuple[Splits, int]:
    """`splits` with unlabelled texts for continued pre-training, minus empty ones and any that are
    validation or test texts (reading those would leak them into training); returns the count left out."""
    held_out = set(splits.val.texts) | set(splits.test.texts)
    kept = tuple(dict.fromkeys(text for text in texts if text and text not in held_out))
    return dataclasses.replace(splits, unlabelled=kept), len(list(texts)) - len(kept)
