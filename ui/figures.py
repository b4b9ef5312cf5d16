"""Plotly figures kept per session and rebuilt only when what they show has changed.

Building a Plotly figure is the slow part of drawing one: 12 ms for four lines of 300 points once
Plotly is warm, 30 ms and more before; handing Streamlit a figure that is already built costs about
1 ms (it copies and serialises it). With ten students on one server, building the live curves and
the Results charts again on every redraw and page switch was most of the server's page time
(py-spy, `bench/classroom.py` with 10 sessions: 60% of the script threads' samples in Plotly).
"""

from __future__ import annotations

from typing import Callable, Hashable

import streamlit as st

FIGURES_KEY = "figures"  # figure name -> (key of what it shows, the figure)


def remembered(name: str, key: Hashable, build: Callable):
    """The figure called `name` in this session, built by `build()` unless it was last built for the same `key`."""
    memo = st.session_state.setdefault(FIGURES_KEY, {})
    kept = memo.get(name)
    if kept is not None and kept[0] == key:
        return kept[1]
    figure = build()
    memo[name] = (key, figure)
    return figure


def progress_key(job, runs) -> tuple:
    """What the live curves of `job`'s `runs` (core.progress.RunProgress) show: each run's points so far."""
    return (job.id, *((run.strategy, len(run.losses), len(run.epoch_metrics)) for run in runs))


def runs_key(runs: dict) -> tuple:
    """What the charts of saved runs (name -> core.saved_runs.SavedRun) show: their names and folders."""
    return tuple((name, str(run.folder)) for name, run in runs.items())
