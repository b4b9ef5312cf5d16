"""Managing runs on the Results page: name, publish for everyone, delete, clear.

A session may change its own runs and the runs it published; published runs of others are read-only
(core.workspace enforces it, this only offers what is allowed)."""

from __future__ import annotations

import streamlit as st

from core import workspace
from core.errors import LabError
from core.saved_runs import SavedRun
from core.store import rename_run
from ui.safe import plain
from ui.state import runs_root, session_id


def manage_runs(runs: dict[str, SavedRun]) -> None:
    """An expander to rename, publish and delete the runs this session may change."""
    root, session = runs_root(), session_id()
    mine = {name: run for name, run in runs.items() if workspace.may_change(root, session, run.folder)}
    own = {name: run for name, run in mine.items() if workspace.publication(run.folder) is None}
    if not mine:
        return
    with st.expander("Name, publish or delete runs"):
        _rename(mine)
        if own:
            _publish(own)
        _delete(mine, len(own))


def _rename(mine: dict[str, SavedRun]) -> None:
    run_col, name_col, button_col = st.columns([2, 3, 1], vertical_alignment="bottom")
    chosen = run_col.selectbox("Run", list(mine), key="rename_run")
    new_name = name_col.text_input("New name (empty: its strategy id)", max_chars=80, key="rename_text")
    if button_col.button("Save name", key="rename_save"):
        rename_run(mine[chosen].folder, new_name)
        st.rerun()


def _publish(own: dict[str, SavedRun]) -> None:
    st.markdown("**Publish for everyone on this server** (a class sees them on Results and Playground at once, "
                "read-only; your copies stay yours)")
    runs_col, title_col, button_col = st.columns([3, 2, 1], vertical_alignment="bottom")
    chosen = runs_col.multiselect("Runs to publish", list(own), default=list(own), key="publish_runs")
    title = title_col.text_input("Title", max_chars=80, key="publish_title", placeholder="e.g. Lesson 1: RT, 1,000 examples")
    if button_col.button("Publish", key="publish_save", disabled=not chosen, icon=":material/share:"):
        copies = workspace.publish(runs_root(), session_id(), [own[name].folder for name in chosen], title)
        st.success(f"Published {len(copies)} run(s): everyone on this server sees them now.")


def _delete(mine: dict[str, SavedRun], n_own: int) -> None:
    st.markdown("**Delete**")
    run_col, button_col, clear_col = st.columns([3, 1, 2], vertical_alignment="bottom")
    chosen = run_col.selectbox("Run to delete", list(mine), key="delete_run")
    if button_col.button("Delete", key="delete_one", icon=":material/delete:"):
        try:
            workspace.delete_run(runs_root(), session_id(), mine[chosen].folder)
        except LabError as exc:
            st.error(plain(exc))
        else:
            st.rerun()
    if n_own and clear_col.button(f"Delete all {n_own} of my unpublished runs", key="clear_own"):
        workspace.clear_session(runs_root(), session_id())
        st.rerun()
