"""Transfer Learning Lab: the computing core behind the dashboard, the CLI and the API.

Nothing in this package imports Streamlit.
"""

import os

# Must be set before torch loads its OpenMP runtime. With the default (spinning) policy, torch's
# threads busy-wait at every sync point; when anything else wants the cores (the dashboard's
# training thread beside a prediction, a second process) latency grows ~10x (bench/README.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
