"""Streamlit helpers shared by the pages: session state, the sidebar, widgets and run selection.

This is the only place besides `app.py` and `pages/` that imports Streamlit; `core` never does.
"""
