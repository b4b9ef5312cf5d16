"""Transfer Learning Lab: the Streamlit frame. Registers the pages, draws the shared sidebar, runs
the page the user chose. Start it with `streamlit run app.py`."""

import time

began = time.perf_counter()  # this run of the script (ui.page_log times it when asked to)

import core  # noqa: F401,E402 - first, so its OpenMP setting is in place before torch loads
import streamlit as st  # noqa: E402
# Streamlit compiles this emoji catalogue on the first alert whose text is not plain ASCII (the
# Guide has one). Loaded here, on the first run, rather than during a page switch: while a job
# trains, compiling it took 0.5 s and set off a 0.4 s garbage collection.
import streamlit.emojis  # noqa: F401

from ui.lesson import open_session
from ui.page_log import logged_page_run
from ui.sidebar import render_sidebar
from ui.state import DATA_PAGE, GUIDE_PAGE, HOME_PAGE, PLAYGROUND_PAGE, RESULTS_PAGE, SWEEP_PAGE, TRAIN_PAGE

st.set_page_config(page_title="Transfer Learning Lab", page_icon=":material/school:", layout="wide")

TRAIN_URL = "train"
page = st.navigation([
    st.Page(HOME_PAGE, title="Home", icon=":material/home:", default=True),
    st.Page(DATA_PAGE, title="Data", icon=":material/dataset:"),
    st.Page(TRAIN_PAGE, title="Train", icon=":material/model_training:", url_path=TRAIN_URL),
    st.Page(RESULTS_PAGE, title="Results", icon=":material/leaderboard:"),
    st.Page(SWEEP_PAGE, title="Sweep", icon=":material/stacked_line_chart:"),
    st.Page(PLAYGROUND_PAGE, title="Playground", icon=":material/edit_note:"),
    st.Page(GUIDE_PAGE, title="Guide", icon=":material/menu_book:"),
])
open_session(page)  # first run: a lesson link's setup, or the default data, ready to train
render_sidebar(live=page.url_path != TRAIN_URL)
logged_page_run(page, began)
