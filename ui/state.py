"""Session state in one place: which keys exist, what they hold, and the guard pages start with.

Everything a browser session owns lives in `st.session_state`, so two sessions never share a
dataset, a job or a runs folder. The training thread never reads or writes any of it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core import journal, scheduler, store, training, workspace
from core.config import RunConfig
from core.lab_settings import LabSettings, check_session_limits, load_settings
from core.sweep import cell_seconds
from core.texts import Splits
from core.jobs import Job, SweepJob, configured_executor
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
SESSION_COOKIE = "tl_lab_session"
ESTIMATES_KEY = "estimates"  # (configs, splits id) -> seconds per run: ui.setup times a queue once per session
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


def start_job(configs: list[RunConfig], dataset: Dataset, estimates: list[float] | None = None) -> Job:
    """Queue `configs` with the server's scheduler (a background thread waits for its turn and trains);
    runs are saved in this session's folder. Raises core.errors.LimitError over a limit of this server."""
    splits = dataset.splits
    _check_limits(len(configs), len(splits.train), [config.epochs for config in configs])
    if estimates is None:
        estimates = st.session_state.get(ESTIMATES_KEY, {}).get((tuple(configs), id(splits)))
    memory = [training.estimate_run_bytes(config, splits) for config in configs]
    job = Job(configs, splits, session_runs_root(), dataset.info, session=session_id(), estimates=estimates,
              memory=memory, journal=session_runs_root()).start()
    st.session_state[JOB_KEY] = job
    return job


def current_sweep() -> SweepJob | None:
    """This session's latest data-size sweep (running or done), or None."""
    return st.session_state.get(SWEEP_KEY)


def start_sweep(base: RunConfig, strategies: list[str], vary: Vary, seeds: int, dataset: Dataset,
                n_train: int | None = None) -> SweepJob:
    """Queue a sweep on `dataset` with the server's scheduler: samples of its training split, its test
    split fixed. Raises core.errors.LimitError over a limit of this server."""
    plan_size = len(vary.values) * len(strategies) * seeds
    biggest = max(vary.values) if vary.is_size else (n_train or 0)
    _check_limits(plan_size, int(min(biggest, len(dataset.splits.train))), [base.epochs])
    estimates = cell_seconds(dataset.splits, base, strategies, vary, seeds, n_train)
    sweep = SweepJob(base, strategies, vary, seeds, dataset.splits, dataset.info, n_train, session=session_id(),
                     estimates=estimates, journal=session_runs_root()).start()
    st.session_state[SWEEP_KEY] = sweep
    return sweep


def _check_limits(new_runs: int, n_train: int, epochs: list[int]) -> None:
    queued = len(scheduler.shared().tickets(session_id()))
    check_session_limits(lab_settings(), queued, new_runs, n_train, epochs)


@st.cache_resource
def lab_settings() -> LabSettings:
    """This server's settings (core.lab_settings), read once per process."""
    return load_settings()


def session_id() -> str:
    """This browser's id: remembered in a cookie, so its runs and interrupted work are found again after
    a reload or a server restart; a new random one on a first visit. Never put in a link."""
    if SESSION_ID_KEY not in st.session_state:
        cookie = st.context.cookies.get(SESSION_COOKIE)
        st.session_state[SESSION_ID_KEY] = cookie if workspace.valid_session_id(cookie) else uuid.uuid4().hex
    return st.session_state[SESSION_ID_KEY]


def remember_session() -> None:
    """Store this session's id in a first-party cookie (30 days, this site only), once per session.

    The script holds nothing but the random hex id, so no user text reaches the page as HTML."""
    sid = session_id()
    if st.context.cookies.get(SESSION_COOKIE) != sid and not st.session_state.get("session_cookie_set"):
        st.session_state["session_cookie_set"] = True
        st.html(f"<script>document.cookie = '{SESSION_COOKIE}={sid}; path=/; max-age={30 * 86400}; "
                "SameSite=Strict';</script>", unsafe_allow_javascript=True, width=1)


def runs_root() -> Path:
    """The server's runs folder (TL_LAB_RUNS, default ./runs)."""
    return Path(store.DEFAULT_RUNS_ROOT)


def session_runs_root() -> Path:
    """Where this session's runs are saved: <runs root>/sessions/<session id> (nobody else lists them)."""
    return workspace.session_root(runs_root(), session_id())


@st.cache_resource(ttl=3600, show_spinner=False)
def housekeeping() -> int:
    """Remove old unpublished runs and keep the runs folder under its size limit (core.workspace.clean):
    when the server starts, then at most once an hour. Returns how many runs were removed. The first
    time, the training workers start too (core.process_executor), before anyone presses Start."""
    settings = lab_settings()
    configured_executor(settings)
    return len(workspace.clean(runs_root(), settings.keep_days, int(settings.runs_max_gb * 2**30)))


def interrupted_work() -> list[journal.Pending]:
    """This session's jobs that a server restart (or crash) interrupted."""
    live = {job.id for job in (current_job(), current_sweep()) if job is not None}
    return journal.pending(session_runs_root(), live)


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


LESSON_HIDDEN_KEY = "lesson_hidden"  # the controls a lesson link hid (keys of core.lesson.HIDEABLE)


def lesson_hides(control: str) -> bool:
    """Whether the lesson link this session opened hides `control` ("data", "strategies", "encoder",
    "hyperparameters"): the pages then draw no input for it and use the link's value."""
    return control in st.session_state.get(LESSON_HIDDEN_KEY, ())
