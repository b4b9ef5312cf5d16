"""Which runs a page compares: this session's saved runs plus runs the user picked from disk.

Only finished runs are saved, so a run still training never shows up here and its half-trained
model is never used for predictions.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import store
from core.predict import Predictor, load_predictor
from core.results import RunResult
from core.saved_runs import SavedRun, find_saved_runs, unique_names
from ui.state import current_job, kept, kept_value, session_runs_root, set_kept

PICKED_KEY = "saved_runs_picked"


def session_runs() -> list[SavedRun]:
    """This session's finished runs, in the order they finished."""
    return sorted(find_saved_runs(session_runs_root()), key=lambda run: run.folder.name)


def unfinished_results() -> list[RunResult]:
    """Failed and cancelled runs of the current job (they are not saved, so they only live here)."""
    job = current_job()
    return [result for result in list(job.results) if not result.ok] if job else []


def saved_run_picker() -> list[SavedRun]:
    """A multiselect of runs saved by other sessions or earlier server starts (none picked at first)."""
    own = session_runs_root().resolve()
    others = [run for run in find_saved_runs(Path(store.DEFAULT_RUNS_ROOT)) if run.folder.resolve().parent != own]
    by_folder = {str(run.folder): run for run in others}
    # Runs deleted from disk since they were picked would make the widget fail.
    set_kept(PICKED_KEY, [folder for folder in kept_value(PICKED_KEY, []) if folder in by_folder])
    picked = st.multiselect(
        f"Add saved runs from disk ({len(others)} found)", list(by_folder), **kept(PICKED_KEY, []),
        format_func=lambda folder: by_folder[folder].label,
        help=f"Runs saved under '{store.DEFAULT_RUNS_ROOT}' by earlier sessions: they stay after a restart.",
        placeholder="Pick saved runs to compare" if others else "No saved runs from other sessions yet")
    return [by_folder[folder] for folder in picked]


def runs_by_name(picked: list[SavedRun]) -> dict[str, SavedRun]:
    """This session's runs and the picked ones, under unique display names."""
    own = session_runs()
    names = [run.result.name or run.result.strategy for run in own] + \
        [f"{run.result.name or run.result.strategy} (saved {run.saved_at})" for run in picked]
    return dict(zip(unique_names(names), own + picked))


@st.cache_resource(max_entries=16, show_spinner="Loading the saved model...")
def cached_predictor(run_folder: str) -> Predictor:
    """A saved run's model, loaded once per server process (keyed by its folder)."""
    return load_predictor(run_folder)
