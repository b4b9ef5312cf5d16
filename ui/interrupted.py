"""Work a server restart interrupted: said once in the sidebar, with one click to queue it again."""

from __future__ import annotations

import streamlit as st

from core import journal
from core.config import RunConfig
from core.errors import LabError
from core.vary import Vary
from ui.safe import plain
from ui.state import Dataset, interrupted_work, session_runs_root, start_job, start_sweep


def interrupted_notice() -> None:
    """One warning per interrupted job with 'Queue again' and 'Dismiss'."""
    for pending in interrupted_work():
        st.warning(f"Interrupted when the server stopped: {plain(pending.words)}.", icon=":material/restart_alt:")
        again, dismiss = st.columns(2)
        if again.button("Queue again", key=f"requeue_{pending.job_id}", icon=":material/replay:"):
            try:
                requeue(pending)
            except LabError as exc:
                st.error(plain(exc))
                continue
            st.rerun()
        if dismiss.button("Dismiss", key=f"dismiss_{pending.job_id}"):
            journal.remove(session_runs_root(), pending.job_id)
            st.rerun()


def requeue(pending: journal.Pending) -> None:
    """Start the interrupted job again on the same texts and settings; its old journal entry goes."""
    dataset = Dataset(pending.splits(), pending.data_info)
    plan = pending.plan
    if pending.kind == "sweep":
        start_sweep(RunConfig.from_dict(plan["base"]), plan["strategies"], Vary(plan["setting"], tuple(plan["values"])),
                    int(plan["seeds"]), dataset, plan.get("n_train"))
    else:
        start_job([RunConfig.from_dict(config) for config in plan["configs"]], dataset)
    journal.remove(session_runs_root(), pending.job_id)
