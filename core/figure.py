"""The static comparison figure (PNG, 300 DPI): held-out score bars, learning curves, training time,
confusion matrix of the best run. Used by the CLI and by the dashboard's download button."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from core.results import RunResult, epoch_score  # noqa: E402
from core.vary import CLASSIC, Vary  # noqa: E402


def _score_bars(ax, runs: list[RunResult]) -> None:
    names = [r.strategy for r in runs]
    bars = ax.bar(names, [r.score for r in runs], color="#4C78A8")
    ax.bar_label(bars, fmt="%.3f")
    ax.set_ylim(min(0, *(r.score for r in runs)), 1.05)
    ax.set_title(f"Test {runs[0].score_name} (held-out)")
    if len(runs) > 4:  # long strategy ids collide side by side
        ax.tick_params(axis="x", labelrotation=30)


def _learning_curves(ax, runs: list[RunResult]) -> None:
    for run in runs:
        epochs = [h["epoch"] for h in run.history]
        line, = ax.plot(epochs, [epoch_score(h, "train") for h in run.history], "--", alpha=0.6)
        ax.plot(epochs, [epoch_score(h, "val") for h in run.history], "-o", color=line.get_color(), label=run.strategy)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(runs[0].score_name)
    ax.set_title(f"Train (dashed) and validation (solid) {runs[0].score_name}")
    ax.legend(fontsize=8)


def _time_bars(ax, runs: list[RunResult]) -> None:
    bars = ax.barh([r.strategy for r in runs], [r.train_seconds for r in runs], color="#F58518")
    ax.bar_label(bars, fmt="%.1f s")
    ax.margins(x=0.15)  # room for the longest bar's label
    ax.set_xlabel("seconds")
    ax.set_title("Training time")


def _confusion(ax, run: RunResult) -> None:
    if not run.confusion_matrix:  # a numeric target: no classes to confuse, so list its errors
        lines = [f"{m['name']}: MAE {m['mae']:.3g}, RMSE {m['rmse']:.3g}, R² {m['r2']:.3f}"
                 if m["kind"] == "regression" else f"{m['name']}: accuracy {m['accuracy']:.3f}" for m in run.targets]
        ax.text(0.02, 0.9, "\n".join(lines), va="top", fontsize=11, transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(f"Held-out errors: {run.strategy} (best)")
        return
    matrix = np.asarray(run.confusion_matrix)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(run.labels)), run.labels)
    ax.set_yticks(range(len(run.labels)), run.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"Confusion matrix: {run.strategy} (best)")


def comparison_figure(results: list[RunResult]):
    """A 2x2 matplotlib figure of the finished runs."""
    runs = [r for r in results if r.ok]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    if not runs:
        fig.text(0.5, 0.5, "No finished runs to compare.", ha="center")
        return fig
    _score_bars(axes[0, 0], runs)
    _learning_curves(axes[0, 1], runs)
    _time_bars(axes[1, 0], runs)
    _confusion(axes[1, 1], max(runs, key=lambda run: run.score))
    fig.tight_layout()
    return fig


def comparison_png(results: list[RunResult], dpi: int = 300) -> bytes:
    """The comparison figure as PNG bytes."""
    fig = comparison_figure(results)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def save_comparison_png(results: list[RunResult], path: Path, dpi: int = 300) -> Path:
    """Write the comparison figure to `path`."""
    Path(path).write_bytes(comparison_png(results, dpi))
    return Path(path)


def sweep_figure(summary: list[dict], vary: Vary = CLASSIC):
    """Mean test accuracy against the varied setting, a +-1 std band per strategy."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for strategy in dict.fromkeys(row["strategy"] for row in summary):
        rows = sorted((r for r in summary if r["strategy"] == strategy), key=lambda r: r["value"])
        values = [r["value"] for r in rows]
        mean = np.array([r["mean_accuracy"] for r in rows])
        std = np.array([r["std_accuracy"] for r in rows])
        line, = ax.plot(values, mean, "-o", label=strategy)
        ax.fill_between(values, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    if vary.log_scale:
        ax.set_xscale("log")
    values = sorted({row["value"] for row in summary})
    ax.set_xticks(values, vary.tick_texts(values))  # the values run, not powers of ten
    ax.minorticks_off()
    ax.set_xlabel(vary.axis_title)
    ax.set_ylabel("held-out test accuracy")
    ax.set_title(f"Accuracy vs {vary.title} (mean, band = +-1 std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def save_sweep_png(summary: list[dict], path: Path, vary: Vary = CLASSIC, dpi: int = 200) -> Path:
    """Write the sweep figure to `path`."""
    fig = sweep_figure(summary, vary)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)
