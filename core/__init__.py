"""Transfer Learning Lab: the computing core behind the dashboard, the CLI and the API.

Nothing in this package imports Streamlit.
"""

__version__ = "0.1.0"
