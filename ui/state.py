"""Session state in one place: which keys exist, what they hold, and the guard pages start with.

Everything a browser session owns lives in `st.session_state`, so two sessions never share a
dataset, a job or a runs folder. The training thread never reads or writes any of it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core import store
from core.config import RunConfig
from core.texts import Splits
from core.jobs import Job, SweepJob
from core.vary import Vary

HOME_PAGE = "pages/home.py"
DATA_PAGE = "pages/data.py"
TRAIN_PAGE = "pages/train.py"
RESULTS_PAGE = "pages/results.py"
SWEEP_PAGE = "pages/sweep.py"
PLAYGROUND_PAGE = "pages/playground.py"
GUIDE_PAGE = "pages/guide.py"

DATASET_KEY = "dataset"
JOB_KEY = "job"
SWEEP_KEY = "sweep"
SESSION_ID_KEY = "session_id"
KEPT_PREFIX = "kept_"  # see kept()


@dataclass(frozen=True)
class Dataset:
    """The splits training will use and a JSON-ready description saved with every run."""

    splits: Splits
    info: dict  # data (source), description, n_train, n_val, n_test, labels, dropped

    @property
    def description(self) -> str:
        """One line for people: source and split sizes."""
        return self.info.get("description", "")


def current_dataset() -> Dataset | None:
    """The data chosen on the Data page, or None."""
    return st.session_state.get(DATASET_KEY)


def use_dataset(dataset: Dataset) -> None:
    """Make `dataset` the one the Train page uses (a running job keeps its own copy)."""
    st.session_state[DATASET_KEY] = dataset


def current_job() -> Job | None:
    """This session's latest training job (running or done), or None."""
    return st.session_state.get(JOB_KEY)


def start_job(configs: list[RunConfig], dataset: Dataset) -> Job:
    """Start training `configs` in a background thread; runs are saved in this session's folder."""
    job = Job(configs, dataset.splits, session_runs_root(), dataset.info).start()
    st.session_state[JOB_KEY] = job
    return job


def current_sweep() -> SweepJob | None:
    """This session's latest data-size sweep (running or done), or None."""
    return st.session_state.get(SWEEP_KEY)


def start_sweep(base: RunConfig, strategies: list[str], vary: Vary, seeds: int, dataset: Dataset,
                n_train: int | None = None) -> SweepJob:
    """Start a sweep on `dataset` in a background thread: samples of its training split, its test split fixed."""
    sweep = SweepJob(base, strategies, vary, seeds, dataset.splits, dataset.info, n_train).start()
    st.session_state[SWEEP_KEY] = sweep
    return sweep


def session_id() -> str:
    """A random id for this browser session, created on first use."""
    return st.session_state.setdefault(SESSION_ID_KEY, uuid.uuid4().hex[:12])


def session_runs_root() -> Path:
    """Where this session's runs are saved: <runs root>/<session id> (sessions never mix)."""
    return Path(store.DEFAULT_RUNS_ROOT) / session_id()


def kept(key: str, default) -> dict:
    """Keyword arguments for a widget whose value survives page switches: `st.x(..., **kept(key, v))`.

    Streamlit forgets a widget's value once a run does not draw it, and the same key on another
    page is another widget. So the value lives under 'kept_' + key: it is copied into the widget
    before the widget is drawn and back when the user changes it. Widgets never take `value=`.
    """
    stored = KEPT_PREFIX + key
    if stored not in st.session_state:
        st.session_state[stored] = default
    st.session_state[key] = st.session_state[stored]
    return {"key": key, "on_change": set_kept, "args": (key,)}


def set_kept(key: str, value=None) -> None:
    """Store a kept widget's value: `value`, or (as the widget's on_change callback) its current one."""
    st.session_state[KEPT_PREFIX + key] = st.session_state[key] if value is None else value


def kept_value(key: str, default=None):
    """A kept widget's value, also on pages that do not draw the widget."""
    return st.session_state.get(KEPT_PREFIX + key, default)


def require_dataset() -> Dataset:
    """The current dataset; without one, say what to do first and stop the page."""
    dataset = current_dataset()
    if dataset is None:
        st.info("Choose data on the Data page first: a bundled set of movie reviews, "
                "synthetic reviews, or your own file.")
        st.page_link(DATA_PAGE, label="Go to the Data page", icon=":material/dataset:")
        st.stop()
    return dataset
