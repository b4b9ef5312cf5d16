"""The sidebar every page shares: the current data and this session's training job."""

from __future__ import annotations

import streamlit as st

from core.progress import progress_of
from ui.live import live_view_of, progress_caption
from ui.interrupted import interrupted_notice
from ui.state import DATA_PAGE, TRAIN_PAGE, current_dataset, current_job, housekeeping, remember_session
from ui.safe import plain

JOB_STATUS_WORDS = {"finished": "Training finished", "cancelled": "Training cancelled", "failed": "Training stopped"}


def render_sidebar(live: bool = True) -> None:
    """Data and job status under the page menu; the status redraws itself while the job runs if `live`
    (not on the Train page, whose own live view shows the same and redraws the whole app at the end)."""
    remember_session()
    housekeeping()
    with st.sidebar:
        st.markdown("**Data**")
        dataset = current_dataset()
        if dataset is None:
            st.caption("None chosen yet.")
            st.page_link(DATA_PAGE, label="Choose data", icon=":material/dataset:")
        else:
            st.caption(plain(dataset.description))
        st.markdown("**Training**")
        interrupted_notice()
        job = current_job()
        if job is None:
            st.caption("No training started in this session.")
        # Refresh only while a job runs; a finished job's status does not change.
        live_view_of(job, _job_status, every=2.0 if live else None)


def _job_status(was_running: bool) -> None:
    job = current_job()
    if job is None:  # the session was reset while the fragment was scheduled
        return
    if job.done:
        runs = progress_of(job)
        finished = sum(run.status == "finished" for run in runs)
        st.caption(f"{JOB_STATUS_WORDS[job.status]}: {finished} of {len(runs)} runs finished.")
        if was_running:
            st.rerun()  # the whole app redraws once, so every page sees the final results
        return
    progress_caption(job)
    st.page_link(TRAIN_PAGE, label="Watch it live", icon=":material/monitoring:")
