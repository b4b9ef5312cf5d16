"""Lessons by link, in the dashboard: a session's first run applies a link's query parameters (and,
link or not, makes the data ready to train on); the Train page shares the current setup as a link.

The link holds only the setup (core.lesson): never a session id, a run or a file. Query parameters
are applied once per browser session and stay in the address bar: reloading the page starts a new
session, which opens the lesson again, as a first visit would.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import streamlit as st

from core.config import RunConfig
from core.errors import ConfigError, LabError
from core.lesson import (HIDEABLE, STREAMLIT_PARAMS, DataChoice, Lesson, from_query, ignored_sentence, link_query,
                         without_unlinkable)
from ui.datasets import (DIFFICULTY_KEY, NOISE_KEY, SOURCE_KEY, SYNTHETIC_SIZE_KEY, current_choice, dataset_of,
                         size_keys, use_data)
from ui.hyperparams import KEY_PREFIX
from ui.safe import plain
from ui.setup import TRAIN_STRATEGIES_KEY
from ui.state import LESSON_HIDDEN_KEY, TRAIN_PAGE, current_dataset, lesson_hides, set_kept

TRAIN_PATH = Path(TRAIN_PAGE).stem  # the Train page's url_path ("train")
OPENED_KEY = "lesson_opened"  # set on a session's first run: links are applied once
NOTICE_KEY = "lesson_notice"  # (page the link landed on, the sentence of what it could not use)


def open_session(page) -> None:
    """On a session's first run, apply the link's query parameters and make its data, or the default
    data, the one training uses; a lesson link to the app's address then opens the Train page. While
    the user stays on the page the link opened, one sentence says what the link held that could not
    be used. `page` is what st.navigation returned."""
    if not st.session_state.get(OPENED_KEY):
        params = st.query_params.to_dict()
        with st.spinner("Preparing the data..."):
            sentence = _apply(params)
        st.session_state[OPENED_KEY] = True  # only now: a run interrupted while applying applies again
        # A lesson link names the app's address (see lesson_url): it opens on the Train page, its
        # parameters kept in the address bar (a reload is a new session, which opens the lesson again).
        to_train = page.url_path == "" and any(name not in STREAMLIT_PARAMS for name in params)
        if sentence:
            st.session_state[NOTICE_KEY] = (TRAIN_PATH if to_train else page.url_path, sentence)
        if to_train:
            st.switch_page(TRAIN_PAGE, query_params=params)
    landed, sentence = st.session_state.get(NOTICE_KEY, (None, ""))
    if sentence and page.url_path == landed:
        st.warning(plain(sentence), icon=":material/link_off:")


def _apply(params: dict) -> str:
    """Apply a link (no parameters: a plain first visit); returns the sentence of what was ignored."""
    lesson, ignored = from_query(params) if params else (Lesson(), [])
    size_key = None
    if current_dataset() is None:
        lesson, size_key, more = _use_lesson_data(lesson)
        ignored += more
    if params:
        _keep(lesson, size_key)
    return ignored_sentence(ignored)


def _use_lesson_data(lesson: Lesson) -> tuple[Lesson, str | None, list[str]]:
    """Build and use the lesson's data, falling back to its default sizes, then to the default data,
    each fallback said in words; returns the lesson as used and the key its sizes are kept under.
    Nothing is used when even the default data cannot be read (the pages then ask for data)."""
    ignored, tried = [], set()
    unsized = dataclasses.replace(lesson.data, n_train=None, n_val=0, n_test=None)
    for choice, what in ((lesson.data, "the split sizes"), (unsized, "the data choice"), (DataChoice(), None)):
        if choice in tried:
            continue
        tried.add(choice)
        try:
            dataset, size_key = dataset_of(choice)
        except LabError as exc:
            if what:
                ignored.append(f"{what} ({str(exc).rstrip('.')})")
            continue
        use_data(dataset, choice)
        return dataclasses.replace(lesson, data=choice), size_key, ignored
    return dataclasses.replace(lesson, data=DataChoice()), None, ignored


def _keep(lesson: Lesson, size_key: str | None) -> None:
    """The lesson's values as the pages' kept widget values, and its hidden controls."""
    data = lesson.data
    values = {SOURCE_KEY: data.source}
    if data.source == "synthetic":
        values |= {SYNTHETIC_SIZE_KEY: data.synthetic_size, DIFFICULTY_KEY: data.difficulty,
                   NOISE_KEY: data.label_noise}
    if size_key:
        for kept_key, size in zip(size_keys(size_key), (data.n_train, data.n_val, data.n_test)):
            if size is not None:
                values[kept_key] = size
    values[TRAIN_STRATEGIES_KEY] = list(lesson.strategies)
    defaults = RunConfig()
    for field in dataclasses.fields(RunConfig):
        if field.name != "strategy" and getattr(lesson.config, field.name) != getattr(defaults, field.name):
            values[KEY_PREFIX + field.name] = getattr(lesson.config, field.name)
    for kept_key, value in values.items():
        set_kept(kept_key, value)
    st.session_state[LESSON_HIDDEN_KEY] = lesson.hidden


def share_link(strategies: list[str], model: str, values: dict) -> None:
    """The Train page's expander: the current setup as a link, with the controls students will not see."""
    with st.expander("Share this setup as a lesson link", icon=":material/share:"):
        st.caption("Whoever opens the link gets this data, these strategies and settings, ready to train: "
                   "a lesson for a class. It holds the setup only, never your session or your runs.")
        hide_columns = st.columns(len(HIDEABLE))
        hidden = tuple(group for column, (group, words) in zip(hide_columns, HIDEABLE.items())
                       if column.checkbox(f"Hide {words}", key=f"share_hide_{group}", value=lesson_hides(group)))
        try:
            config = RunConfig(model=model, **values)
        except ConfigError:
            st.warning("Correct the settings above first: the link is made from valid settings only.")
            return
        if not strategies:
            st.warning("Choose at least one strategy first.")
            return
        data = current_choice()
        lesson, notes = without_unlinkable(Lesson(data or DataChoice(source="upload"), strategies, config, hidden))
        dataset = current_dataset()
        if data is not None and dataset is not None and dataset.info.get("unlabelled"):
            notes.append("the unlabelled texts are not in the link")
        st.code(lesson_url(lesson), language=None, wrap_lines=True)
        if notes:
            st.caption(plain("Note: " + "; ".join(notes) + "."))
        if hidden:
            names = [HIDEABLE[group] for group in hidden]
            listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            st.caption(f"Students will see {plain(listed)} as fixed values, with no inputs to change them.")


def lesson_url(lesson: Lesson) -> str:
    """The app's address with the lesson's query parameters (core.lesson.link_query).

    The app's address, not the Train page's: on a server that has just started, Streamlit runs a
    page's own address without app.py (the script that applies links) until app.py has run once.
    A link to the app's address always runs it, and it then opens the Train page."""
    return f"{app_address(st.context.url)}?{link_query(lesson)}"


def app_address(train_url: str | None) -> str:
    """The app's address from the Train page's ('' outside a browser, where there is none)."""
    url = train_url or ""
    return url[:-len(TRAIN_PATH)] if url.endswith("/" + TRAIN_PATH) else url
