"""The Results page's "which texts" sections: each run's mistakes by confusion-matrix cell, and the
texts where two runs disagree. Read from each run's predictions.csv (core.mistakes)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.mistakes import disagreements, mistakes, read_predictions
from ui.state import kept

ANY = "any"
SHOWN_ROWS = 200
NUMBER_FORMAT = {name: st.column_config.NumberColumn(format="%.3f") for name in ("confidence", "error", "true",
                                                                                 "predicted")}


@st.cache_data(max_entries=64, show_spinner=False)
def predictions_of(folder: str) -> pd.DataFrame | None:
    """A saved run's test predictions (None for runs saved before runs kept them)."""
    return read_predictions(folder)


def mistakes_section(runs: dict) -> None:
    """Pick a run and a confusion-matrix cell (true class, predicted class): its wrong texts, most
    confident first; for numbers, the largest errors first."""
    tables = {name: predictions_of(str(run.folder)) for name, run in runs.items()}
    tables = {name: table for name, table in tables.items() if table is not None}
    if not tables:
        st.caption("Runs saved by an earlier version keep no test predictions; train again to see them.")
        return
    name = st.selectbox("Run", list(tables), **kept("mistakes_run", next(iter(tables))))
    table = tables.get(name, next(iter(tables.values())))
    if "error" in table:
        st.caption("The test texts with the largest errors first (error = predicted - true).")
        _show(mistakes(table)[["text", "true", "predicted", "error"]])
        return
    labels = [ANY, *sorted(set(table["true"].astype(str)) | set(table["predicted"].astype(str)))]
    true_col, predicted_col = st.columns(2)
    true = true_col.selectbox("True class", labels, key=f"mistakes_true_{name}")
    predicted = predicted_col.selectbox("Predicted as", labels, key=f"mistakes_predicted_{name}")
    wrong = mistakes(table, None if true == ANY else true, None if predicted == ANY else predicted)
    where = " in this cell of the confusion matrix" if ANY not in (true, predicted) else ""
    st.caption(f"{len(wrong):,} of {len(table):,} test texts wrong{where}, the most confident mistakes first. "
               "Choose a true and a predicted class to see one cell.")
    _show(wrong[["text", "true", "predicted", "confidence"]])


def disagreement_section(runs: dict) -> None:
    """Two runs on the same test split: the texts only one of them gets right."""
    tables = {name: predictions_of(str(run.folder)) for name, run in runs.items()}
    tables = {name: table for name, table in tables.items() if table is not None and "correct" in table}
    if len(tables) < 2:
        st.caption("Needs two classification runs that kept their test predictions.")
        return
    names = list(tables)
    first_col, second_col = st.columns(2)
    first = first_col.selectbox("First run", names, index=0, key="disagree_first")
    second = second_col.selectbox("Second run", names, index=1, key="disagree_second")
    if set(tables[first]["text"]) != set(tables[second]["text"]):
        st.warning("These two runs were scored on different test texts; choose runs trained on the same data split.")
        return
    table = disagreements(tables[first], tables[second])
    only_first, only_second = (table["right"] == "first").sum(), (table["right"] == "second").sum()
    st.caption(f"{only_first:,} texts only {first} gets right; {only_second:,} only {second} gets right.")
    table["right"] = table["right"].map({"first": first, "second": second})
    _show(table.rename(columns={"predicted (first)": f"{first} says", "predicted (second)": f"{second} says"}))


def _show(table: pd.DataFrame) -> None:
    st.dataframe(table.head(SHOWN_ROWS), hide_index=True, column_config={
        "text": st.column_config.TextColumn(width="large"), **NUMBER_FORMAT})
