"""Held-out metrics: accuracy, per-class precision / recall / F1, macro-F1, confusion matrix;
MAE, RMSE and R² for numeric targets."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def classification_metrics(y_true, y_pred, label_names) -> dict:
    """Metrics of predicted class indices against true ones, for every class in `label_names`."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    classes = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    per_class = [
        {"label": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(label_names, precision, recall, f1, support)
    ]
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(np.mean(f1)),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def regression_metrics(y_true, y_pred) -> dict:
    """Mean absolute error, root mean squared error and R² of predicted numbers."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if not len(y_true):
        return {"mae": 0.0, "rmse": 0.0, "r2": 0.0}
    errors = y_pred - y_true
    spread = float(((y_true - y_true.mean()) ** 2).sum())
    r2 = 1.0 - float((errors ** 2).sum()) / spread if spread > 0 else 0.0
    return {"mae": float(np.abs(errors).mean()), "rmse": float(np.sqrt((errors ** 2).mean())), "r2": r2}
