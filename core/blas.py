"""One BLAS thread for a TF-IDF run's small linear algebra (its logistic regressions and their scores).

numpy and scipy ship OpenBLAS with a thread per core. On the matrices a TF-IDF run multiplies (a few
thousand rows, one column per class), those threads cost more than they give: they spin while they
wait for each other, and when another process holds the other core (a class's pages, a run beside it)
they spin on. On this 2-core machine (`python bench/run.py blas_threads`, side by side, medians of 3):
a TF-IDF run on 1,000 Rotten Tomatoes sentences took 0.66 s with OpenBLAS's threads and 0.15 s with
one (4.5x); beside two busy processes 1.61 s and 0.24 s (6.6x); on 4,000 IMDb reviews 6.7 s and 5.4 s
(11.5 s and 8.0 s busy), with the same held-out accuracy. Predictions were not faster (0.95-1.04x for
1 and 500 texts), so only training is limited. In the 20-session class each TF-IDF run in a worker
had taken 4-22 s against 0.8 s in the teacher's run-through.

`one_blas_thread()` limits every BLAS library threadpoolctl finds to one thread while any thread of this
process is inside it, and puts back the limits it found when the last one leaves (threadpoolctl's own
context manager restores at each exit, which lets two overlapping threads leave the limit set).
OpenBLAS (0.3.30 here) takes a new thread count only from a process's main thread: that is where a
worker process (the dashboard's default executor), a Ray task and the command line train, so there the
limit holds. In a thread of the server (executor "local") it does not take, and the run trains as before. The
libraries are looked up once per process (threadpoolctl.ThreadpoolController): 0.01 ms a use here,
against 1 ms for `threadpool_limits`, which looks them up every time.
"""

from __future__ import annotations

import contextlib
import threading

_lock = threading.Lock()
_inside = 0
_limits = None  # threadpoolctl's limiter while any thread is inside
_controller = None


def _blas_libraries():
    """threadpoolctl's view of the loaded BLAS libraries, found once (numpy's and scipy's: scipy is
    loaded first, so its OpenBLAS is among them)."""
    global _controller
    if _controller is None:
        import scipy.linalg  # noqa: F401 - loads scipy's own OpenBLAS before the lookup
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def one_blas_thread():
    global _inside, _limits
    with _lock:
        if _inside == 0:
            _limits = _blas_libraries().limit(limits=1, user_api="blas")
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                _limits.restore_original_limits()
                _limits = None
