"""Data: choose labelled texts, look at them, and split them into train / validation / test."""

import dataclasses

import streamlit as st

from core import estimate
from core.charts import class_balance_figure, target_histogram_figure, token_length_figure, truncated_percent
from core.columns import detect_columns, from_frame
from core.errors import DataError, LabError
from core.lesson import LABEL_NOISE_MAX, LABEL_NOISE_STEP, SYNTHETIC_SIZES, DataChoice
from core.models import DEFAULT_MODEL
from core.sources import BUNDLED, load_unlabelled
from core.splits import sizes_text
from core.synthetic import DIFFICULTIES
from core.tables import FORMATS, read_table
from core.texts import LabeledTexts
from ui.datasets import (DIFFICULTY_KEY, NOISE_KEY, SOURCE_KEY, SYNTHETIC_SIZE_KEY, build_dataset, default_sizes,
                         load_choice, size_key, size_keys, use_data)
from ui.hyperparams import max_length_input
from ui.safe import plain
from ui.setup import fixed_caption
from ui.state import TRAIN_PAGE, current_dataset, kept, kept_value, lesson_hides, set_kept

SOURCES = {"rotten_tomatoes": "Rotten Tomatoes: 8,530 short review sentences (fast on a CPU)",
           "imdb": "IMDb: 25,000 long movie reviews",
           "synthetic": "Synthetic reviews: generated, with adjustable difficulty and label noise",
           "upload": f"Your own file ({', '.join(FORMATS)})"}
TASK_CHOICES = {"auto": "auto (detect from the values)", "classification": "classification (labels)",
                "regression": "regression (a number)"}
UPLOAD_KEY = "uploaded_table"  # (file id, file name, table): the table survives page switches
FIXED = lesson_hides("data")  # a lesson link fixed the data: its kept values are used, no inputs drawn


def synthetic_choice() -> DataChoice:
    """Generated reviews with the size, difficulty and noise chosen here."""
    default = DataChoice()
    if FIXED:
        return DataChoice("synthetic", synthetic_size=int(kept_value(SYNTHETIC_SIZE_KEY, default.synthetic_size)),
                          difficulty=kept_value(DIFFICULTY_KEY, default.difficulty),
                          label_noise=kept_value(NOISE_KEY, default.label_noise))
    size_col, difficulty_col, noise_col = st.columns(3)
    size = size_col.number_input("Number of reviews", min_value=SYNTHETIC_SIZES[0], max_value=SYNTHETIC_SIZES[1],
                                 step=100, **kept(SYNTHETIC_SIZE_KEY, default.synthetic_size))
    difficulty = difficulty_col.selectbox(
        "Difficulty", DIFFICULTIES, **kept(DIFFICULTY_KEY, default.difficulty),
        help="easy: every sentence agrees with the verdict. medium: sometimes one aside disagrees. "
             "hard: several sentences contradict the final verdict.")
    noise = noise_col.slider("Label noise", 0.0, LABEL_NOISE_MAX, step=LABEL_NOISE_STEP,
                             **kept(NOISE_KEY, default.label_noise),
                             help="Share of labels flipped at random: no model can score above 1 minus this.")
    return DataChoice("synthetic", synthetic_size=int(size), difficulty=difficulty, label_noise=noise)


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


def split_sizes(key: str, n_rows: int) -> tuple[int, int, int]:
    """Training, validation (0 = 20% of training) and test sizes; defaults depend on the data's size."""
    train_key, val_key, test_key = size_keys(key)
    default_train, default_val, default_test = default_sizes(key, n_rows)
    if FIXED:
        return (int(kept_value(train_key, default_train)), int(kept_value(val_key, default_val)),
                int(kept_value(test_key, default_test)))
    train_col, val_col, test_col = st.columns(3)
    n_train = train_col.number_input("Training examples", min_value=0, step=100, **kept(train_key, default_train),
                                     help="The texts the models learn from.")
    n_val = val_col.number_input("Validation examples (0 = 20% of training)", min_value=0, step=50,
                                 **kept(val_key, default_val),
                                 help="Used to pick the best epoch and to stop early; never for the final score.")
    n_test = test_col.number_input("Test examples", min_value=0, step=100, **kept(test_key, default_test),
                                   help="Held out and scored once at the end: the number the Results page compares.")
    return int(n_train), int(n_val), int(n_test)


def linkable(choice: DataChoice | None, key: str, n_rows: int, sizes: tuple[int, int, int]) -> DataChoice | None:
    """`choice` with its sizes (None where they are the defaults, so a lesson link stays short)."""
    if choice is None:
        return None
    default_train, _, default_test = default_sizes(key, n_rows)
    n_train, n_val, n_test = sizes
    return dataclasses.replace(choice, n_train=None if n_train == default_train else n_train, n_val=n_val,
                               n_test=None if n_test == default_test else n_test)


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


def unlabelled_texts(box) -> tuple[str, ...]:
    """Optionally, a file of unlabelled texts of the same domain that `domain_adapt` pre-trains on."""
    with box:
        upload = st.file_uploader("A table with a text column; labels are not needed", key="upload_unlabelled",
                                  type=[fmt.lstrip(".") for fmt in FORMATS],
                                  help="The domain adaptation strategy reads them (with the training texts) in its "
                                       "masked-word phase before fine-tuning. Validation and test texts are left out.")
        if upload is None:
            return ()
        try:
            return load_unlabelled(upload)
        except DataError as exc:
            st.error(plain(exc))
            return ()


def preview_columns(train: LabeledTexts, rows: int = 50) -> dict:
    """The first training rows: text, then each target as its class name or number."""
    table = {"text": train.texts[:rows]}
    for column in train.columns:
        name = "label" if not train.others and not column.is_regression else column.target
        table[name] = list(column.labels[:rows]) if column.is_regression else \
            [column.label_names[i] for i in column.labels[:rows]]
    return table


st.title("Data")
fixed_note = st.empty()
if FIXED:
    source = kept_value(SOURCE_KEY, DataChoice().source)
else:
    source = st.radio("Labelled texts", list(SOURCES), format_func=SOURCES.get, **kept(SOURCE_KEY, DataChoice().source))
try:
    if source == "upload":
        choice = None
        data, name = uploaded_texts()
    else:
        choice = synthetic_choice() if source == "synthetic" else DataChoice(source)
        with st.spinner("Reading the bundled reviews..." if source in BUNDLED else "Generating reviews..."):
            data, name = load_choice(choice)
    key = size_key(source, data, name)
    st.caption("  \n".join(plain(line) for line in data.load_report()))
    sizes = split_sizes(key, len(data))
    dataset = build_dataset(source, name, data, *sizes)
except DataError as exc:
    st.error(plain(exc))
    st.stop()

if not FIXED:  # a lesson that fixed the data fixes it whole
    unlabelled_box = st.expander("Unlabelled texts of the same domain (optional, for continued pre-training)")
    if unlabelled := unlabelled_texts(unlabelled_box):
        dataset = build_dataset(source, name, data, *sizes, unlabelled=unlabelled)
        left_out = len(unlabelled) - len(dataset.splits.unlabelled)
        unlabelled_box.caption(f"{len(dataset.splits.unlabelled):,} unlabelled texts" + (
            f"; {left_out:,} left out (empty, repeated, or validation / test texts)" if left_out else "") + ".")
if FIXED:
    with fixed_note:
        fixed_caption("data", dataset.description)
splits = dataset.splits
current = current_dataset()
if current is not None and current.info == dataset.info:
    st.success(f"In use for training: {plain(dataset.description)}.", icon=":material/check_circle:")
    st.page_link(TRAIN_PAGE, label="Go to the Train page", icon=":material/model_training:")
elif st.button(f"Use this data for training: {sizes_text(splits)}", type="primary", key="use_data"):
    use_data(dataset, linkable(choice, key, len(data), sizes))
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
