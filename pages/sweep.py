"""Sweep: every chosen strategy trained at several values of one setting (the training size by
default; or the learning rate, epochs, max length, ...), several seeds each, all scored on the same
test split. Shows where the winner changes."""

import json
from collections import Counter

import pandas as pd
import streamlit as st

from core.charts import sweep_chart
from core.errors import LabError
from core.progress import format_seconds
from core.references import references_for
from core.sweep import best_two, estimate_sweep_seconds, parse_sizes, records_csv, summarize
from core.sweep_words import winner_sentence
from core.vary import EXAMPLES, SIZE, Vary, parse_vary, settings
from ui.hyperparams import hyperparameter_inputs, model_input
from ui.setup import build_configs, estimate_once, strategy_picker
from ui.live import live_then_setup, progress_with_cancel
from ui.state import DATA_PAGE, current_job, current_sweep, kept, require_dataset, start_sweep
from ui.safe import plain

DEFAULT_SIZES = EXAMPLES[SIZE]


def bold(strategy: str) -> str:
    """A strategy id in markdown bold, for the winner sentences."""
    return f"**{strategy}**"


def size_input(available: int, n_classes: int) -> list[int]:
    """The training sizes typed in, without those the training split cannot hold (said in place)."""
    text = st.text_input("Training sizes (comma-separated)", **kept("sweep_sizes", DEFAULT_SIZES),
                         help="Each strategy trains once per size and seed, on a stratified sample of that "
                              "many texts drawn from the training split.")
    try:
        sizes = parse_sizes(text)
    except LabError as exc:
        st.error(plain(exc))
        return []
    too_big = [size for size in sizes if size > available]
    too_small = [size for size in sizes if size < n_classes]
    if too_big:
        st.warning(f"Left out {', '.join(f'{size:,}' for size in too_big)}: the training split chosen on the "
                   f"Data page has {available:,} texts. Choose more training examples there for larger sizes.")
        st.page_link(DATA_PAGE, label="Change the data", icon=":material/dataset:")
    if too_small:
        st.warning(f"Left out {', '.join(map(str, too_small))}: every one of the {n_classes} classes needs "
                   "at least one training example.")
    kept_sizes = [size for size in sizes if n_classes <= size <= available]
    if kept_sizes and kept_sizes[-1] == available:
        st.caption(f"At {available:,} every seed trains on the whole training split, so its spread shows only "
                   "initialisation and batch order; a larger training split on the Data page gives each seed "
                   "its own sample.")
    return kept_sizes


def show_plan(configs, strategies: list[str], vary: Vary, n_train: int, seeds: int, splits) -> None:
    """How many runs the sweep is and how long it should take, measured on this machine."""
    runs = f"**{len(strategies) * len(vary.values) * seeds} runs** ({len(strategies)} strategies × " \
           f"{len(vary.values)} {'sizes' if vary.is_size else 'values'} × {seeds} seeds)"
    base = configs[0]
    seconds = estimate_once((base, tuple(strategies), vary, n_train, seeds, id(splits)),
                            lambda: estimate_sweep_seconds(splits, base, strategies, vary, seeds, n_train))
    estimate = f", **estimated time: about {format_seconds(seconds)}** on this machine" if seconds is not None else ""
    st.markdown(f"{runs}{estimate}. Early stopping can make it shorter.")


def show_failures(records) -> None:
    """One error per strategy and reason (a broken setting fails every size and seed alike)."""
    failures = Counter((r.strategy, r.reason) for r in records if r.status == "failed")
    for (strategy, reason), count in failures.items():
        st.error(f"**{strategy}** failed in {count} run{'s' if count > 1 else ''}: {plain(reason)}", icon=":material/error:")


def summary_table(summary: list[dict], vary: Vary) -> pd.DataFrame:
    """One row per strategy and value: mean ± std of test accuracy over the seeds, the highest mean marked
    (whether it is a real win or a tie, the sentences beside the table say)."""
    best = {(row["strategy"], row["value"]) for row, _ in best_two(summary)}
    column = "Training size" if vary.is_size else vary.title.capitalize()
    return pd.DataFrame([{"Strategy": row["strategy"], column: int(row["value"]) if vary.is_size else row["value"],
                          "Test accuracy (mean ± std)": f"{row['mean_accuracy']:.3f} ± {row['std_accuracy']:.3f}",
                          "Runs": row["runs"],
                          f"Highest mean at this {'size' if vary.is_size else 'value'}": (row["strategy"], row["value"])
                          in best} for row in summary])


def show_results(sweep, summary: list[dict]) -> None:
    """The chart, the table, who won at each value, and (once done) the downloads."""
    references = references_for(sweep.data_info.get("data", ""))
    st.plotly_chart(sweep_chart(summary, sweep.vary, references))
    if references and sweep.vary.is_size:
        st.caption("Stars: published results on the full training set with larger models (sources on the Guide "
                   "page), to show where the curves are heading.")
    table_col, words_col = st.columns([3, 2])
    table_col.dataframe(summary_table(summary, sweep.vary), hide_index=True,
                        column_config={"Training size": st.column_config.NumberColumn(format="localized")})
    words_col.markdown("\n".join(f"- {winner_sentence(best, second, bold, sweep.vary.setting)}"
                                  for best, second in best_two(summary)))
    if sweep.done:
        json_col, csv_col, _ = st.columns([1, 1, 3])
        json_col.download_button("Sweep (JSON)", json.dumps(sweep.payload(), indent=2), "sweep.json",
                                 "application/json", on_click="ignore", icon=":material/download:")
        csv_col.download_button("Every run (CSV)", records_csv(sweep.records), "sweep_runs.csv", "text/csv",
                                on_click="ignore", icon=":material/download:")


def values_input(setting: str, available: int, n_classes: int) -> tuple[Vary | None, int]:
    """The values to try (and, unless the size varies, the training texts per run); a problem is said
    in place and gives no values."""
    if setting == SIZE:
        sizes = size_input(available, n_classes)
        return (Vary(SIZE, tuple(sizes)) if sizes else None), max(sizes, default=0)
    values_col, size_col = st.columns([3, 1])
    text = values_col.text_input(f"Values of {setting} (comma-separated)",
                                 **kept(f"sweep_values_{setting}", EXAMPLES.get(setting, "")))
    n_train = int(size_col.number_input("Training examples per run", min_value=n_classes, max_value=available,
                                        step=100, **kept("sweep_n_train", min(1000, available))))
    try:
        return parse_vary(f"{setting}={text}"), n_train
    except LabError as exc:
        st.error(plain(exc))
        return None, n_train


def live_view(was_running: bool) -> None:
    """The sweep's progress and results so far; redrawn every 2 s while it runs (see the fragment below)."""
    sweep = current_sweep()
    if was_running and sweep.done:
        st.rerun()  # once, so the setup form below leaves its running state too
    records = sweep.records
    st.subheader("Sweep running" if not sweep.done else f"Last sweep: {sweep.status}")
    st.caption(f"Data: {plain(sweep.data_info.get('description', ''))}. Every run is scored on the same "
               f"{len(sweep.splits.test):,} test texts.")
    if not sweep.done:
        progress_with_cancel(sweep, "Cancel sweep", key="cancel_sweep")
    show_failures(records)
    if sweep.status == "failed":
        st.error(f"The sweep stopped: {plain(sweep.error)}")
    summary = summarize(records)
    if summary:
        show_results(sweep, summary)
    elif not sweep.done:
        st.caption("The chart appears when the first run finishes.")


def setup_form(dataset, running: bool) -> None:
    """What to vary, over which values and seeds, the training settings, the plan and Start."""
    train_split = dataset.splits.train
    if train_split.is_regression or train_split.others:
        st.info("The sweep compares test accuracy of single-label classification. The data in use has "
                f"{plain(train_split.describe_targets())}: compare strategies on it on the Train page, or choose "
                "classification data on the Data page.", icon=":material/info:")
        st.stop()
    st.caption(f"Data: {plain(dataset.description)}. Samples are drawn from the {len(train_split):,} training texts; "
               "validation and test stay fixed.")
    strategies = strategy_picker("sweep_strategies", "Strategies")
    setting_col, seed_col = st.columns([3, 1])
    setting = setting_col.selectbox("What to vary", settings(), format_func=lambda name: Vary.title_of(name),
                                    **kept("sweep_setting", SIZE))
    seeds = int(seed_col.number_input("Seeds per value", min_value=1, max_value=10, step=1, **kept("sweep_seeds", 3),
                                      help="Each seed draws another sample and initialisation: the spread between "
                                           "seeds is the band around each line."))
    vary, n_train = values_input(setting, len(train_split), len(dataset.splits.label_names))
    st.markdown("**Training settings** (shared with the Train page; the varied one takes the values above)")
    model = model_input()
    configs = build_configs(strategies, model, hyperparameter_inputs(strategies)) if strategies else []
    if not strategies:
        st.warning("Choose at least one strategy.")
    job = current_job()
    if job is not None and not job.done:
        st.info("A training job is running too: both share this machine, so both take longer.")
    start_col, plan_col = st.columns([1, 3], vertical_alignment="center")
    start = start_col.button("Start sweep", type="primary", disabled=running or not configs or not vary,
                             icon=":material/play_arrow:", key="start_sweep",
                             help="Wait for the current sweep to finish, or cancel it." if running
                             else "The sweep runs in the background: you can visit other pages meanwhile.")
    if configs and vary and not running:
        with plan_col:  # drawn after the button: timing the machine takes a few seconds the first time
            show_plan(configs, strategies, vary, n_train, seeds, dataset.splits)
    if start:
        try:
            start_sweep(configs[0], strategies, vary, seeds, dataset, None if vary.is_size else n_train)
        except LabError as exc:  # over a limit of this server: say which, queue nothing
            st.error(plain(exc), icon=":material/block:")
        else:
            st.rerun()


st.title("Sweep: change one setting, see the effect")
st.markdown("Each strategy trains at several values of one setting, several times with different seeds, and "
            "every run is scored on the same held-out test split. The classic question: how many labelled texts "
            "before fine-tuning beats a frozen encoder? Or: which learning rate, how many epochs, how much "
            "label noise can each strategy take?")
dataset = require_dataset()
sweep = current_sweep()
live_then_setup(sweep, live_view, every=2.0, setup=lambda running: setup_form(dataset, running),
                setup_title="Set up a new sweep", key="sweep_next_setup",
                folded_title="Set up the next sweep (Start works again when this sweep ends)")
