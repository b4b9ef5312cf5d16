"""Background jobs: a queue of runs trained in one worker thread.

The worker never touches the UI. It appends events to a lock-protected log; a page (or any
other reader) polls `events_since(n)` and `snapshot()`. Cancel is cooperative: the loop checks
the stop flag at every batch.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from core.compare import run_queue
from core.config import RunConfig
from core.data import Splits
from core.results import RunResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobEvent:
    """An event from the run at `run_index` of the job's queue."""

    run_index: int
    event: object
    time: float


@dataclass
class Job:
    """A queue of RunConfigs on one split, trained one after another in a daemon thread."""

    configs: list[RunConfig]
    splits: Splits
    runs_root: Path | None
    data_info: dict = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    status: str = "queued"  # queued -> running -> finished | cancelled | failed
    error: str = ""
    results: list[RunResult] = field(default_factory=list)
    current_index: int = 0
    started_at: float | None = None
    finished_at: float | None = None

    def __post_init__(self):
        self._events: list[JobEvent] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"tl-lab-job-{self.id}", daemon=True)

    def start(self) -> "Job":
        """Start the worker thread (once)."""
        self.status, self.started_at = "running", time.time()
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the worker to stop at the next batch; queued runs are not started."""
        self._stop.set()

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def done(self) -> bool:
        return self.status in ("finished", "cancelled", "failed")

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker (tests and the CLI use this)."""
        self._thread.join(timeout)

    def events_since(self, index: int) -> list[JobEvent]:
        """Events logged after the first `index` ones."""
        with self._lock:
            return self._events[index:]

    def _record(self, event) -> None:
        with self._lock:
            self._events.append(JobEvent(self.current_index, event, time.time()))

    def _on_run(self, index: int, config: RunConfig) -> None:
        self.current_index = index

    def _work(self) -> None:
        try:
            results = run_queue(self.configs, self.splits, self.runs_root, self._record, self._stop,
                                self.data_info, on_run=self._on_run, results=self.results)
            self.status = "cancelled" if self._stop.is_set() else "finished"
            self.results = results
        except Exception as exc:  # noqa: BLE001 - the page must see why the worker died
            log.exception("job %s crashed", self.id)
            self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self.finished_at = time.time()
