"""Every dashboard page through Streamlit's AppTest: what the user sees, from an empty session to
results. Training is real but tiny (TF-IDF on toy sentences) or patched where it would be slow."""

from __future__ import annotations

import json
import time
import os
import re
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import store, workspace
from core.config import RunConfig
from core.jobs import SweepJob
from core.results import RunResult
from core.texts import Splits
from core.training import TrainOutcome, train
from core.vary import SIZE, Vary
from ui.state import Dataset

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = ("pages/data.py", "pages/train.py", "pages/results.py", "pages/sweep.py", "pages/playground.py",
         "pages/guide.py")
ESTIMATE_SECONDS = 42.0


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Runs go to a temporary folder; the time estimate is a constant instead of timing the CPU."""
    monkeypatch.setattr(store, "DEFAULT_RUNS_ROOT", tmp_path / "runs")
    monkeypatch.setattr("core.training.estimate_queue_seconds",
                        lambda configs, splits: [ESTIMATE_SECONDS] * len(configs))
    monkeypatch.setattr("core.training.estimate_run_seconds", lambda config, splits: ESTIMATE_SECONDS)
    return tmp_path / "runs"


def open_page(page: str | None = None, **state) -> AppTest:
    """Run the app (optionally with session state seeded) and switch to `page`."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def dataset(splits: Splits, description="Toy reviews · 40 train / 16 validation / 16 test") -> Dataset:
    return Dataset(splits, {"data": "toy", "description": description, "n_train": len(splits.train),
                            "n_val": len(splits.val), "n_test": len(splits.test), "labels": list(splits.label_names)})


def sidebar_script():
    from ui.sidebar import render_sidebar

    render_sidebar()


def sidebar_of(at: AppTest) -> list[str]:
    """The sidebar's captions for `at`'s session state.

    AppTest keeps what the frame (app.py) draws before `page.run()` only on the first run, so the
    shared sidebar is checked on its own, with the same session state.
    """
    sidebar = AppTest.from_function(sidebar_script, default_timeout=30)
    for key in ("dataset", "job"):
        if key in at.session_state:
            sidebar.session_state[key] = at.session_state[key]
    sidebar.run()
    return texts_of(sidebar.sidebar.caption)


def shown(markdown: str) -> str:
    """What a markdown element shows for text escaped with ui.safe.plain: backslash escapes and the invisible
    word joiners that stop autolinks removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def texts_of(elements) -> list[str]:
    """The texts elements show (markdown escapes removed)."""
    return [shown(element.value) for element in elements]


def train_from_page(at: AppTest, strategies: list[str], model: str | None = None) -> None:
    """Pick strategies on the Train page, start, wait for the job, and redraw."""
    at.multiselect(key="train_strategies").set_value(strategies)
    if model:
        at.text_input(key="hp_model").set_value(model)
    at.run()
    at.button(key="start_training").click().run()
    at.session_state["job"].join(60)
    at.run()
    assert not at.exception, at.exception


def open_results_tab(at: AppTest, tab: str) -> AppTest:
    """Click a tab of the Results page (its choice is kept like a widget's, see ui.state.kept)."""
    at.session_state["kept_results_tab"] = tab
    return at.run()


def own_folder(runs_root: Path, session: str) -> Path:
    """A session's private runs folder (core.workspace)."""
    return workspace.session_root(runs_root, session)


def fake_run(folder: Path, strategy: str, accuracy: float, train_seconds: float, data="Toy reviews",
             **config) -> Path:
    """A finished run saved on disk without training (the Results and Guide pages only read it)."""
    result = RunResult(strategy=strategy, test_accuracy=accuracy, macro_f1=accuracy - 0.01,
                       config=RunConfig(strategy=strategy, **config).to_dict(),
                       labels=["negative", "positive"],
                       per_class=[{"label": "negative", "precision": 0.8, "recall": 0.9, "f1": 0.85, "support": 50},
                                  {"label": "positive", "precision": 0.9, "recall": 0.7, "f1": 0.79, "support": 50}],
                       confusion_matrix=[[45, 5], [15, 35]], train_seconds=train_seconds, predict_seconds=0.25,
                       history=[{"epoch": 1, "train_loss": 0.6, "train_accuracy": 0.7, "val_loss": 0.65,
                                 "val_accuracy": 0.68, "seconds": 1.0}],
                       trainable_params=770, total_params=22_713_986, n_test=100)
    return store.save_run(folder, result, data_info={"description": data, "n_train": 40})


# ---------------------------------------------------------------- empty session



def patch_slow_train(monkeypatch, target: str) -> threading.Event:
    """Replace `train` at `target` with one that waits for Cancel like a long run; returns its 'started' flag."""
    started = threading.Event()

    def slow_train(config, splits, on_event=None, stop=None):
        started.set()
        stop.wait(30)
        return TrainOutcome(RunResult(config.strategy, status="cancelled", reason="Cancelled by the user."))

    monkeypatch.setattr(target, slow_train)
    return started

def test_home_explains_the_strategies_and_where_to_start():
    at = open_page()
    text = " ".join(texts_of(at.markdown))
    for strategy in ("Full fine-tuning", "Frozen encoder (last layer only)", "From scratch", "TF-IDF"):
        assert strategy in text
    assert any(link.value.startswith("1. Data") for link in at.get("page_link"))
    assert "Rotten Tomatoes · 1,000 train / 200 validation / 1,000 test" in texts_of(at.sidebar.caption)  # ready
    assert "No training started in this session." in texts_of(at.sidebar.caption)


@pytest.mark.parametrize("page, guidance", [
    ("pages/results.py", "No finished runs yet"),
    ("pages/playground.py", "No trained model yet"),
])
def test_pages_opened_with_an_empty_session_say_what_to_do_first(page, guidance):
    at = open_page(page)
    assert any(guidance in info for info in texts_of(at.info))
    assert not at.error
    assert at.get("page_link"), "the guidance links to the page to visit first"


# ---------------------------------------------------------------- data


def test_data_page_defaults_to_rotten_tomatoes_1000_train_1000_test_and_uses_it():
    at = open_page("pages/data.py")
    assert at.radio(key="data_source").value == "rotten_tomatoes"
    assert at.number_input(key="data_n_train_rotten_tomatoes").value == 1000
    assert at.number_input(key="data_n_test_rotten_tomatoes").value == 1000
    assert any("of training texts are longer than 128 tokens" in c for c in texts_of(at.caption))
    assert [button.key for button in at.button] == []  # a first visit has this data in use: nothing to confirm
    expected = "Rotten Tomatoes · 1,000 train / 200 validation / 1,000 test"
    assert texts_of(at.success) == [f"In use for training: {expected}."]
    assert expected in sidebar_of(at)
    assert len(at.session_state["dataset"].splits.train) == 1000
    at.number_input(key="data_n_train_rotten_tomatoes").set_value(500).run()
    at.button(key="use_data").click().run()
    assert texts_of(at.success) == ["In use for training: Rotten Tomatoes · 500 train / 100 validation / 1,000 test."]
    assert len(at.session_state["dataset"].splits.train) == 500


def test_upload_without_a_label_column_shows_the_data_error_in_place():
    at = open_page("pages/data.py")
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_data_file").upload("reviews.csv", b"review\ngreat film\nawful film\n", "text/csv")
    at.run()
    assert texts_of(at.error) == ["The data needs a text column and a label column; it has only: review."]
    assert not at.exception


def test_upload_maps_detected_columns_and_explains_a_bad_label_choice():
    rows = "".join(f"{'great' if i % 2 else 'awful'} film number {i},{'pos' if i % 2 else 'neg'},x\n"
                   for i in range(40))
    at = open_page("pages/data.py")
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_data_file").upload("mine.csv", f"comment,verdict,site\n{rows}".encode(), "text/csv")
    at.run()
    assert at.selectbox(key="data_text_column").value == "comment"
    assert at.selectbox(key="data_label_column").value == "verdict"
    assert not at.error
    at.selectbox(key="data_label_column").set_value("site").run()
    assert "only one class" in shown(at.error[0].value)



def test_markup_in_a_file_name_columns_and_labels_is_shown_as_text():
    rows = "".join(f"{'great' if i % 2 else 'awful'} film number {i},{'<b>yes</b>' if i % 2 else '**no**'}\n"
                   for i in range(40))
    at = open_page("pages/data.py")
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_data_file").upload("[x](javascript:alert(1)).csv",
                                                    f"review,:red[verdict]\n{rows}".encode(), "text/csv")
    at.run()
    sources = " ".join(caption.value for caption in at.caption)
    assert "\\[x\\]\\(javascript\u2060\\:alert\\(1\\)\\)" in sources  # link syntax escaped: no link is made
    assert "\\<b\\>yes\\<\\/b\\>" in sources and "\\*\\*no\\*\\*" in sources
    assert "\u2060\\:red\\[verdict\\]" in sources  # no coloured text directive
    shown_text = " ".join(texts_of(at.caption))
    assert "Label map of ':red[verdict]': '**no**' = 0 (20), '<b>yes</b>' = 1 (20)." in shown_text
    assert not at.exception


def test_unlabelled_texts_uploaded_on_the_data_page_reach_the_dataset():
    at = open_page("pages/data.py")
    at.file_uploader(key="upload_unlabelled").upload("domain.txt", b"text\nsome domain sentence\nanother one\n",
                                                     "text/plain")
    at.run()
    assert "2 unlabelled texts." in texts_of(at.caption)
    at.button(key="use_data").click().run()
    assert at.session_state["dataset"].splits.unlabelled == ("some domain sentence", "another one")
    assert at.session_state["dataset"].info["unlabelled"] == 2

# ---------------------------------------------------------------- train


def test_train_page_shows_defaults_strategies_and_the_time_estimate(tiny_splits):
    at = open_page("pages/train.py", dataset=dataset(tiny_splits))
    assert at.multiselect(key="train_strategies").value == ["full", "frozen", "scratch", "tfidf"]
    assert at.number_input(key="hp_epochs").value == RunConfig().epochs
    assert at.number_input(key="hp_lr_finetune").value == RunConfig().lr_finetune
    assert "Frozen encoder (last layer only)" in at.markdown[0].value  # every strategy explained
    assert any("Estimated time: about 2 min 48 s" in m for m in texts_of(at.markdown))  # 4 runs x 42 s


def test_invalid_hyperparameter_is_explained_and_blocks_the_start(tiny_splits):
    at = open_page("pages/train.py", dataset=dataset(tiny_splits))
    at.number_input(key="hp_lr_finetune").set_value(5.0).run()
    assert "lr_finetune=5.0 must be above 0 and at most 1" in shown(at.error[0].value)
    assert at.button(key="start_training").disabled
    assert not at.exception


def test_a_failed_run_shows_its_reason_while_the_next_one_finishes(tiny_splits):
    at = open_page("pages/train.py", dataset=dataset(tiny_splits))
    train_from_page(at, ["frozen", "tfidf"], model="no-such-model")
    errors = texts_of(at.error)
    assert len(errors) == 1 and "**frozen** failed" in errors[0] and "no-such-model" in errors[0]
    assert any(m.startswith("**tfidf**: finished, test accuracy") for m in texts_of(at.markdown))
    at.switch_page("pages/results.py").run()
    assert "no-such-model" in shown(at.error[0].value)
    assert list(at.dataframe[0].value["Run"]) == ["tfidf"]


def test_running_job_survives_a_page_switch_and_can_be_cancelled(tiny_splits, monkeypatch):
    started = patch_slow_train(monkeypatch, "core.compare.train")
    at = open_page("pages/train.py", dataset=dataset(tiny_splits))
    at.multiselect(key="train_strategies").set_value(["full", "tfidf"]).run()
    at.button(key="start_training").click().run()
    assert started.wait(10)
    at.switch_page("pages/results.py").run()
    assert any("Training is running" in info for info in texts_of(at.info))
    assert any("Run 1 of 2: **full**" in c for c in sidebar_of(at))
    at.switch_page("pages/train.py").run()
    assert at.get("progress")[-1].proto.text.startswith("Run 1 of 2: full")
    # The setup of the next comparison is folded while this one runs, and drawn only once opened.
    assert "start_training" not in [button.key for button in at.button] and not at.multiselect
    assert at.expander[0].label == "Set up the next comparison (Start works again when this training ends)"
    at.session_state["train_next_setup"] = True
    assert at.run().button(key="start_training").disabled
    assert at.multiselect(key="train_strategies").value == ["full", "tfidf"]  # the values chosen before
    at.button(key="cancel_training").click().run()
    at.session_state["job"].join(10)
    at.run()
    assert at.session_state["job"].status == "cancelled"
    assert "**full**: cancelled" in texts_of(at.markdown) and "**tfidf**: cancelled" in texts_of(at.markdown)
    assert "Training cancelled: 0 of 2 runs finished." in sidebar_of(at)


def test_two_sessions_training_at_once_see_only_their_own_runs_until_one_publishes(tiny_splits):
    first = open_page("pages/train.py", dataset=dataset(tiny_splits, "Uploaded secret-reviews.csv"))
    second = open_page("pages/train.py", dataset=dataset(tiny_splits, "Data of session two"))
    train_from_page(first, ["tfidf"])
    train_from_page(second, ["tfidf", "frozen"])
    for at, own, other, n_runs in ((first, "Uploaded secret-reviews.csv", "Data of session two", 1),
                                   (second, "Data of session two", "secret-reviews", 2)):
        at.switch_page("pages/results.py").run()
        captions = " ".join(texts_of(at.caption))
        assert f"Data: {own}." in captions and other not in captions
        assert f"Showing {n_runs} of your own runs and 0 published runs." in captions
        assert len(at.dataframe[0].value) == n_runs
        assert at.multiselect(key="published_runs_picked").options == []  # nothing of the other session
    second.switch_page("pages/data.py").run()
    assert "secret-reviews" not in " ".join(texts_of(second.caption) + texts_of(second.markdown))
    # The first session publishes its comparison: the second sees it at once, without training.
    first.multiselect(key="publish_runs").set_value(["tfidf"])
    first.text_input(key="publish_title").set_value("Lesson 1")
    first.button(key="publish_save").click().run()
    assert any("Published 1 run(s)" in text for text in texts_of(first.success))
    second.switch_page("pages/results.py").run()
    assert "Showing 2 of your own runs and 1 published runs." in " ".join(texts_of(second.caption))
    assert sorted(second.dataframe[0].value["Run"]) == ["frozen", "tfidf", "tfidf (published)"]
    second.switch_page("pages/playground.py").run()
    assert not second.exception, second.exception
    assert "tfidf (published)" in " ".join(texts_of(second.caption))
    # Read-only for the second session: it can neither rename nor delete the published run.
    second.switch_page("pages/results.py").run()
    assert "tfidf (published)" not in second.selectbox(key="delete_run").options


# ---------------------------------------------------------------- data-size sweep

# Made-up accuracies: frozen wins with 10 training texts, full fine-tuning from 20 on.
SWEEP_ACCURACY = {("frozen", 10): 0.70, ("full", 10): 0.60, ("frozen", 20): 0.72, ("full", 20): 0.80,
                  ("frozen", 40): 0.74, ("full", 40): 0.85}


def finished_sweep(splits: Splits, monkeypatch) -> SweepJob:
    """Full vs frozen at 10, 20 and 40 texts, 2 seeds, finished in an instant (training patched)."""
    def fake_train(config, splits, on_event=None, stop=None):
        accuracy = SWEEP_ACCURACY[(config.strategy, len(splits.train))] + 0.01 * config.seed
        return TrainOutcome(RunResult(config.strategy, test_accuracy=accuracy, macro_f1=accuracy, train_seconds=1.0))

    monkeypatch.setattr("core.sweep.train", fake_train)
    sweep = SweepJob(RunConfig(), ["full", "frozen"], Vary(SIZE, (10, 20, 40)), 2, splits,
                     {"description": "Toy reviews"})
    sweep.start().join(10)
    assert sweep.status == "finished"
    return sweep


def test_sweep_page_leaves_out_sizes_the_training_split_cannot_hold_and_estimates_the_rest(tiny_splits):
    at = open_page("pages/sweep.py", dataset=dataset(tiny_splits))
    assert at.multiselect(key="sweep_strategies").value == ["full", "frozen", "scratch", "tfidf"]
    assert at.text_input(key="sweep_sizes").value == "100, 300, 1000"
    assert at.number_input(key="sweep_seeds").value == 3
    assert at.number_input(key="hp_epochs").value == RunConfig().epochs  # the Train page's settings
    assert at.warning[0].value.startswith("Left out 100, 300, 1,000: the training split chosen on the Data page "
                                          "has 40 texts.")
    assert at.button(key="start_sweep").disabled
    at.text_input(key="sweep_sizes").set_value("10, 20, 100").run()
    assert not at.button(key="start_sweep").disabled
    plan = "**24 runs** (4 strategies × 2 sizes × 3 seeds), **estimated time: about 16 min 48 s**"  # 24 x 42 s
    assert any(plan in m for m in texts_of(at.markdown))
    assert not any("every seed trains on the whole training split" in c for c in texts_of(at.caption))
    at.text_input(key="sweep_sizes").set_value("10, 40").run()
    assert any("At 40 every seed trains on the whole training split" in c for c in texts_of(at.caption))
    at.text_input(key="sweep_sizes").set_value("10, many").run()
    assert "whole numbers separated by commas" in at.error[0].value and at.button(key="start_sweep").disabled


def test_a_sweep_started_on_the_page_trains_in_the_background(tiny_splits):
    at = open_page("pages/sweep.py", dataset=dataset(tiny_splits))
    at.multiselect(key="sweep_strategies").set_value(["tfidf"])
    at.text_input(key="sweep_sizes").set_value("10, 20")
    at.number_input(key="sweep_seeds").set_value(2).run()
    at.button(key="start_sweep").click().run()
    at.session_state["sweep"].join(60)
    at.run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == "Last sweep: finished"
    table = at.dataframe[0].value
    assert list(table["Training size"]) == [10, 20] and list(table["Runs"]) == [2, 2]


def test_a_sweep_over_the_learning_rate_runs_from_the_page_with_its_own_axis_and_sentences(tiny_splits):
    at = open_page("pages/sweep.py", dataset=dataset(tiny_splits))
    at.multiselect(key="sweep_strategies").set_value(["frozen", "tfidf"])
    at.selectbox(key="sweep_setting").set_value("lr").run()
    assert at.text_input(key="sweep_values_lr").value == "1e-5, 5e-5, 1e-4"
    at.text_input(key="sweep_values_lr").set_value("1e-3, 1e-2")
    at.number_input(key="sweep_n_train").set_value(30)
    at.number_input(key="hp_epochs").set_value(1)
    at.number_input(key="sweep_seeds").set_value(2).run()
    assert any("**8 runs** (2 strategies × 2 values × 2 seeds)" in m for m in texts_of(at.markdown))
    at.button(key="start_sweep").click().run()
    at.session_state["sweep"].join(60)
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table.columns)[:2] == ["Strategy", "Learning rate (each strategy's own)"]
    assert sorted(set(table["Learning rate (each strategy's own)"])) == [1e-3, 1e-2]
    assert any("With learning rate (each strategy's own) 0.001, **" in m for m in texts_of(at.markdown))
    chart = at.get("plotly_chart")[0]
    assert '"type":"log"' in chart.proto.spec.replace(" ", "")
    at.text_input(key="sweep_values_lr").set_value("1e-3, fast").run()
    assert "must be numbers" in shown(at.error[0].value) and at.button(key="start_sweep").disabled


def test_a_running_sweep_shows_run_k_of_n_and_can_be_cancelled(tiny_splits, monkeypatch):
    started = patch_slow_train(monkeypatch, "core.sweep.train")
    at = open_page("pages/sweep.py", dataset=dataset(tiny_splits))
    at.multiselect(key="sweep_strategies").set_value(["frozen", "tfidf"])
    at.text_input(key="sweep_sizes").set_value("10, 20").run()
    at.button(key="start_sweep").click().run()
    assert started.wait(10)
    assert at.get("progress")[0].proto.text == "Run 1 of 12: frozen, 10 examples, seed 1 of 3"
    assert "start_sweep" not in [button.key for button in at.button]  # folded while the sweep runs, and drawn only when opened
    assert [e.label for e in at.expander] == ["Set up the next sweep (Start works again when this sweep ends)"]
    at.session_state["sweep_next_setup"] = True
    assert at.run().button(key="start_sweep").disabled
    at.button(key="cancel_sweep").click().run()
    at.session_state["sweep"].join(10)
    at.run()
    assert at.subheader[0].value == "Last sweep: cancelled"
    assert not at.button(key="start_sweep").disabled


def test_a_finished_sweep_shows_chart_table_winners_and_downloads(tiny_splits, monkeypatch):
    at = open_page("pages/sweep.py", dataset=dataset(tiny_splits), sweep=finished_sweep(tiny_splits, monkeypatch))
    table = at.dataframe[0].value
    assert list(table.columns) == ["Strategy", "Training size", "Test accuracy (mean ± std)", "Runs",
                                   "Highest mean at this size"]
    assert table.iloc[0].tolist() == ["frozen", 10, "0.705 ± 0.007", 2, True]
    assert table.iloc[1].tolist() == ["full", 10, "0.605 ± 0.007", 2, False]
    sentences = " ".join(texts_of(at.markdown))
    assert "With 10 training examples, **frozen** won with 0.705 ± 0.007, 0.100 ahead of **full**" in sentences
    assert "With 40 training examples, **full** won with 0.855 ± 0.007" in sentences
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["xaxis"]["type"] == "log"
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels == ["Sweep (JSON)", "Every run (CSV)"]


def test_guide_turns_a_finished_sweep_into_advice(tiny_splits, monkeypatch):
    at = open_page("pages/guide.py", dataset=dataset(tiny_splits), sweep=finished_sweep(tiny_splits, monkeypatch))
    assert texts_of(at.info) == [
        "On your data, with 10 training examples, **Frozen encoder (last layer only)** won (0.705 ± 0.007); "
        "from 20 training examples on, **Full fine-tuning** won (0.805 ± 0.007 at 20, 0.855 ± 0.007 at 40)."]
    assert any("over 2 seeds per size" in caption for caption in texts_of(at.caption))
    assert at.table, "the rules of thumb stay next to the measured advice"


# ---------------------------------------------------------------- results, playground, guide


def test_results_page_compares_saved_runs_with_charts_and_downloads(isolated_runs):
    session = own_folder(isolated_runs, "5e55101111111111")
    fake_run(session / "20250101-000001-full-aaaaaa", "full", 0.812, 65.0)
    fake_run(session / "20250101-000002-frozen-bbbbbb", "frozen", 0.734, 18.0)
    at = open_page("pages/results.py", session_id="5e55101111111111")
    table = at.dataframe[0].value
    assert list(table["Run"]) == ["full", "frozen"]
    assert list(table["Test accuracy"]) == [0.812, 0.734]
    assert list(table["Trainable params"]) == [770, 770]
    assert table["% trainable"][0] == pytest.approx(100 * 770 / 22_713_986)
    assert "Data: Toy reviews. Scores are on the held-out test split." in texts_of(at.caption)
    assert [tab.label for tab in at.tabs] == ["Overview", "Learning curves", "Per class", "Mistakes"]
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels == ["Results table (CSV)", "Full results (JSON)", "Comparison figure (PNG, 300 DPI)"]
    # Only the open tab is drawn: the overview's accuracy and time charts, no per-class table yet.
    assert len(at.get("plotly_chart")) == 2 and len(at.dataframe) == 1
    open_results_tab(at, "Per class")
    assert len(at.get("plotly_chart")) == 2  # a confusion matrix per run
    per_class = at.dataframe[1].value
    assert list(per_class["Class"]) == ["negative", "positive"] * 2
    open_results_tab(at, "Learning curves")
    assert len(at.get("plotly_chart")) == 1 and len(at.dataframe) == 1
    at.switch_page("pages/train.py").run()
    at.switch_page("pages/results.py").run()  # back on Results: the tab last looked at is open again
    assert len(at.get("plotly_chart")) == 1 and "overfitting" in " ".join(texts_of(at.caption))



def test_results_charts_are_built_once_per_set_of_runs_and_again_when_it_changes(isolated_runs, monkeypatch):
    import core.charts

    built = []
    original = core.charts.held_out_scores_figure
    monkeypatch.setattr(core.charts, "held_out_scores_figure", lambda results: built.append(list(results)) or
                        original(results))
    session = own_folder(isolated_runs, "5e55101111111112")
    fake_run(session / "20250101-000001-full-aaaaaa", "full", 0.812, 65.0)
    at = open_page("pages/results.py", session_id="5e55101111111112")
    at.switch_page("pages/train.py").run()
    at.switch_page("pages/results.py").run()  # a page switch back: the same runs, the same figure
    assert not at.exception, at.exception
    assert built == [["full"]]
    assert len(at.get("plotly_chart")) == 2
    fake_run(session / "20250101-000002-frozen-bbbbbb", "frozen", 0.734, 18.0)
    at.switch_page("pages/results.py").run()  # a new run is shown: drawn anew, with both runs
    assert built == [["full"], ["full", "frozen"]]
    assert len(at.get("plotly_chart")) == 2


def test_results_list_each_runs_mistakes_by_confusion_cell_and_where_two_runs_disagree(tiny_splits):
    at = open_page("pages/train.py", dataset=dataset(tiny_splits))
    train_from_page(at, ["frozen", "tfidf"])
    at.switch_page("pages/results.py").run()
    assert not at.exception, at.exception
    open_results_tab(at, "Mistakes")
    at.selectbox(key="mistakes_run").set_value("tfidf").run()
    tfidf = next(result for result in at.session_state["job"].results if result.strategy == "tfidf")
    matrix, labels = tfidf.confusion_matrix, tfidf.labels
    at.selectbox(key="mistakes_true_tfidf").set_value(labels[0])
    at.selectbox(key="mistakes_predicted_tfidf").set_value(labels[1]).run()
    cell = next(frame.value for frame in at.dataframe if list(frame.value.columns)[:3] == ["text", "true", "predicted"])
    assert len(cell) == matrix[0][1] and set(cell["true"]) <= {labels[0]} and set(cell["predicted"]) <= {labels[1]}
    assert list(cell["confidence"]) == sorted(cell["confidence"], reverse=True)
    assert f"{matrix[0][1]} of {len(tiny_splits.test)} test texts wrong in this cell" in " ".join(texts_of(at.caption))
    assert any("only frozen gets right" in caption for caption in texts_of(at.caption))


def test_runs_of_one_strategy_are_told_apart_by_their_settings_and_can_be_named(isolated_runs):
    session = own_folder(isolated_runs, "5e55101111111111")
    fake_run(session / "20250101-000001-full-aaaaaa", "full", 0.78, 60.0)
    fake_run(session / "20250101-000002-full-bbbbbb", "full", 0.80, 61.0, lr_finetune=1e-4)
    at = open_page("pages/results.py", session_id="5e55101111111111")
    table = at.dataframe[0].value
    assert list(table["Run"]) == ["full #1", "full #2"]
    assert list(table["Differs in"]) == ["lr_finetune=5e-05", "lr_finetune=0.0001"]
    at.selectbox(key="rename_run").set_value("full #2")
    at.text_input(key="rename_text").set_value("full, lr 1e-4")
    at.button(key="rename_save").click().run()
    assert list(at.dataframe[0].value["Run"]) == ["full", "full, lr 1e-4"]
    assert store.load_result(session / "20250101-000002-full-bbbbbb").name == "full, lr 1e-4"

def test_published_runs_are_shown_to_a_new_session_and_can_be_taken_out(isolated_runs):
    author = "a" * 32
    run = fake_run(own_folder(isolated_runs, author) / "20240101-000001-tfidf-cccccc", "tfidf", 0.689, 1.2,
                   data="Rotten Tomatoes")
    fake_run(own_folder(isolated_runs, "b" * 32) / "20240101-000002-full-dddddd", "full", 0.8, 60.0)  # never shown
    [published] = workspace.publish(isolated_runs, author, [run], "Lesson 1")
    at = open_page("pages/results.py")
    picker = at.multiselect(key="published_runs_picked")
    assert picker.options == ["Lesson 1: tfidf · accuracy 0.689 · Rotten Tomatoes · 2024-01-01 00:00 UTC"]
    assert picker.value == [str(published)]  # shown without being picked
    assert list(at.dataframe[0].value["Run"]) == ["tfidf (published)"]
    picker.set_value([]).run()
    assert any("No finished runs yet" in info for info in texts_of(at.info))


def test_playground_shows_every_model_and_labels_an_uploaded_file(isolated_runs, tiny_splits):
    outcome = train(RunConfig(strategy="tfidf"), tiny_splits)
    store.save_run(own_folder(isolated_runs, "5e55102222222222") / "20250101-000001-tfidf-dddddd", outcome.result, outcome.predictor)
    at = open_page("pages/playground.py", session_id="5e55102222222222")
    assert at.text_area(key="play_text").value == "not bad at all, actually quite good"
    predictions = at.dataframe[0].value
    assert list(predictions["model"]) == ["tfidf"] and predictions["label"][0] in ("negative", "positive")
    at.button(key="example_Sarcasm").click().run()
    assert at.text_area(key="play_text").value.startswith("Oh great, another two hours")
    at.file_uploader(key="upload_play_file").upload("texts.csv", b"text\na wonderful film\na dull film\n", "text/csv")
    at.run()
    at.button(key="label_file").click().run()
    labelled = at.dataframe[1].value
    assert list(labelled.columns) == ["text", "tfidf: label", "tfidf: confidence"]
    assert list(labelled["tfidf: label"]) == ["positive", "negative"]
    assert at.get("download_button")[0].proto.label == "Download predictions (CSV)"


def test_guide_puts_the_users_measurements_next_to_the_advice(isolated_runs, tiny_splits):
    fake_run(own_folder(isolated_runs, "5e55103333333333") / "20250101-000001-frozen-eeeeee", "frozen", 0.734, 18.0)
    at = open_page("pages/guide.py", session_id="5e55103333333333", dataset=dataset(tiny_splits))
    assert "start with **Frozen encoder (last layer only)**" in at.success[0].value  # 20 texts: small data
    table = at.table[0].value
    frozen_rows = table[table["Use"] == "Frozen encoder (last layer only)"]
    assert set(frozen_rows["On your data"]) == {"accuracy 0.734 in 18 s", "2.5 ms per text (batched, this machine)"}
    assert frozen_rows["Situation"].tolist()[-1] == "In production, fast predictions"
    assert list(at.table[1].value["Problem"]) == ["Out of memory", "Poor convergence: the loss stays flat or jumps",
                                                  "Too slow", "Overfitting: training score far above validation"]
    references = at.dataframe[0].value
    assert "ULMFiT (gradual unfreezing, discriminative rates)" in set(references["Method"])
    assert all(str(link).startswith("https://") for link in references["Link"])
    assert "not measured yet" in set(table["On your data"])
    measured = texts_of(at.markdown)
    assert any("**Frozen encoder (last layer only)** reached accuracy 0.734 in 18 s" in m for m in measured)


# ---------------------------------------------------------------- responsiveness while a job trains


def test_streamlit_does_not_collect_garbage_after_every_script_run():
    # On, every run and every live-view refresh ends in a ~0.4 s full collection holding the GIL:
    # page switches during training took up to 2.6 s (bench/ui_responsiveness.py).
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False


@pytest.mark.slow
def test_no_page_after_the_data_page_imports_a_package_of_its_own(tmp_path):
    # A fresh process: this one has imported everything already. Data and Train come before training (a
    # first visit has data ready, so Train's first visit times the machine: that loads the model code),
    # so what Home, Data and Train load is loaded before a job runs; a package that another page, or
    # Train again, imports first costs its first visit 1-2 s while a job trains (matplotlib did, on Results).
    script = ("import json, sys\n"
              "from streamlit.testing.v1 import AppTest\n"
              "at = AppTest.from_file(sys.argv[1], default_timeout=60)\n"
              "at.run()\n"
              "at.switch_page('pages/data.py').run()\n"
              "at.switch_page('pages/train.py').run()\n"
              "loaded, new = {name.split('.')[0] for name in sys.modules}, {}\n"
              "for page in sys.argv[2:]:\n"
              "    at.switch_page(page).run()\n"
              "    assert not at.exception, (page, at.exception)\n"
              "    new[page] = sorted({name.split('.')[0] for name in sys.modules} - loaded)\n"
              "print(json.dumps(new))\n")
    pages = [page for page in PAGES if page != "pages/data.py"]
    env = {**os.environ, "TL_LAB_RUNS": str(tmp_path / "runs"), "HF_HUB_OFFLINE": "1"}
    shown = subprocess.run([sys.executable, "-c", script, APP, *pages], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert json.loads(shown.stdout.strip().splitlines()[-1]) == {page: [] for page in pages}


# ---------------------------------------------------------------- numeric and multi-task targets


def rated_csv(n: int = 160) -> bytes:
    from tests.support import rated_rows

    lines = ["review,score,topic,sentiment"] + [f"{r['review']},{r['score']:.3f},{r['topic']},{r['sentiment']}"
                                               for r in rated_rows(n, seed=2)]
    return "\n".join(lines).encode()


def upload_rated(at: AppTest, label: str, extra: list[str] | None = None) -> None:
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_data_file").upload("rated.csv", rated_csv(), "text/csv")
    at.run()
    at.selectbox(key="data_text_column").set_value("review")
    at.selectbox(key="data_label_column").set_value(label).run()
    if extra:
        at.multiselect(key="data_extra_labels_rated.csv").set_value(extra).run()
    at.number_input(key="data_n_train_upload_rated.csv").set_value(80)
    at.number_input(key="data_n_test_upload_rated.csv").set_value(40).run()
    assert not at.error, texts_of(at.error)


def test_a_numeric_column_trains_as_regression_from_data_to_playground(isolated_runs):
    at = open_page("pages/data.py")
    upload_rated(at, "score")
    report = " ".join(texts_of(at.caption))
    assert "1 row repeating an earlier text was left out" in report  # the toy reviews repeat one text
    assert "159 labelled texts; a number (regression)." in report
    assert "Distribution of 'score'" in at.get("plotly_chart")[0].proto.spec
    at.button(key="use_data").click().run()
    at.switch_page("pages/train.py").run()
    train_from_page(at, ["tfidf"])
    assert any("test R²" in text for text in texts_of(at.markdown))
    at.switch_page("pages/results.py").run()
    table = at.dataframe[0].value
    assert {"Test R²", "Test MAE", "Test RMSE"} <= set(table.columns) and "Test accuracy" not in table.columns
    assert table["Test R²"][0] > 0.5
    open_results_tab(at, "Per class")
    assert not any(sub.value.startswith("Confusion") for sub in at.subheader)
    assert any("these runs predict a number" in caption for caption in texts_of(at.caption))
    at.switch_page("pages/playground.py").run()
    assert "value" in at.dataframe[0].value.columns and "confidence" not in at.dataframe[0].value.columns
    at.switch_page("pages/sweep.py").run()
    assert any("single-label classification" in info for info in texts_of(at.info))


def test_two_label_columns_train_one_head_each_and_report_both(isolated_runs):
    at = open_page("pages/data.py")
    upload_rated(at, "sentiment", extra=["topic"])
    assert "sentiment: classes neg, pos; topic: classes acting, music" in " ".join(texts_of(at.caption))
    assert list(at.dataframe[0].value.columns) == ["text", "sentiment", "topic"]
    at.button(key="use_data").click().run()
    at.switch_page("pages/train.py").run()
    train_from_page(at, ["tfidf"])
    at.switch_page("pages/results.py").run()
    table = at.dataframe[0].value
    assert "topic: accuracy" in table.columns and table["topic: accuracy"][0] > 0.9
    assert any("for the first label column (sentiment)" in caption for caption in texts_of(at.caption))
    open_results_tab(at, "Per class")
    assert any(sub.value.startswith("Every target") for sub in at.subheader)
    at.switch_page("pages/playground.py").run()
    assert {"label", "topic label", "topic confidence"} <= set(at.dataframe[0].value.columns)


# ---------------------------------------------------------------- a first visit and lesson links


def open_link(params: dict[str, str], page: str | None = None) -> AppTest:
    """A new session opened from a lesson link (the app's address with these query parameters): it
    lands on the Train page; then `page`, if given."""
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    assert at.title[-1].value == "Train"
    if page:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def test_a_first_visit_can_start_training_without_visiting_the_data_page(monkeypatch):
    started = patch_slow_train(monkeypatch, "core.compare.train")
    at = open_page("pages/train.py")
    expected = "Rotten Tomatoes · 1,000 train / 200 validation / 1,000 test"  # what the Data page preselects
    assert f"Data: {expected}" in texts_of(at.caption) and expected in sidebar_of(at)
    assert not at.button(key="start_training").disabled
    at.button(key="start_training").click().run()
    assert started.wait(10)  # the job is training
    job = at.session_state["job"]
    assert job.data_info["description"] == expected and len(job.splits.train) == 1000
    job.cancel()
    job.join(10)


def test_a_lesson_link_opens_the_same_setup_and_the_train_page_shares_it_back():
    from urllib.parse import parse_qsl

    from core.lesson import DataChoice, Lesson, to_query

    lesson = Lesson(DataChoice("synthetic", n_train=100, n_test=60, synthetic_size=300, difficulty="hard",
                               label_noise=0.1), ("frozen", "tfidf"),
                    RunConfig(epochs=3, lr_head=0.05, class_weighted=True))
    at = open_link(to_query(lesson))
    assert not at.warning
    assert "Data: Synthetic reviews (hard, 10% label noise) · 100 train / 20 validation / 60 test" in texts_of(at.caption)
    assert at.multiselect(key="train_strategies").value == ["frozen", "tfidf"]
    assert at.number_input(key="hp_epochs").value == 3 and at.number_input(key="hp_lr_head").value == 0.05
    assert at.checkbox(key="hp_class_weighted").value is True
    link = at.code[0].value  # the share expander: outside a browser the address is the query alone
    assert link.startswith("?lesson=1&") and dict(parse_qsl(link[1:])) == {"lesson": "1", **to_query(lesson)}
    assert at.session_state["session_id"] not in link
    at.switch_page("pages/data.py").run()
    assert at.radio(key="data_source").value == "synthetic" and at.selectbox(key="data_difficulty").value == "hard"
    assert at.number_input(key="data_synthetic_size").value == 300 and at.slider(key="data_label_noise").value == 0.1
    sizes = {n.key.rsplit("_", 1)[0]: n.value for n in at.number_input if n.key.startswith("data_n_")}
    assert sizes == {"data_n_train_synthetic": 100, "data_n_val_synthetic": 0, "data_n_test_synthetic": 60}
    assert any(s.startswith("In use for training: Synthetic reviews (hard") for s in texts_of(at.success))


def test_a_tampered_link_opens_the_defaults_and_says_what_it_ignored():
    at = open_link({"lr": "1e9", "epochs": "-3", "strategies": "../../etc", "n-train": "50000", "data": "upload",
                    "model": "/etc/passwd", "hide": "[x](javascript:alert(1))", "session_id": "0123456789ab"})
    sentence = texts_of(at.warning)
    assert len(sentence) == 1 and sentence[0].startswith("Ignored from this lesson link, the defaults are used instead")
    for ignored in ("lr=1e9 (", "epochs=-3 (", "strategies=../../etc (", "data=upload (", "model=/etc/passwd (",
                    "session_id=0123456789ab (not a setting", "the split sizes (Asked for 50,000 training"):
        assert ignored in sentence[0]
    assert "](javascript" in at.warning[0].value.replace("\\", "") and "\\[x\\]" in at.warning[0].value  # no link
    assert at.multiselect(key="train_strategies").value == ["full", "frozen", "scratch", "tfidf"]
    assert at.number_input(key="hp_epochs").value == RunConfig().epochs
    assert at.number_input(key="hp_lr_finetune").value == RunConfig().lr_finetune
    assert at.text_input(key="hp_model").value == RunConfig().model
    assert "Data: Rotten Tomatoes · 1,000 train / 200 validation / 1,000 test" in texts_of(at.caption)


def test_controls_a_lesson_hides_are_not_drawn_and_their_values_are_used(monkeypatch):
    started = patch_slow_train(monkeypatch, "core.compare.train")
    at = open_link({"data": "synthetic", "synthetic-size": "200", "strategies": "tfidf", "epochs": "1",
                    "model": "prajjwal1/bert-tiny", "hide": "data,strategies,encoder,hyperparameters"})
    keys = {element.key for kind in ("multiselect", "text_input", "number_input", "checkbox", "selectbox")
            for element in at.get(kind)}
    assert not keys & {"train_strategies", "hp_model", "hp_epochs", "hp_max_length", "hp_lr_finetune"}
    captions = texts_of(at.caption)
    assert "The lesson link fixed the strategies: TF-IDF + logistic regression." in " ".join(captions)
    assert any("The lesson link fixed the encoder: prajjwal1/bert-tiny." in c for c in captions)
    assert any("The lesson link fixed the hyperparameters: Epochs 1; the rest at their defaults." in c
               for c in captions)
    assert [at.checkbox(key=f"share_hide_{g}").value for g in ("data", "strategies", "encoder", "hyperparameters")] \
        == [True] * 4
    at.button(key="start_training").click().run()
    assert started.wait(10)
    job = at.session_state["job"]
    assert [(c.strategy, c.model, c.epochs) for c in job.configs] == [("tfidf", "prajjwal1/bert-tiny", 1)]
    job.cancel()
    job.join(10)
    at.switch_page("pages/data.py").run()
    assert not at.radio and not at.number_input and not at.get("file_uploader")
    assert any("The lesson link fixed the data choice and sizes: Synthetic reviews (medium, 0% label noise) · "
               "100 train / 20 validation / 50 test." in c for c in texts_of(at.caption))
    assert any(s.startswith("In use for training: Synthetic reviews") for s in texts_of(at.success))


def test_a_lesson_link_points_at_the_apps_address_which_always_runs_the_frame():
    from ui.lesson import app_address

    assert app_address("http://localhost:8501/train") == "http://localhost:8501/"
    assert app_address("https://lab.example.org/course/train") == "https://lab.example.org/course/"
    assert app_address(None) == ""


def test_work_interrupted_by_a_restart_is_shown_and_queued_again_with_one_click(isolated_runs, tiny_splits):
    from core import journal

    session = "c" * 32
    folder = own_folder(isolated_runs, session)
    journal.record(folder, "deadbeef", "compare", {"configs": [RunConfig(strategy="tfidf").to_dict()]},
                   {"description": "Toy reviews"}, tiny_splits)  # what a server that stopped mid-job leaves
    sidebar = AppTest.from_function(sidebar_script, default_timeout=30)
    sidebar.session_state["session_id"] = session
    sidebar.session_state["dataset"] = dataset(tiny_splits)
    sidebar.run()
    assert not sidebar.exception, sidebar.exception
    assert "Interrupted when the server stopped: tfidf on Toy reviews." in texts_of(sidebar.sidebar.warning)
    sidebar.button(key="requeue_deadbeef").click().run()
    job = sidebar.session_state["job"]
    job.join(60)
    assert job.status == "finished" and [r.strategy for r in job.results] == ["tfidf"]
    assert journal.pending(folder) == []  # nothing left to offer
    assert [run.result.strategy for run in workspace.own_runs(isolated_runs, session)] == ["tfidf"]


def test_work_over_a_server_limit_is_refused_with_the_limit_named(tiny_splits, monkeypatch):
    from core.lab_settings import LabSettings

    monkeypatch.setattr("ui.state.lab_settings", lambda: LabSettings(max_train=10))
    at = open_page("pages/train.py", dataset=dataset(tiny_splits))
    at.multiselect(key="train_strategies").set_value(["tfidf"]).run()
    at.button(key="start_training").click().run()
    assert not at.exception, at.exception
    assert any("40 training examples is over this server's limit of 10 per run" in e for e in texts_of(at.error))
    assert "job" not in at.session_state


def test_waiting_pages_redraw_less_often_the_more_sessions_wait():
    from types import SimpleNamespace

    from ui.live import WAITING_REFRESH, waiting_pace

    def job_with(sessions: int):
        return SimpleNamespace(scheduler=SimpleNamespace(sessions_waiting=lambda: sessions))

    assert waiting_pace(job_with(2)) == WAITING_REFRESH
    assert waiting_pace(job_with(20)) == pytest.approx(5.0)  # 20 pages together: 4 redraws a second
    assert waiting_pace(job_with(40)) == pytest.approx(10.0)


def test_page_log_times_every_full_run_of_the_app_when_asked(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from streamlit.runtime.scriptrunner_utils.exceptions import StopException

    from ui.page_log import logged_page_run

    log = tmp_path / "pages.jsonl"
    monkeypatch.setenv("TL_LAB_PAGE_LOG", str(log))
    open_page()  # app.py's first run draws Home

    def stop():
        raise StopException()

    with pytest.raises(StopException):  # a page that ends in st.stop() is timed all the same
        logged_page_run(SimpleNamespace(title="Results", run=stop), time.perf_counter() - 0.25)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["page"] for line in lines] == ["Home", "Results"]
    assert all(0 <= line["before_page"] <= line["seconds"] < 60 for line in lines)
    assert lines[1]["seconds"] >= 0.25


def test_a_link_to_the_default_setup_also_opens_the_train_page_ready_to_start():
    from core.lesson import Lesson, link_query
    from core.strategies import DEFAULT_STRATEGIES
    from urllib.parse import parse_qsl

    at = open_link(dict(parse_qsl(link_query(Lesson()))))  # lands on Train (open_link checks the title)
    assert not at.warning
    assert at.multiselect(key="train_strategies").value == list(DEFAULT_STRATEGIES)
    assert not at.button(key="start_training").disabled
