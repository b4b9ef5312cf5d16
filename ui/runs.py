"""Which runs a page compares: this session's own runs plus the runs published for everyone.

Only finished runs are saved, so a run still training never shows up here and its half-trained
model is never used for predictions.
"""

from __future__ import annotations


import streamlit as st

from core import workspace
from core.predict import Predictor, load_predictor
from core.results import RunResult
from core.saved_runs import SavedRun, unique_names
from ui.state import current_job, kept, kept_value, runs_root, session_id, set_kept

PICKED_KEY = "published_runs_picked"
SEEN_KEY = "published_runs_seen"  # published runs this session has already been offered


def session_runs() -> list[SavedRun]:
    """This session's finished runs, in the order they finished."""
    return workspace.own_runs(runs_root(), session_id())


def unfinished_results() -> list[RunResult]:
    """Failed and cancelled runs of the current job (they are not saved, so they only live here)."""
    job = current_job()
    return [result for result in list(job.results) if not result.ok] if job else []


def saved_run_picker() -> list[SavedRun]:
    """A multiselect of the runs published for everyone: all of them are shown unless the user takes
    some out, and a run published while the page is open joins at once."""
    published = workspace.published_runs(runs_root())
    by_folder = {str(run.folder): run for run in published}
    seen = set(kept_value(SEEN_KEY, []))
    fresh = [folder for folder in by_folder if folder not in seen]  # published since this session last looked
    picked = [folder for folder in kept_value(PICKED_KEY, []) if folder in by_folder] + fresh
    set_kept(PICKED_KEY, picked)  # runs deleted from disk since they were picked would make the widget fail
    set_kept(SEEN_KEY, list(by_folder))
    chosen = st.multiselect(
        f"Published runs ({len(published)})", list(by_folder), **kept(PICKED_KEY, []),
        format_func=lambda folder: _published_label(by_folder[folder]),
        help="Runs someone published for everyone on this server (a teacher's comparison, say). They are "
             "read-only here; your own runs are always shown and nobody else sees them unless you publish them.",
        placeholder="Pick published runs to compare" if published else "Nothing published on this server yet")
    return [by_folder[folder] for folder in chosen]


def _published_label(run: SavedRun) -> str:
    record = workspace.publication(run.folder)
    return f"{record.title}: {run.label}" if record and record.title else run.label


def runs_by_name(picked: list[SavedRun]) -> dict[str, SavedRun]:
    """This session's runs and the picked published ones, under unique display names."""
    own = session_runs()
    names = [run.result.name or run.result.strategy for run in own] + \
        [f"{run.result.name or run.result.strategy} (published)" for run in picked]
    return dict(zip(unique_names(names), own + picked))


@st.cache_resource(max_entries=16, show_spinner="Loading the saved model...")
def cached_predictor(run_folder: str) -> Predictor:
    """A saved run's model, loaded once per server process (keyed by its folder)."""
    return load_predictor(run_folder)
