"""Setting up training, shared by the Train and Sweep pages: which strategies, their configs, and a
time estimate measured once per session."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from core.config import RunConfig
from core.errors import ConfigError, LabError
from core.lesson import HIDEABLE
from core.strategies import DEFAULT_STRATEGIES, STRATEGIES
from ui.state import ESTIMATES_KEY, kept, kept_value, lesson_hides
from ui.safe import plain

TRAIN_STRATEGIES_KEY = "train_strategies"  # the Train page's strategies (a lesson link sets them)


def strategy_picker(key: str, label: str) -> list[str]:
    """A multiselect of every registered strategy, the four classic ones chosen by default. The Train
    page's strategies, when a lesson link fixed them, are said in a caption instead."""
    if key == TRAIN_STRATEGIES_KEY:
        chosen = [s for s in kept_value(key, list(DEFAULT_STRATEGIES)) if s in STRATEGIES]
        if fixed_by_lesson("strategies", ", ".join(STRATEGIES[s].title for s in chosen)):
            return chosen
    return st.multiselect(label, list(STRATEGIES), format_func=lambda strategy_id: STRATEGIES[strategy_id].title,
                          **kept(key, list(DEFAULT_STRATEGIES)))


def strategy_list(chosen: list[str]) -> None:
    """Every strategy explained in one line, the chosen ones in bold."""
    st.markdown("\n".join(f"- {'**' + s.title + '**' if s.id in chosen else s.title}: {s.summary}"
                          for s in STRATEGIES.values()))


def build_configs(strategies: list[str], model: str, values: dict) -> list[RunConfig]:
    """One RunConfig per strategy; an invalid value is explained in place and nothing is returned."""
    try:
        return [RunConfig(strategy=strategy, model=model, **values) for strategy in strategies]
    except ConfigError as exc:
        st.error(plain(exc))
        return []


def estimate_once(key, compute: Callable):
    """`compute()` (a time estimate) once per `key` in this session; None, with the reason shown, if it fails."""
    memo = st.session_state.setdefault(ESTIMATES_KEY, {})
    if key not in memo:
        try:
            with st.spinner("Timing a few training steps on this machine (once per encoder)..."):
                memo[key] = compute()
        except LabError as exc:
            st.warning(f"No time estimate: {plain(exc)}")
            return None
    return memo[key]


def fixed_caption(group: str, value: str) -> None:
    """Say that the lesson link fixed a control (a key of core.lesson.HIDEABLE) the page does not draw."""
    st.caption(f":material/lock: The lesson link fixed {HIDEABLE[group]}: {plain(value)}.")


def fixed_by_lesson(group: str, value: str) -> bool:
    """Whether the lesson link hides `group`; if so, say what it fixed it to (see fixed_caption)."""
    if lesson_hides(group):
        fixed_caption(group, value)
        return True
    return False
