"""With TL_LAB_PAGE_LOG set to a file, one JSON line per full run of the app's script (a page switch,
a button, a rerun): the page, how long the server took before the page's own code started, and how
long in all. `bench/classroom.py` reports these server-side times beside what the browsers saw."""

from __future__ import annotations

import json
import os
import threading
import time

_lock = threading.Lock()


def logged_page_run(page, began: float) -> None:
    """`page.run()`; with TL_LAB_PAGE_LOG set, timed from `began` (perf_counter when the script run began),
    also when st.stop() or st.rerun() ends it early."""
    path = os.environ.get("TL_LAB_PAGE_LOG")
    before = time.perf_counter() - began
    try:
        page.run()
    finally:
        if path:
            line = json.dumps({"page": page.title, "before_page": round(before, 4),
                               "seconds": round(time.perf_counter() - began, 4), "at": time.time()})
            with _lock, open(path, "a") as out:
                out.write(line + "\n")
