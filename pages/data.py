"""Data: choose labelled texts, look at them, and split them into train / validation / test."""

import streamlit as st

from core import estimate
from core.charts import class_balance_figure, target_histogram_figure, token_length_figure, truncated_percent
from core.columns import detect_columns, from_frame
from core.errors import DataError, LabError
from core.models import DEFAULT_MODEL
from core.sources import BUNDLED, load_source, load_unlabelled
from core.splits import describe_splits, make_splits, sizes_text, with_unlabelled
from core.synthetic import DIFFICULTIES
from core.tables import FORMATS, read_table
from core.texts import LabeledTexts
from ui.hyperparams import max_length_input
from ui.safe import plain
from ui.state import TRAIN_PAGE, Dataset, current_dataset, kept, kept_value, set_kept, use_dataset

SOURCES = {"rotten_tomatoes": "Rotten Tomatoes: 8,530 short review sentences (fast on a CPU)",
           "imdb": "IMDb: 25,000 long movie reviews",
           "synthetic": "Synthetic reviews: generated, with adjustable difficulty and label noise",
           "upload": f"Your own file ({', '.join(FORMATS)})"}
SOURCE_NAMES = {"rotten_tomatoes": "Rotten Tomatoes", "imdb": "IMDb"}
TASK_CHOICES = {"auto": "auto (detect from the values)", "classification": "classification (labels)",
                "regression": "regression (a number)"}
UPLOAD_KEY = "uploaded_table"  # (file id, file name, table): the table survives page switches


def synthetic_texts() -> tuple[LabeledTexts, str]:
    """Generated reviews with the size, difficulty and noise chosen here."""
    size_col, difficulty_col, noise_col = st.columns(3)
    size = size_col.number_input("Number of reviews", min_value=4, step=100, **kept("data_synthetic_size", 2000))
    difficulty = difficulty_col.selectbox(
        "Difficulty", DIFFICULTIES, **kept("data_difficulty", "medium"),
        help="easy: every sentence agrees with the verdict. medium: sometimes one aside disagrees. "
             "hard: several sentences contradict the final verdict.")
    noise = noise_col.slider("Label noise", 0.0, 0.45, step=0.05, **kept("data_label_noise", 0.0),
                             help="Share of labels flipped at random: no model can score above 1 minus this.")
    data = load_source("synthetic", n_synthetic=int(size), difficulty=difficulty, label_noise=noise)
    return data, f"Synthetic reviews ({difficulty}, {noise:.0%} label noise)"


def uploaded_texts() -> tuple[LabeledTexts, str]:
    """The user's table, with its text and label columns chosen (pre-filled by detection)."""
    upload = st.file_uploader("Table with a text column and a label column", key="upload_data_file",
                              type=[fmt.lstrip(".") for fmt in FORMATS])
    if upload is not None and st.session_state.get(UPLOAD_KEY, (None,))[0] != upload.file_id:
        st.session_state[UPLOAD_KEY] = (upload.file_id, upload.name, read_table(upload))
    if UPLOAD_KEY not in st.session_state:
        st.info("Upload a file: one row per text, one column with the text and one with its label.")
        st.stop()
    _, name, table = st.session_state[UPLOAD_KEY]
    st.caption(f"**{plain(name)}**: {len(table):,} rows; columns {plain(', '.join(map(str, table.columns)))}.")
    text_column, label_columns, task = column_mapping(table, name)
    return from_frame(table, text_column, label_columns, task), name


def column_mapping(table, file_name: str) -> tuple[str, list[str], str]:
    """Text and label columns, pre-filled with the detected ones (a detection problem is shown, not
    raised), further label columns for multi-task training, and the task type."""
    columns = [str(column) for column in table.columns]
    try:
        detected = detect_columns(table)
    except DataError as exc:
        st.error(plain(exc))
        if len(columns) < 2:
            st.stop()
        detected = (columns[0], columns[1])
    if kept_value("data_columns_file") != file_name:  # a new file: start from what was detected
        set_kept("data_columns_file", file_name)
        set_kept("data_text_column", detected[0])
        set_kept("data_label_column", detected[1])
    text_col, label_col, task_col = st.columns(3)
    text_column = text_col.selectbox("Text column", columns, **kept("data_text_column", detected[0]))
    label_column = label_col.selectbox("Label column", columns, **kept("data_label_column", detected[1]))
    task = task_col.selectbox("Task", list(TASK_CHOICES), format_func=TASK_CHOICES.get, **kept("data_task", "auto"),
                              help="Classification predicts one of the labels; regression predicts a number "
                                   "(MSE loss; scored by MAE, RMSE and R²). Auto picks regression for numeric "
                                   "columns with fractions or more than 20 distinct values.")
    others = [column for column in columns if column not in (text_column, label_column)]
    extra = st.multiselect("More label columns (multi-task: one shared encoder, one head per column)", others,
                           **kept(f"data_extra_labels_{file_name}", []),
                           help="Each column gets its own output head on the same encoder; the loss adds "
                                "them up. The first label column stays the main one on every page.")
    return text_column, [label_column, *[c for c in extra if c in others]], task


def split_sizes(size_key: str, n_rows: int) -> tuple[int, int | None, int]:
    """Training, validation (None = automatic) and test sizes; defaults depend on the data's size."""
    bundled = size_key in BUNDLED
    train_col, val_col, test_col = st.columns(3)
    n_train = train_col.number_input("Training examples", min_value=0, step=100,
                                     **kept(f"data_n_train_{size_key}", 1000 if bundled else min(1000, n_rows // 2)),
                                     help="The texts the models learn from.")
    n_val = val_col.number_input("Validation examples (0 = 20% of training)", min_value=0, step=50,
                                 **kept(f"data_n_val_{size_key}", 0),
                                 help="Used to pick the best epoch and to stop early; never for the final score.")
    n_test = test_col.number_input("Test examples", min_value=0, step=100,
                                   **kept(f"data_n_test_{size_key}", 1000 if bundled else min(1000, n_rows // 4)),
                                   help="Held out and scored once at the end: the number the Results page compares.")
    return int(n_train), int(n_val) or None, int(n_test)


@st.cache_data(show_spinner="Counting tokens...", max_entries=8)
def token_lengths(model: str, texts: tuple[str, ...]) -> list[int]:
    """Tokens per text (with the encoder's special tokens), before any truncation; cached per session."""
    return estimate.token_lengths(model, texts)


def show_token_lengths(texts: tuple[str, ...]) -> None:
    """Histogram of token counts with the chosen max length and the share of texts it cuts."""
    model = kept_value("hp_model", DEFAULT_MODEL)
    chart = st.container()  # the chart goes above the input it depends on, level with the class chart
    max_length = max_length_input()
    try:
        lengths = token_lengths(model, texts)
    except LabError as exc:
        st.warning(plain(f"Cannot count tokens with the encoder '{model}': {exc}"))
        return
    chart.plotly_chart(token_length_figure(lengths, max_length))
    lengths_sorted = sorted(lengths)
    st.caption(f"Median {lengths_sorted[len(lengths) // 2]} tokens, longest {lengths_sorted[-1]}. "
               f"**{truncated_percent(lengths, max_length):.1f}%** of training texts are longer than "
               f"{max_length} tokens and will be cut (counted with the tokenizer of {model}).")


def unlabelled_texts(splits):
    """Optionally, a file of unlabelled texts of the same domain that `domain_adapt` pre-trains on."""
    with st.expander("Unlabelled texts of the same domain (optional, for continued pre-training)"):
        upload = st.file_uploader("A table with a text column; labels are not needed", key="upload_unlabelled",
                                  type=[fmt.lstrip(".") for fmt in FORMATS],
                                  help="The domain adaptation strategy reads them (with the training texts) in its "
                                       "masked-word phase before fine-tuning. Validation and test texts are left out.")
        if upload is None:
            return splits
        try:
            splits, left_out = with_unlabelled(splits, load_unlabelled(upload))
        except DataError as exc:
            st.error(plain(exc))
            return splits
        st.caption(f"{len(splits.unlabelled):,} unlabelled texts" + (
            f"; {left_out:,} left out (empty, repeated, or validation / test texts)" if left_out else "") + ".")
    return splits


def preview_columns(train: LabeledTexts, rows: int = 50) -> dict:
    """The first training rows: text, then each target as its class name or number."""
    table = {"text": train.texts[:rows]}
    for column in train.columns:
        name = "label" if not train.others and not column.is_regression else column.target
        table[name] = list(column.labels[:rows]) if column.is_regression else \
            [column.label_names[i] for i in column.labels[:rows]]
    return table


st.title("Data")
source = st.radio("Labelled texts", list(SOURCES), format_func=SOURCES.get, **kept("data_source", "rotten_tomatoes"))
try:
    if source in BUNDLED:
        with st.spinner("Reading the bundled reviews..."):
            data, name = load_source(source), SOURCE_NAMES[source]
        size_key = source
    elif source == "synthetic":
        data, name = synthetic_texts()
        size_key = f"synthetic_{len(data)}"
    else:
        data, name = uploaded_texts()
        size_key = f"upload_{name}"
    st.caption("  \n".join(plain(line) for line in data.load_report()))
    n_train, n_val, n_test = split_sizes(size_key, len(data))
    splits = make_splits(data, n_train=n_train, n_val=n_val, n_test=n_test)
except DataError as exc:
    st.error(plain(exc))
    st.stop()

splits = unlabelled_texts(splits)
sizes = sizes_text(splits)
info = describe_splits(source if source != "upload" else name, name, data, splits)
if splits.unlabelled:
    info["unlabelled"] = len(splits.unlabelled)
current = current_dataset()
if current is not None and current.info == info:
    st.success(f"In use for training: {plain(info['description'])}.", icon=":material/check_circle:")
    st.page_link(TRAIN_PAGE, label="Go to the Train page", icon=":material/model_training:")
elif st.button(f"Use this data for training: {sizes}", type="primary", key="use_data"):
    use_dataset(Dataset(splits, info))
    st.rerun()

st.subheader("Preview (training split)")
st.dataframe(preview_columns(splits.train), height=260,
             column_config={"text": st.column_config.TextColumn(width="large")})
balance_col, length_col = st.columns(2)
with balance_col:
    parts = {"train": splits.train, "validation": splits.val, "test": splits.test}
    if splits.train.is_regression:
        st.plotly_chart(target_histogram_figure({k: list(v.labels) for k, v in parts.items()}, splits.train.target))
    else:
        st.plotly_chart(class_balance_figure({k: v.class_counts() for k, v in parts.items()}))
with length_col:
    show_token_lengths(splits.train.texts)
