"""Live views of a background job, shared by the Train page, the Sweep page and the sidebar."""

from __future__ import annotations

import streamlit as st

from core.progress import format_seconds


WAITING_REFRESH = 3.0  # seconds between redraws while a job waits in line: a class of waiting pages stays light
# With many sessions waiting, each waits longer between redraws, so that the pages of the whole class
# together redraw about this often (20 waiting students: each every 5 s). Their place and expected start
# change only when a run ends, and every redraw costs the server a script run and the browser a repaint.
WAITING_REDRAWS_PER_SECOND = 4.0


def waiting_pace(job) -> float:
    """Seconds between redraws of a view of `job` while it waits for its turn (see WAITING_REDRAWS_PER_SECOND)."""
    return max(WAITING_REFRESH, job.scheduler.sessions_waiting() / WAITING_REDRAWS_PER_SECOND)


def live_view_of(job, view, every: float | None) -> bool:
    """Draw `view(was_running)` as a fragment that redraws every `every` seconds while `job` runs
    (more slowly while it waits for its turn, see `waiting_pace`; not at all after it ended, or
    with `every` None); returns whether it is running. `job` may be None (nothing drawn)."""
    running = job is not None and not job.done
    if job is None:
        return running
    waiting = running and job.waiting() is not None

    def draw(was_running: bool) -> None:
        if waiting and not job.done and job.waiting() is None:
            st.rerun()  # its turn came: redraw the page once, now at the live pace
        view(was_running)

    pace = (max(every, waiting_pace(job)) if waiting else every) if running and every else None
    st.fragment(run_every=pace)(draw)(running)
    return running


def live_then_setup(job, view, every: float, setup, setup_title: str, folded_title: str, key: str) -> None:
    """A page's live view of its last job (see `live_view_of`), then `setup(running)`, the form that
    sets up the next job.

    With no job the form is the page; after one ended it follows a divider and `setup_title`. While
    the job runs or waits, Start cannot be pressed, so the form is folded into an expander titled
    `folded_title` and drawn only once opened: in a class, most pages show a waiting job, and a
    folded form spares each page switch most of its work (bench/page_cost.py).
    """
    running = live_view_of(job, view, every)
    if job is None:
        setup(running)
        return
    st.divider()
    if not running:
        st.subheader(setup_title)
        setup(running)
        return
    # Folded again after a page switch (Streamlit forgets the state of widgets a run did not draw).
    folded = st.expander(folded_title, icon=":material/tune:", key=key, on_change="rerun")
    if folded.open:
        with folded:
            setup(running)


def progress_with_cancel(job, label: str, key: str) -> None:
    """'Run k of N: ...' as a progress bar (or, while it waits for its turn, its place in the server's
    line), and a Cancel button (or, once pressed, what cancelling does)."""
    waiting = job.waiting()
    if waiting is not None:
        st.info(queue_words(waiting, job.scheduler.clock()), icon=":material/hourglass_top:")
    else:
        position = job.position()
        st.progress(position.fraction, text=position.words())
    if not job.cancel_requested and st.button(label, icon=":material/stop_circle:", key=key):
        job.cancel()
    if job.cancel_requested:
        st.warning("Cancelling: the current run stops after its current batch; the runs still queued will not start.")


def queue_words(waiting, now: float) -> str:
    """'Waiting for its turn: 3rd in line; expected to start in about 40 s and to be done in about 2 min 10 s.'"""
    ordinal = {1: "next", 2: "2nd in line", 3: "3rd in line"}.get(waiting.place, f"{waiting.place}th in line")
    return (f"Waiting for its turn on this server ({ordinal}): expected to start in about "
            f"{format_seconds(max(waiting.start - now, 0))} and to be done in about "
            f"{format_seconds(max(waiting.end - now, 0))}. Earlier work on this server trains first.")


def progress_caption(job) -> None:
    """The compact form for the sidebar: 'Run k of N: **what**' and a bar, or its place in line."""
    waiting = job.waiting()
    if waiting is not None:
        st.caption(queue_words(waiting, job.scheduler.clock()))
        return
    position = job.position()
    st.caption(position.words(bold=True))
    st.progress(position.fraction)
