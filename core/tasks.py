"""Targets a model predicts: classes, a number, or several of these at once (multi-task).

The classifier has one linear output layer whose outputs are cut into one slice per target: a
softmax over the classes, or one standardised number. The slices share no weights, so this is
one head per target on a shared encoder. Loss, score and metrics here work slice by slice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.evaluate import classification_metrics, regression_metrics
from core.texts import LabeledTexts

SCORE_NAMES = {"classification": "accuracy", "regression": "R²"}


@dataclass(frozen=True)
class Target:
    """One thing to predict. Regression targets are trained standardised (mean 0, std 1)."""

    name: str
    kind: str = "classification"
    label_names: tuple[str, ...] = ()
    mean: float = 0.0
    std: float = 1.0
    class_weights: tuple[float, ...] = ()  # per class loss weight (empty: all 1), see `targets_of`

    @property
    def width(self) -> int:
        """Outputs this target takes in the head."""
        return len(self.label_names) if self.kind == "classification" else 1

    def to_dict(self) -> dict:
        out = asdict(self)
        out["label_names"], out["class_weights"] = list(self.label_names), list(self.class_weights)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "Target":
        return cls(values["name"], values.get("kind", "classification"), tuple(values.get("label_names", ())),
                   float(values.get("mean", 0.0)), float(values.get("std", 1.0)),
                   tuple(values.get("class_weights", ())))


def targets_of(data: LabeledTexts, class_weighted: bool = False) -> tuple[Target, ...]:
    """The targets of (training) data; regression means and spreads are taken from it. With
    `class_weighted`, each class's loss weight is n / (classes x its count): balanced classes get 1."""
    targets = []
    for column in data.columns:
        if column.is_regression:
            values = np.asarray(column.labels, dtype=np.float64)
            std = float(values.std()) or 1.0
            targets.append(Target(column.target, "regression", (), float(values.mean()), std))
        else:
            counts = np.bincount(np.asarray(column.labels, dtype=int), minlength=len(column.label_names))
            weights = tuple(float(len(column) / (len(counts) * max(c, 1))) for c in counts) if class_weighted else ()
            targets.append(Target(column.target, "classification", column.label_names, class_weights=weights))
    return tuple(targets)


def classification_targets(label_names) -> tuple[Target, ...]:
    """The single-label case, e.g. for a model saved before targets were recorded."""
    return (Target("label", "classification", tuple(label_names)),)


def total_width(targets) -> int:
    return sum(target.width for target in targets)


def slices(targets):
    """(target, slice of the output columns) pairs, in order."""
    start = 0
    for target in targets:
        yield target, slice(start, start + target.width)
        start += target.width


def score_name(targets) -> str:
    """What `score` measures: accuracy, R², or the mean of several."""
    names = {SCORE_NAMES[target.kind] for target in targets}
    if len(targets) == 1:
        return SCORE_NAMES[targets[0].kind]
    return f"mean {' / '.join(sorted(names))} of {len(targets)} targets"


def target_matrix(data: LabeledTexts) -> torch.Tensor:
    """(n_texts, n_targets) float tensor: class indices or raw numbers, one column per target."""
    return torch.tensor(np.column_stack([np.asarray(c.labels, dtype=np.float32) for c in data.columns]))


def loss(outputs: torch.Tensor, y: torch.Tensor, targets, reduction: str = "mean") -> torch.Tensor:
    """Sum over targets of cross-entropy (classes) or mean squared error on standardised values."""
    total = outputs.new_zeros(())
    for j, (target, cut) in enumerate(slices(targets)):
        if target.kind == "classification":
            weight = outputs.new_tensor(target.class_weights) if target.class_weights else None
            total = total + F.cross_entropy(outputs[:, cut], y[:, j].long(), weight=weight, reduction=reduction)
        else:
            scaled = (y[:, j] - target.mean) / target.std
            total = total + F.mse_loss(outputs[:, cut].squeeze(-1), scaled, reduction=reduction)
    return total


def decode(outputs: np.ndarray, targets) -> np.ndarray:
    """Raw head outputs -> class probabilities per classification slice, numbers in the target's units."""
    out = np.asarray(outputs, dtype=np.float64).copy()
    for target, cut in slices(targets):
        if target.kind == "classification":
            block = out[:, cut] - out[:, cut].max(axis=1, keepdims=True)
            exp = np.exp(block)
            out[:, cut] = exp / exp.sum(axis=1, keepdims=True)
        else:
            out[:, cut] = out[:, cut] * target.std + target.mean
    return out


def metrics(decoded: np.ndarray, y: np.ndarray, targets) -> list[dict]:
    """Per target: classification metrics of the argmax, or regression metrics of the number."""
    out = []
    for j, (target, cut) in enumerate(slices(targets)):
        if target.kind == "classification":
            values = classification_metrics(y[:, j].astype(int), decoded[:, cut].argmax(axis=1), target.label_names)
        else:
            values = regression_metrics(y[:, j], decoded[:, cut][:, 0])
        out.append({"name": target.name, "kind": target.kind, **values})
    return out


def summary_score(per_target: list[dict]) -> float:
    """One number, higher is better: accuracy or R², averaged over targets."""
    return float(np.mean([m["accuracy"] if m["kind"] == "classification" else m["r2"] for m in per_target]))


def score(decoded: np.ndarray, y: np.ndarray, targets) -> float:
    """`summary_score` of the predictions (early stopping uses it on validation)."""
    return summary_score(metrics(decoded, y, targets))


def decoded_loss(decoded: np.ndarray, y: np.ndarray, targets) -> float:
    """`loss` computed from decoded outputs (probabilities / numbers), for models without logits."""
    total = 0.0
    for j, (target, cut) in enumerate(slices(targets)):
        if target.kind == "classification":
            chosen = decoded[np.arange(len(y)), cut.start + y[:, j].astype(int)]
            total += float(-np.log(np.clip(chosen, 1e-12, 1.0)).mean())
        else:
            total += float((((decoded[:, cut.start] - y[:, j]) / target.std) ** 2).mean())
    return total
