"""core.charts (Plotly figures), core.progress (live job progress) and core.saved_runs: pure, no Streamlit."""

from __future__ import annotations

import re

import pytest

from core import events as ev
from core.charts import (PALETTE, held_out_scores_figure, class_balance_figure, confidence_figure, confusion_figure,
                         learning_curves_figure, loss_figure, strategy_color, sweep_chart, time_figure,
                         token_length_figure, truncated_percent, val_score_figure)
from core.jobs import JobEvent
from core.progress import fold_progress, format_seconds
from core.results import RunResult
from core.saved_runs import find_saved_runs, unique_names
from core.store import save_run


def result(strategy="full", accuracy=0.8, **extra) -> RunResult:
    values = dict(test_accuracy=accuracy, macro_f1=accuracy - 0.01, labels=["negative", "positive"],
                  confusion_matrix=[[40, 10], [12, 38]], train_seconds=65.0, predict_seconds=1.5,
                  history=[{"epoch": 1, "train_accuracy": 0.7, "val_accuracy": 0.68},
                           {"epoch": 2, "train_accuracy": 0.9, "val_accuracy": 0.75}])
    return RunResult(strategy=strategy, **{**values, **extra})


def test_held_out_scores_figure_writes_each_score_on_its_bar():
    fig = held_out_scores_figure({"full": result("full", 0.812), "tfidf": result("tfidf", 0.689)})
    accuracy, macro_f1 = fig.data
    assert list(accuracy.x) == ["full", "tfidf"]
    assert list(accuracy.text) == ["0.812", "0.689"]
    assert list(macro_f1.y) == pytest.approx([0.802, 0.679])
    assert fig.layout.yaxis.range == (0, 1.05)


def test_time_figure_shows_training_and_prediction_seconds():
    fig = time_figure({"full": result(train_seconds=65.0, predict_seconds=1.5)})
    assert [trace.name for trace in fig.data] == ["training", "predicting the test set"]
    assert list(fig.data[0].text) == ["65.0 s"]
    assert fig.layout.xaxis.title.text == "seconds"


def test_learning_curves_draw_validation_solid_and_training_dashed_in_one_colour():
    fig = learning_curves_figure({"frozen": result("frozen")})
    validation, training = fig.data
    assert list(validation.y) == [0.68, 0.75] and list(training.y) == [0.7, 0.9]
    assert training.line.dash == "dash" and validation.line.dash is None
    assert validation.line.color == training.line.color == strategy_color("frozen")


def test_confusion_figure_labels_axes_with_class_names_and_writes_counts():
    fig = confusion_figure(result(), title="full #2")
    heatmap = fig.data[0]
    assert list(heatmap.x) == ["negative", "positive"]
    assert heatmap.text[1][0] == "12"
    assert fig.layout.title.text == "full #2"
    assert fig.layout.yaxis.title.text == "true class"


def test_token_length_histogram_marks_max_length_and_states_share_cut():
    lengths = [10, 20, 30, 200]
    assert truncated_percent(lengths, 128) == 25.0
    assert truncated_percent([], 128) == 0.0
    fig = token_length_figure(lengths, 128)
    line = fig.layout.shapes[0]
    assert line.x0 == line.x1 == 128
    assert "25.0% cut" in fig.layout.annotations[0].text


def test_class_balance_has_one_bar_group_per_class():
    fig = class_balance_figure({"train": {"negative": 5, "positive": 7}, "test": {"negative": 2, "positive": 2}})
    assert [trace.name for trace in fig.data] == ["negative", "positive"]
    assert list(fig.data[1].y) == [7, 2]


def test_confidence_figure_has_a_bar_per_model_coloured_by_label():
    rows = [{"model": "full", "label": "positive", "confidence": 0.9},
            {"model": "tfidf", "label": "negative", "confidence": 0.6}]
    fig = confidence_figure(rows)
    assert {trace.name for trace in fig.data} == {"negative", "positive"}
    assert list(fig.layout.yaxis.categoryarray) == ["tfidf", "full"]  # first row on top


def test_every_registered_strategy_has_its_own_colour_and_unknown_ids_get_a_palette_colour():
    from core.strategies import STRATEGIES

    colors = [strategy_color(s) for s in STRATEGIES]
    assert len(set(colors)) == len(STRATEGIES) == 10
    assert all(re.fullmatch(r"#[0-9A-F]{6}", color) for color in colors)
    assert strategy_color("a_strategy_from_another_version") in PALETTE



def sweep_row(strategy, value, mean, std, runs=3):
    return {"strategy": strategy, "value": value, "mean_accuracy": mean, "std_accuracy": std, "runs": runs}


def test_sweep_chart_draws_a_mean_line_in_a_one_std_band_per_strategy_on_a_log_axis():
    summary = [sweep_row("frozen", 100, 0.70, 0.02), sweep_row("full", 100, 0.60, 0.05),
               sweep_row("frozen", 1000, 0.75, 0.01), sweep_row("full", 1000, 0.85, 0.01, runs=2)]
    fig = sweep_chart(summary)
    assert len(fig.data) == 2 * 3  # upper edge, lower edge filled up to it, mean line
    upper, lower, line = fig.data[:3]
    assert list(line.x) == [100, 1000] and list(line.y) == [0.70, 0.75]
    assert list(upper.y) == pytest.approx([0.72, 0.76]) and list(lower.y) == pytest.approx([0.68, 0.74])
    assert lower.fill == "tonexty" and lower.fillcolor.startswith("rgba(") and upper.fill is None
    assert line.line.color == strategy_color("frozen") and line.mode == "lines+markers"
    assert not upper.showlegend and not lower.showlegend and upper.legendgroup == lower.legendgroup == "frozen"
    assert fig.data[5].name == "full" and fig.data[5].customdata[1][2] == 2  # value, std and runs, for the hover
    assert fig.data[5].customdata[1][0] == "1,000 training examples"
    assert "runs" in line.hovertemplate
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.ticktext) == ["100", "1,000"]
    assert fig.layout.yaxis.range == pytest.approx((0.50, 0.91))  # lowest band edge - 5 points, highest + 5


def test_sweep_chart_over_another_setting_and_with_published_results():
    from core.references import references_for
    from core.vary import parse_vary

    summary = [sweep_row("full", 0.1, 0.70, 0.02), sweep_row("full", 0.3, 0.60, 0.05)]
    fig = sweep_chart(summary, parse_vary("dropout=0.1,0.3"))
    assert fig.layout.xaxis.type == "linear" and list(fig.layout.xaxis.ticktext) == ["0.1", "0.3"]
    assert fig.layout.xaxis.title.text == "dropout"
    sizes = [sweep_row("full", 100, 0.70, 0.02), sweep_row("full", 1000, 0.80, 0.01)]
    marked = sweep_chart(sizes, references=references_for("rotten_tomatoes"))
    stars = [trace for trace in marked.data if trace.name == "published results"]
    assert len(stars) == 1 and list(stars[0].x) == [9_596, 9_596] and max(stars[0].y) == 0.815
    assert list(marked.layout.xaxis.ticktext) == ["100", "1,000", "9,596"] and marked.layout.yaxis.range[1] >= 0.815
    assert not [t for t in sweep_chart(summary, parse_vary("dropout=0.1,0.3"), references_for("imdb")).data
                if t.name == "published results"]  # published results are sizes: only on the size sweep


def test_sweep_chart_keeps_a_readable_accuracy_range_for_its_first_points():
    fig = sweep_chart([sweep_row("tfidf", 50, 0.52, 0.0, runs=1), sweep_row("frozen", 50, 0.54, 0.0, runs=1)])
    low, high = fig.layout.yaxis.range
    assert high - low >= 0.1


def job_events(*pairs):
    return [JobEvent(index, event, float(i)) for i, (index, event) in enumerate(pairs)]


def test_fold_progress_tracks_steps_eta_and_curves():
    events = job_events((0, ev.RunStarted("full", 2, 10)), (0, ev.EpochStarted("full", 1)),
                        (0, ev.StepLogged("full", 1, 4, 10, 0.6, 2e-5, 8.0)),
                        (0, ev.EpochEvaluated("full", 1, 0.6, 0.7, 0.65, 0.68, 9.0)))
    full, tfidf = fold_progress(["full", "tfidf"], events, results=[])
    assert (full.status, full.step, full.total_steps, full.fraction) == ("running", 4, 10, 0.4)
    assert full.eta_seconds == pytest.approx(12.0)  # 2 s per step so far, 6 steps left
    assert full.losses == [(4, 0.6)] and full.epoch_metrics[0]["val_score"] == 0.68
    assert tfidf.status == "queued" and tfidf.eta_seconds is None
    assert len(loss_figure([full, tfidf]).data) == 1
    assert list(val_score_figure([full, tfidf]).data[0].y) == [0.68]


def test_fold_progress_takes_final_status_from_results_and_the_job():
    events = job_events((0, ev.RunFailed("full", "Model 'x' not found.")), (1, ev.RunStarted("tfidf", 1, 0)))
    results = [RunResult("full", status="failed", reason="Model 'x' not found.")]
    full, tfidf, scratch = fold_progress(["full", "tfidf", "scratch"], events, results, job_status="cancelled")
    assert (full.status, full.reason) == ("failed", "Model 'x' not found.")
    assert tfidf.status == scratch.status == "cancelled"


@pytest.mark.parametrize("seconds, text", [(None, "?"), (0.43, "0.4 s"), (42, "42 s"), (185, "3 min 05 s"),
                                           (3720, "1 h 02 min")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_find_saved_runs_reads_session_folders_and_skips_unfinished(tmp_path):
    save_run(tmp_path / "sessionA" / "20250101-000001-full-aaaaaa", result("full"), data_info={"description": "RT"})
    save_run(tmp_path / "20250102-000001-tfidf-bbbbbb", result("tfidf", 0.7))  # saved by the CLI, no session
    save_run(tmp_path / "sessionB" / "20250103-000001-scratch-cccccc", RunResult("scratch", status="failed"))
    (tmp_path / "sessionB" / "not-a-run").mkdir()
    runs = find_saved_runs(tmp_path)
    assert [run.result.strategy for run in runs] == ["tfidf", "full"]  # newest first
    assert runs[1].label == "full · accuracy 0.800 · RT · 2025-01-01 00:00 UTC"
    assert find_saved_runs(tmp_path / "missing") == []


def test_unique_names_numbers_repeats_only():
    assert unique_names(["full", "tfidf", "full"]) == ["full #1", "tfidf", "full #2"]


def test_class_names_with_markup_are_plain_text_in_charts():
    run = RunResult(strategy="full", labels=["<b>yes</b>", "no"], confusion_matrix=[[3, 1], [0, 4]])
    assert list(confusion_figure(run).data[0].x) == ["&lt;b&gt;yes&lt;/b&gt;", "no"]
    balance = class_balance_figure({"train": {"<a href='x'>pos</a>": 3, "neg": 2}})
    assert balance.data[0].name == "&lt;a href='x'&gt;pos&lt;/a&gt;"


def test_disagreements_list_texts_exactly_one_run_gets_right():
    import pandas as pd

    from core.mistakes import disagreements

    first = pd.DataFrame({"text": ["a", "b", "c"], "true": ["pos", "neg", "pos"], "predicted": ["pos", "pos", "neg"],
                          "correct": [True, False, False]})
    second = pd.DataFrame({"text": ["a", "b", "c"], "true": ["pos", "neg", "pos"],
                           "predicted": ["neg", "neg", "neg"], "correct": [False, True, False]})
    table = disagreements(first, second)
    assert table["text"].tolist() == ["a", "b"] and table["right"].tolist() == ["first", "second"]
    assert table["predicted (first)"].tolist() == ["pos", "pos"]


def test_differing_settings_tell_runs_of_one_strategy_apart():
    from core.results import differing_settings

    configs = {"full #1": {"strategy": "full", "lr_finetune": 5e-5, "epochs": 2, "seed": 0},
               "full #2": {"strategy": "full", "lr_finetune": 1e-4, "epochs": 2, "seed": 0},
               "tfidf": {"strategy": "tfidf", "lr_finetune": 5e-5, "epochs": 2, "seed": 0}}
    assert differing_settings(configs) == {"full #1": "lr_finetune=5e-05", "full #2": "lr_finetune=0.0001",
                                           "tfidf": "lr_finetune=5e-05"}
    assert differing_settings({"a": {"strategy": "full", "seed": 1}, "b": {"strategy": "frozen", "seed": 1}}) == \
        {"a": "", "b": ""}
