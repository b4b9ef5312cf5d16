"""Plotly figures for the dashboard, built from data and results (pure functions, no Streamlit).

Every figure colours a strategy the same way everywhere, so "frozen" is one colour on the live
curves, the bars and the learning curves.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from core.results import RunResult, epoch_score, score_name_of
from core.strategies import STRATEGIES
from core.vary import CLASSIC, Vary

# Tableau-like colours, readable on white and for the common colour-vision deficiencies.
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC")
# Classes: red and blue first, told apart also with a red-green colour-vision deficiency.
LABEL_COLORS = ("#E45756", "#4C78A8", "#F58518", "#54A24B", "#B279A2", "#72B7B2")


def as_text(value) -> str:
    """A label from the user's data (class names, file names) as Plotly shows it: as text, because
    Plotly renders a subset of HTML (<b>, <a href=...>) in names, ticks and bar texts."""
    return html.escape(str(value), quote=False)


def strategy_color(strategy: str) -> str:
    """The colour of a strategy id: the registry's, or a stable palette colour for ids it does not know
    (runs saved by another version)."""
    if strategy in STRATEGIES:
        return STRATEGIES[strategy].color
    return PALETTE[sum(map(ord, strategy)) % len(PALETTE)]


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, height: int = 330) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", height=height, margin=dict(l=10, r=10, t=50, b=10),
                      xaxis_title=x_title, yaxis_title=y_title, legend_title_text="", showlegend=True)
    return fig


# ---------------------------------------------------------------- data


def class_balance_figure(counts_by_split: dict[str, dict[str, int]]) -> go.Figure:
    """Grouped bars: examples per class in each split (train / validation / test)."""
    splits = list(counts_by_split)
    labels = list(next(iter(counts_by_split.values()), {}))
    fig = go.Figure()
    for i, label in enumerate(labels):
        values = [counts_by_split[split].get(label, 0) for split in splits]
        fig.add_bar(name=as_text(label), x=splits, y=values, text=[f"{v:,}" for v in values],
                    marker_color=LABEL_COLORS[i % len(LABEL_COLORS)])
    fig.update_layout(barmode="group")
    return _layout(fig, "Examples per class", "", "examples")


def truncated_percent(lengths: list[int], max_length: int) -> float:
    """Share of texts, in percent, longer than `max_length` tokens (they get cut)."""
    return 100.0 * sum(length > max_length for length in lengths) / len(lengths) if lengths else 0.0


def token_length_figure(lengths: list[int], max_length: int) -> go.Figure:
    """Histogram of text lengths in tokens, with the max length marked as a dashed line."""
    fig = go.Figure(go.Histogram(x=lengths, nbinsx=40, marker_color=PALETTE[0], name="texts"))
    cut = truncated_percent(lengths, max_length)
    fig.add_vline(x=max_length, line_dash="dash", line_color=PALETTE[3],
                  annotation_text=f"max length {max_length}: {cut:.1f}% cut", annotation_position="top right")
    return _layout(fig, "Text length in tokens (training split)", "tokens per text", "texts")


# ---------------------------------------------------------------- live training


def loss_figure(progress) -> go.Figure:
    """Training loss per optimizer step, one line per run (a list of core.progress.RunProgress)."""
    fig = go.Figure()
    for run in progress:
        if run.losses:
            steps, losses = zip(*run.losses)
            fig.add_scatter(x=steps, y=losses, mode="lines", name=run.strategy,
                            line=dict(color=strategy_color(run.strategy), width=1.5))
    return _layout(fig, "Training loss per step", "optimizer step", "loss (cross-entropy; MSE for numbers)")


def val_score_figure(progress) -> go.Figure:
    """Validation score (accuracy, or R² for numbers) after each epoch, one line per run."""
    fig = go.Figure()
    entries = [m for run in progress for m in run.epoch_metrics]
    for run in progress:
        if run.epoch_metrics:
            fig.add_scatter(x=[m["epoch"] for m in run.epoch_metrics],
                            y=[epoch_score(m, "val") for m in run.epoch_metrics],
                            mode="lines+markers", name=run.strategy, line=dict(color=strategy_color(run.strategy)))
    fig.update_xaxes(dtick=1)
    name = score_name_of(entries)
    if name == "accuracy":
        fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    return _layout(fig, f"Validation {name} per epoch", "epoch", f"validation {name}")


# ---------------------------------------------------------------- results


def held_out_scores_figure(runs: dict[str, RunResult]) -> go.Figure:
    """Each run's held-out score (accuracy, R², or their mean over targets), plus macro-F1 when every
    run is single-label classification; grouped bars with their values written on."""
    names = list(runs)
    fig = go.Figure()
    metrics = (("score", "test " + next(iter(runs.values())).score_name, PALETTE[0]),)
    if all(run.task == "classification" and len(run.targets) <= 1 for run in runs.values()):
        metrics += (("macro_f1", "macro-F1", "#9ECAE9"),)
    for metric, title, color in metrics:
        values = [getattr(runs[name], metric) or 0.0 for name in names]
        fig.add_bar(name=title, x=names, y=values, text=[f"{v:.3f}" for v in values], marker_color=color)
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.05])
    return _layout(fig, "Held-out test scores", "", "score")


def time_figure(runs: dict[str, RunResult]) -> go.Figure:
    """Training and test-set prediction time per run, in seconds (horizontal bars)."""
    names = list(runs)
    fig = go.Figure()
    for field, title, color in (("train_seconds", "training", PALETTE[1]),
                                ("predict_seconds", "predicting the test set", PALETTE[0])):
        values = [getattr(runs[name], field) for name in names]
        fig.add_bar(name=title, y=names, x=values, orientation="h", marker_color=color,
                    text=[f"{v:.1f} s" for v in values])
    fig.update_layout(barmode="group")
    return _layout(fig, "Time on this machine", "seconds", "")


def learning_curves_figure(runs: dict[str, RunResult]) -> go.Figure:
    """Score per epoch: validation solid, training dashed, one colour per run."""
    fig = go.Figure()
    for name, result in runs.items():
        epochs = [h["epoch"] for h in result.history]
        color = strategy_color(result.strategy)
        fig.add_scatter(x=epochs, y=[epoch_score(h, "val") for h in result.history], mode="lines+markers",
                        name=f"{name} (validation)", line=dict(color=color))
        fig.add_scatter(x=epochs, y=[epoch_score(h, "train") for h in result.history], mode="lines",
                        name=f"{name} (training)", line=dict(color=color, dash="dash"), opacity=0.6)
    fig.update_xaxes(dtick=1)
    score = score_name_of([h for result in runs.values() for h in result.history])
    if score == "accuracy":
        fig.update_yaxes(tickformat=".0%")
    return _layout(fig, f"Learning curves: validation (solid) and training (dashed) {score}", "epoch", score)


def confusion_figure(result: RunResult, title: str | None = None) -> go.Figure:
    """Heatmap of the test-set confusion matrix (rows: true class, columns: predicted class)."""
    labels = [as_text(label) for label in result.labels]
    matrix = result.confusion_matrix
    fig = go.Figure(go.Heatmap(z=matrix, x=labels, y=labels, colorscale="Blues", showscale=False,
                               text=[[f"{v:,}" for v in row] for row in matrix], texttemplate="%{text}",
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title or result.strategy, "predicted class", "true class", height=300)


def value_figure(rows: list[dict]) -> go.Figure:
    """Each model's predicted number for one text (regression): rows of model / value."""
    fig = go.Figure(go.Bar(y=[row["model"] for row in rows], x=[row["value"] for row in rows], orientation="h",
                           marker_color=PALETTE[0], text=[f"{row['value']:.3g}" for row in rows]))
    fig.update_yaxes(categoryorder="array", categoryarray=[row["model"] for row in rows][::-1])
    return _layout(fig, "Predicted value per model", "predicted value", "", height=max(200, 60 + 45 * len(rows)))


def target_histogram_figure(values_by_split: dict[str, list[float]], name: str) -> go.Figure:
    """Overlaid histograms of a numeric target in each split (what class balance is for classes)."""
    fig = go.Figure()
    for i, (split, values) in enumerate(values_by_split.items()):
        fig.add_histogram(x=values, name=split, opacity=0.6, marker_color=PALETTE[i % len(PALETTE)],
                          histnorm="percent")
    fig.update_layout(barmode="overlay")
    return _layout(fig, f"Distribution of '{as_text(name)}' per split", as_text(name), "% of split")


def confidence_figure(rows: list[dict]) -> go.Figure:
    """Each model's predicted label and confidence for one text: rows of model / label / confidence."""
    labels = sorted({row["label"] for row in rows})
    fig = go.Figure()
    for i, label in enumerate(labels):
        chosen = [row for row in rows if row["label"] == label]
        fig.add_bar(name=as_text(label), y=[row["model"] for row in chosen], x=[row["confidence"] for row in chosen],
                    orientation="h", marker_color=LABEL_COLORS[i % len(LABEL_COLORS)],
                    text=[f"{as_text(label)} {row['confidence']:.0%}" for row in chosen], textposition="inside")
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(categoryorder="array", categoryarray=[row["model"] for row in rows][::-1])
    return _layout(fig, "Predicted label and confidence per model", "confidence", "",
                   height=max(200, 60 + 45 * len(rows)))


# ---------------------------------------------------------------- data-size sweep


def _transparent(hex_color: str, alpha: float) -> str:
    """'#4C78A8' -> 'rgba(76, 120, 168, 0.2)' (Plotly fills need an rgba colour to be see-through)."""
    red, green, blue = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def sweep_chart(summary: list[dict], vary: Vary = CLASSIC, references=()) -> go.Figure:
    """Mean test accuracy vs the varied setting (log axis for sizes and learning rates), one line per
    strategy in a ±1 std band; published results (core.references) as labelled stars at their size.

    `summary` is `core.sweep.summarize` output. Each band is two traces (upper edge, then lower edge
    filled up to it) grouped with its line, so a click on the legend hides both.
    """
    fig = go.Figure()
    for strategy in dict.fromkeys(row["strategy"] for row in summary):
        rows = sorted((row for row in summary if row["strategy"] == strategy), key=lambda row: row["value"])
        values = [row["value"] for row in rows]
        mean = [row["mean_accuracy"] for row in rows]
        std = [row["std_accuracy"] for row in rows]
        color = strategy_color(strategy)
        band = dict(x=values, mode="lines", line=dict(width=0), legendgroup=strategy, showlegend=False,
                    hoverinfo="skip")
        fig.add_scatter(y=[m + s for m, s in zip(mean, std)], **band)
        fig.add_scatter(y=[m - s for m, s in zip(mean, std)], fill="tonexty",
                        fillcolor=_transparent(color, 0.18), **band)
        fig.add_scatter(x=values, y=mean, mode="lines+markers", name=strategy, legendgroup=strategy,
                        line=dict(color=color), marker=dict(size=8),
                        customdata=[[vary.words(v), s, row["runs"]] for v, s, row in zip(values, std, rows)],
                        hovertemplate=f"<b>{strategy}</b><br>%{{customdata[0]}}<br>accuracy "
                                      "%{y:.3f} ± %{customdata[1]:.3f}<br>%{customdata[2]} runs<extra></extra>")
    references = list(references) if vary.is_size else []
    _add_references(fig, references)
    values = sorted({row["value"] for row in summary} | {reference.n_train for reference in references})
    fig.update_xaxes(type="log" if vary.log_scale else "linear", tickvals=values, ticktext=vary.tick_texts(values))
    # Padded, so the first points of a live sweep do not stretch a 1-point gap over the whole height.
    low = min((row["mean_accuracy"] - row["std_accuracy"] for row in summary), default=0.5)
    high = max([row["mean_accuracy"] + row["std_accuracy"] for row in summary]
               + [reference.accuracy for reference in references], default=0.5)
    fig.update_yaxes(tickformat=".0%", range=[max(0.0, low - 0.05), min(1.02, high + 0.05)])
    return _layout(fig, f"Test accuracy vs {vary.title} (mean over seeds, band: ±1 std)", vary.axis_title,
                   "held-out test accuracy", height=400)


def _add_references(fig: go.Figure, references) -> None:
    """Published results as grey stars, labelled with the method; the source on hover."""
    if not references:
        return
    fig.add_scatter(x=[r.n_train for r in references], y=[r.accuracy for r in references], mode="markers+text",
                    name="published results", marker=dict(symbol="star", size=13, color="#6F6F6F"),
                    text=[r.method.split(" (")[0] for r in references], textposition="middle left",
                    textfont=dict(size=10, color="#6F6F6F"), customdata=[[r.method, r.source] for r in references],
                    hovertemplate="%{customdata[0]}: %{y:.1%} with %{x:,} training texts<br>%{customdata[1]}"
                                  "<extra></extra>")
