"""Results: compare finished runs (this session's own and the published ones) and download them."""

import json

import pandas as pd
import streamlit as st

from core import workspace
from core.charts import held_out_scores_figure, confusion_figure, learning_curves_figure, time_figure
from core.results import differing_settings
from core.saved_runs import SavedRun
from core.tables import safe_csv
from ui.figures import remembered, runs_key
from ui.mistakes import disagreement_section, mistakes_section
from ui.runs import runs_by_name, saved_run_picker, unfinished_results
from ui.manage import manage_runs
from ui.state import TRAIN_PAGE, current_job, kept
from ui.safe import plain

RESULTS_TABS = ("Overview", "Learning curves", "Per class", "Mistakes")
RESULTS_TAB_KEY = "results_tab"
NUMBER_COLUMNS = {
    "Differs in": st.column_config.TextColumn(help="The settings where this run differs from the others shown."),
    "Test accuracy": st.column_config.NumberColumn(format="%.3f", help="Share of held-out test texts labelled right."),
    "Macro-F1": st.column_config.NumberColumn(format="%.3f",
                                              help="F1 averaged over classes: low when one class is neglected."),
    "Test R²": st.column_config.NumberColumn(format="%.3f", help="Numeric target: 1 = perfect, 0 = no better "
                                             "than always predicting the mean, below 0 = worse."),
    "Test MAE": st.column_config.NumberColumn(format="%.3g", help="Numeric target: mean absolute error, in its units."),
    "Test RMSE": st.column_config.NumberColumn(format="%.3g", help="Numeric target: root mean squared error; "
                                               "punishes large misses more than MAE."),
    "Training time (s)": st.column_config.NumberColumn(format="%.1f",
                                                       help="Wall time on this machine, model loading included."),
    "Prediction time (s)": st.column_config.NumberColumn(
        format="%.2f", help="Time to label the whole test set. A frozen run reuses the test texts' encoder vectors "
        "when another run on this server computed them; its time is then the encoder's, measured that once, "
        "plus its own head's."),
    "Trainable params": st.column_config.NumberColumn(format="localized", help="Weights that training changes."),
    "Total params": st.column_config.NumberColumn(format="localized"),
    "% trainable": st.column_config.NumberColumn(format="%.2f%%"),
}


def comparison_table(runs: dict[str, SavedRun]) -> pd.DataFrame:
    """One row per run with the numbers that decide between strategies.

    Accuracy and macro-F1 for classes, R² / MAE / RMSE for a numeric target, and one column per
    further target of a multi-task run; columns no run fills are left out.
    """
    rows = []
    differs = differing_settings({name: run.result.config for name, run in runs.items()})
    for name, run in runs.items():
        r = run.result
        row = {"Run": name, "Differs in": differs[name] or None, "Data": run.data_info.get("description", ""),
               "Test accuracy": r.test_accuracy,
               "Macro-F1": r.macro_f1, "Test R²": r.test_r2, "Test MAE": r.test_mae, "Test RMSE": r.test_rmse}
        for metrics in r.targets[1:]:
            kind = "accuracy" if metrics["kind"] == "classification" else "R²"
            row[f"{metrics['name']}: {kind}"] = metrics["accuracy" if kind == "accuracy" else "r2"]
        row.update({"Training time (s)": r.train_seconds, "Prediction time (s)": r.predict_seconds,
                    "Trainable params": r.trainable_params, "Total params": r.total_params,
                    "% trainable": r.percent_trainable})
        rows.append(row)
    return pd.DataFrame(rows).dropna(axis=1, how="all")


def results_json(runs: dict[str, SavedRun]) -> str:
    """Every run's full result (history, per-class report, config) and its data description."""
    return json.dumps([{"name": name, "data": run.data_info, **run.result.to_dict()} for name, run in runs.items()],
                      indent=2, default=float)


def comparison_figure_png(results: dict) -> bytes:
    """The static comparison figure (PNG, 300 DPI) of these results."""
    # Imported on the first download, not with the page: loading matplotlib takes 1-2 s, which made
    # the first visit of this page slow while a job trains.
    from core.figure import comparison_png

    return comparison_png(list(results.values()))


def show_confusion_matrices(runs: dict[str, SavedRun], results: dict) -> None:
    """One heatmap per run, three to a row."""
    names = [name for name, result in results.items() if result.confusion_matrix]
    for start in range(0, len(names), 3):
        for column, name in zip(st.columns(3), names[start:start + 3]):
            with column:
                st.plotly_chart(remembered(f"confusion {name}", runs_key({name: runs[name]}),
                                           lambda: confusion_figure(results[name], title=name)))


def per_class_section(runs: dict[str, SavedRun], results: dict) -> None:
    """Confusion matrices and the per-class report (classes), and every target's scores (multi-task)."""
    if any(result.confusion_matrix for result in results.values()):
        st.subheader("Confusion matrices (test split)")
        show_confusion_matrices(runs, results)
        st.subheader("Per-class report (test split)")
        st.dataframe(per_class_report(results), hide_index=True,
                     column_config={name: st.column_config.NumberColumn(format="%.3f")
                                    for name in ("Precision", "Recall", "F1")})
    else:
        st.caption("No classes to report: these runs predict a number. Their R², MAE and RMSE are in the "
                   "table above.")
    if any(len(result.targets) > 1 for result in results.values()):
        st.subheader("Every target (multi-task runs, test split)")
        st.dataframe(target_report(results), hide_index=True)


def per_class_report(results: dict) -> pd.DataFrame:
    """Precision, recall, F1 and support of every class for every run."""
    return pd.DataFrame([{"Run": name, "Class": row["label"], "Precision": row["precision"], "Recall": row["recall"],
                          "F1": row["f1"], "Test examples": row["support"]}
                         for name, result in results.items() for row in result.per_class])


def target_report(results: dict) -> pd.DataFrame:
    """One row per (run, target) of multi-task runs: accuracy and macro-F1, or R², MAE and RMSE."""
    rows = []
    for name, result in results.items():
        for m in result.targets if len(result.targets) > 1 else []:
            rows.append({"Run": name, "Target": m["name"], "Kind": m["kind"], "Accuracy": m.get("accuracy"),
                         "Macro-F1": m.get("macro_f1"), "R²": m.get("r2"), "MAE": m.get("mae"), "RMSE": m.get("rmse")})
    return pd.DataFrame(rows).dropna(axis=1, how="all").round(3)


st.title("Results")
picked = saved_run_picker()
runs = runs_by_name(picked)
for result in unfinished_results():
    alert = st.error if result.status == "failed" else st.warning
    alert(f"**{result.strategy}** {result.status}: {plain(result.reason)}")
job = current_job()
if job is not None and not job.done:
    st.info("Training is running: each run appears here as soon as it finishes.")
if not runs:
    st.info("No finished runs yet. Train a few strategies first, or pick published runs from the list above.")
    st.page_link(TRAIN_PAGE, label="Go to the Train page", icon=":material/model_training:")
    st.stop()

n_published = sum(workspace.publication(run.folder) is not None for run in runs.values())
st.caption(f"Showing {len(runs) - n_published} of your own runs and {n_published} published runs. Nobody else "
           "sees your runs unless you publish them.")
results = {name: run.result for name, run in runs.items()}
table = comparison_table(runs)
data_descriptions = table["Data"].unique()
if len(data_descriptions) == 1:  # one data set: say it once instead of in every row
    st.caption(f"Data: {plain(data_descriptions[0])}. Scores are on the held-out test split.")
    table = table.drop(columns="Data")
per_target_columns = {column: st.column_config.NumberColumn(format="%.3f") for column in table.columns
                      if column.endswith((": accuracy", ": R²"))}
st.dataframe(table, hide_index=True, column_config={**NUMBER_COLUMNS, **per_target_columns})
manage_runs(runs)
first_targets = {result.targets[0]["name"] for result in results.values() if len(result.targets) > 1}
if first_targets:
    st.caption(f"Multi-task runs: the test accuracy, macro-F1, confusion matrices and per-class report are "
               f"for the first label column ({', '.join(sorted(first_targets))}); every column is in "
               "“Every target” on the Per class tab.")

shown = runs_key(runs)
# Lazy tabs: only the open one runs and reaches the browser (`kept` makes its callback Streamlit's cue,
# and keeps the choice across page switches). A switch to this page cost a browser about 13x what it
# cost the server, mostly in drawing charts and tables (bench/page_cost.py), and in a class the
# students' browsers may share the server's machine.
tabs = dict(zip(RESULTS_TABS, st.tabs(RESULTS_TABS, **kept(RESULTS_TAB_KEY, RESULTS_TABS[0]))))
if tabs["Overview"].open:
    with tabs["Overview"]:
        score_col, time_col = st.columns(2)
        score_col.plotly_chart(remembered("scores", shown, lambda: held_out_scores_figure(results)))
        time_col.plotly_chart(remembered("times", shown, lambda: time_figure(results)))
if tabs["Learning curves"].open:
    with tabs["Learning curves"]:
        st.plotly_chart(remembered("learning curves", shown, lambda: learning_curves_figure(results)))
        st.caption("A widening gap between training (dashed) and validation (solid) scores means the model "
                   "memorises the training texts (overfitting).")
if tabs["Per class"].open:
    with tabs["Per class"]:
        per_class_section(runs, results)
if tabs["Mistakes"].open:
    with tabs["Mistakes"]:
        st.subheader("Which test texts does each model get wrong?")
        mistakes_section(runs)
        st.subheader("Where two runs disagree")
        st.caption("The classic question: which texts does pretraining get right that training from scratch "
                   "or TF-IDF gets wrong, and the other way round?")
        disagreement_section(runs)

st.subheader("Downloads")
csv_col, json_col, png_col = st.columns(3)
# The files are made when a button is pressed (callables), not on every run of the page.
csv_col.download_button("Results table (CSV)", lambda: safe_csv(comparison_table(runs)), "results.csv",
                        "text/csv", on_click="ignore", icon=":material/download:")
json_col.download_button("Full results (JSON)", lambda: results_json(runs), "results.json", "application/json",
                         on_click="ignore", icon=":material/download:")
png_col.download_button("Comparison figure (PNG, 300 DPI)", lambda: comparison_figure_png(results),
                        "comparison.png", "image/png", on_click="ignore", icon=":material/download:")
