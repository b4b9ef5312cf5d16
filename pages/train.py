"""Train: choose strategies and hyperparameters, see the time it will take, launch, watch live."""

import streamlit as st

from core import training
from core.charts import loss_figure, val_score_figure
from core.config import RunConfig
from core.errors import LabError
from core.progress import RunProgress, format_seconds, progress_of
from ui.figures import progress_key, remembered
from ui.hyperparams import hyperparameter_inputs, model_input
from ui.lesson import share_link
from ui.setup import TRAIN_STRATEGIES_KEY, build_configs, estimate_once, strategy_list, strategy_picker
from ui.live import live_then_setup, progress_with_cancel
from ui.state import RESULTS_PAGE, current_job, require_dataset, start_job
from ui.safe import plain


def show_estimate(configs: list[RunConfig], splits) -> None:
    """Measured time per run and in total, before anything is launched."""
    seconds = estimate_once((tuple(configs), id(splits)), lambda: training.estimate_queue_seconds(configs, splits))
    if seconds is None:
        return
    parts = ", ".join(f"{config.strategy} {format_seconds(s)}" for config, s in zip(configs, seconds))
    st.markdown(f"**Estimated time: about {format_seconds(sum(seconds))}** ({parts}), measured on this "
                "machine. Early stopping can make it shorter.")


def describe_run(run: RunProgress) -> str:
    """One status line for one run of the queue."""
    if run.status == "finished":
        note = f" ({plain(run.reason)})" if run.reason else ""
        return f"**{run.strategy}**: finished, test {run.headline} in {format_seconds(run.train_seconds)}{note}"
    if run.status == "running" and run.total_steps:
        return f"**{run.strategy}**: training, epoch {run.epoch} of {run.epochs}, step {run.step} of {run.total_steps}"
    if run.status == "running":
        return f"**{run.strategy}**: preparing (loading the model, encoding or fitting)"
    return f"**{run.strategy}**: {run.status}"


def show_curves(job, runs: list[RunProgress]) -> None:
    """Loss per step and the validation score per epoch, strategies overlaid."""
    loss_col, accuracy_col = st.columns(2)
    with loss_col:
        if any(run.losses for run in runs):
            st.plotly_chart(remembered("live loss", progress_key(job, runs), lambda: loss_figure(runs)))
        else:
            st.caption("The training loss curve appears after the first training step.")
    with accuracy_col:
        if any(run.epoch_metrics for run in runs):
            st.plotly_chart(remembered("live score", progress_key(job, runs), lambda: val_score_figure(runs)))
        else:
            st.caption("The validation score (accuracy, or R² for numbers) appears after the first epoch.")


def live_view(was_running: bool) -> None:
    """The job's progress; redrawn every second while it runs (see the fragment below)."""
    job = current_job()
    if was_running and job.done:
        st.rerun()  # once, so the page and the sidebar leave live mode together
    runs = progress_of(job)
    st.subheader("Training" if not job.done else f"Last training: {job.status}")
    st.caption(f"Data: {plain(job.data_info.get('description', ''))}")
    if not job.done:
        progress_with_cancel(job, "Cancel training", key="cancel_training")
    for run in runs:
        if run.status == "failed":
            st.error(f"**{run.strategy}** failed: {plain(run.reason)}", icon=":material/error:")
        else:
            st.markdown(describe_run(run))
    if job.status == "failed":
        st.error(f"The training job stopped: {plain(job.error)}")
    show_curves(job, runs)
    if job.done and any(run.status == "finished" for run in runs):
        st.page_link(RESULTS_PAGE, label="Compare the results", icon=":material/leaderboard:")


def setup_form(dataset, running: bool) -> None:
    """Strategies, model and hyperparameters, the time estimate, Start, and the lesson link."""
    st.caption(f"Data: {plain(dataset.description)}")
    strategies = strategy_picker(TRAIN_STRATEGIES_KEY, "Strategies to compare")
    strategy_list(strategies)
    model = model_input()
    values = hyperparameter_inputs(strategies)
    configs = build_configs(strategies, model, values) if strategies else []
    if not strategies:
        st.warning("Choose at least one strategy.")
    launch_col, estimate_col = st.columns([1, 3], vertical_alignment="center")
    start = launch_col.button(
        "Start training", type="primary", disabled=running or not configs, icon=":material/play_arrow:",
        key="start_training", help="Wait for the current training to finish, or cancel it." if running
        else "Training runs in the background: you can visit other pages meanwhile.")
    if configs and not running:
        with estimate_col:  # drawn after the button: timing the machine takes a few seconds the first time
            show_estimate(configs, dataset.splits)
    if start:
        try:
            start_job(configs, dataset)
        except LabError as exc:  # over a limit of this server: say which, queue nothing
            st.error(plain(exc), icon=":material/block:")
        else:
            st.rerun()
    share_link(strategies, model, values)


st.title("Train")
dataset = require_dataset()
job = current_job()
live_then_setup(job, live_view, every=1.0, setup=lambda running: setup_form(dataset, running),
                setup_title="Set up a new comparison", key="train_next_setup",
                folded_title="Set up the next comparison (Start works again when this training ends)")
