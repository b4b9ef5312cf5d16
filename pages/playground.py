"""Playground: type a text and see what every trained model says; label a whole file at once."""

import pandas as pd
import streamlit as st

from core.charts import confidence_figure, value_figure
from core.columns import detect_columns
from core.errors import DataError, LabError
from core.predict import prediction_fields
from core.service import client_snippets
from core.tables import FORMATS, read_table, safe_csv
from ui.explain import explain_section
from ui.runs import cached_predictor, runs_by_name, saved_run_picker
from ui.state import TRAIN_PAGE, kept, set_kept

EXAMPLES = {  # each one trips up a different kind of model
    "Negation": "not bad at all, actually quite good",
    "Sarcasm": "Oh great, another two hours of my life I will never get back.",
    "Mixed": "Beautiful photography, but the story is a mess.",
}
BATCH_KEY = "play_batch_predictions"


def load_predictors(runs: dict) -> dict:
    """{run name: Predictor} for every run whose saved model loads; a broken one is reported, not fatal."""
    predictors = {}
    for name, run in runs.items():
        try:
            predictors[name] = cached_predictor(str(run.folder))
        except LabError as exc:
            st.error(f"Cannot load the model of {name}: {exc}")
    return predictors


def prediction_rows(predictors: dict, text: str) -> list[dict]:
    """Each model's label, confidence and class probabilities (or predicted value) for one text;
    a multi-task model adds its further targets' columns."""
    rows = []
    for name, predictor in predictors.items():
        prediction = predictor.predict([text])[0]
        rows.append({"model": name, **prediction_fields(prediction),
                     **{f"P({label})": p for label, p in prediction.probabilities.items()}})
    return rows


def label_table(predictors: dict, texts: list[str]) -> pd.DataFrame:
    """The texts with every model's label and confidence (or value) as columns."""
    table = pd.DataFrame({"text": texts})
    for name, predictor in predictors.items():
        fields = pd.DataFrame([prediction_fields(p) for p in predictor.predict(texts)])
        for column in fields.columns:
            table[f"{name}: {column}"] = fields[column]
    return table


def batch_section(predictors: dict) -> None:
    """Upload a table of texts, pick its text column, label it with every model, download the CSV."""
    upload = st.file_uploader("A file of texts", type=[fmt.lstrip(".") for fmt in FORMATS], key="upload_play_file")
    if upload is None:
        return
    try:
        table = read_table(upload)
    except DataError as exc:
        st.error(str(exc))
        return
    columns = [str(column) for column in table.columns]
    try:
        guess = detect_columns(table)[0] if len(columns) > 1 else columns[0]
    except DataError:
        guess = columns[0]
    column = st.selectbox("Text column", columns, index=columns.index(guess), key=f"batch_column_{upload.file_id}")
    if st.button(f"Label {len(table):,} texts with {len(predictors)} models", type="primary", key="label_file"):
        with st.spinner("Predicting..."):
            st.session_state[BATCH_KEY] = (upload.file_id, label_table(predictors, table[column].astype(str).tolist()))
    stored = st.session_state.get(BATCH_KEY)
    if stored and stored[0] == upload.file_id:
        st.dataframe(stored[1].head(200), hide_index=True)
        st.download_button("Download predictions (CSV)", safe_csv(stored[1]), "predictions.csv", "text/csv",
                           on_click="ignore", icon=":material/download:")


def service_section(runs: dict, text: str) -> None:
    """The same prediction from the REST service: the command that starts it, then curl and Python requests."""
    if not runs:
        return
    with st.expander("Get this prediction from the REST service (curl, Python)"):
        name = st.selectbox("Model", list(runs), key="play_service_model") if len(runs) > 1 else next(iter(runs))
        snippets = client_snippets(runs[name].folder.name, text, runs[name].folder.parent)  # text JSON-encoded
        st.caption("Run these in the folder the dashboard runs in: the service serves the runs of that folder "
                   "(this session's own, or the published ones) under their folder names.")
        st.code(snippets["serve"], language="bash")
        st.code(snippets["curl"], language="bash")
        st.code(snippets["python"], language="python")


st.title("Playground")
runs = runs_by_name(saved_run_picker())
if not runs:
    st.info("No trained model yet. Train strategies first: every finished run can be tried here.")
    st.page_link(TRAIN_PAGE, label="Go to the Train page", icon=":material/model_training:")
    st.stop()
predictors = load_predictors(runs)
st.caption(f"{len(predictors)} trained models: {', '.join(predictors)}. Runs still training are not listed.")

st.markdown("Examples worth trying:")
for column, (title, example) in zip(st.columns(len(EXAMPLES)), EXAMPLES.items()):
    column.button(f"Try {title.lower()}", key=f"example_{title}", width="stretch", help=f"“{example}”",
                  on_click=set_kept, args=("play_text", example))
text = st.text_area("Text to classify", height=90, **kept("play_text", EXAMPLES["Negation"]))
if text.strip() and predictors:
    rows = prediction_rows(predictors, text)
    table_col, chart_col = st.columns(2)
    columns = list(dict.fromkeys(name for row in rows for name in row))
    table_col.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True,
                        column_config={name: st.column_config.NumberColumn(format="%.3f")
                                       for name in columns if name.endswith(("confidence", "value")) or name.startswith("P(")})
    with chart_col:
        classified = [row for row in rows if "confidence" in row]
        valued = [row for row in rows if "value" in row]
        if classified:
            st.plotly_chart(confidence_figure(classified))
        if valued:
            st.plotly_chart(value_figure(valued))
    explain_section(predictors, text)
if text.strip():
    service_section({name: runs[name] for name in predictors}, text)

st.subheader("Label a whole file")
batch_section(predictors)
