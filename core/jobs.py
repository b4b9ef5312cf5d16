"""Background jobs: work done in one worker thread that a page polls.

`Job` trains a queue of runs on one split; `SweepJob` trains a data-size sweep. The worker never
touches the UI: it appends to lock-protected lists that a page (or any other reader) polls.
Cancel is cooperative: the training loop checks the stop flag at every batch.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from core.compare import run_queue
from core.config import RunConfig
from core.progress import Position, queue_position
from core.results import RunResult
from core.sweep import PlannedRun, SweepRecord, run_sweep_on_splits, sweep_config, sweep_payload, sweep_plan
from core.texts import Splits
from core.vary import Vary

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class BackgroundJob:
    """Status, cancel and join for work done by `_run` in a daemon thread (subclasses say what work)."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    status: str = "queued"  # queued -> running -> finished | cancelled | failed
    error: str = ""  # why a failed job stopped

    thread_name = "job"  # threads show up as tl-lab-<thread_name>-<id> in dumps and logs

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"tl-lab-{self.thread_name}-{self.id}", daemon=True)

    def start(self) -> Self:
        """Start the worker thread (once)."""
        self.status = "running"
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

    def position(self):
        """Where the work stands now (a core.progress.Position)."""
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    def _work(self) -> None:
        _yield_cpu_to_the_ui()
        try:
            self._run()
            self.status = "cancelled" if self._stop.is_set() else "finished"
        except Exception as exc:  # noqa: BLE001 - the page must see why the worker died
            log.exception("%s %s crashed", self.thread_name, self.id)
            self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"


WORKER_NICENESS = 10


def _yield_cpu_to_the_ui() -> None:
    """Lower this worker thread's CPU priority (Linux: nice is per thread, inherited by the
    compute threads it starts), so pages stay quick while training keeps every idle cycle."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not permitted: train at normal priority
        pass


@dataclass(frozen=True)
class JobEvent:
    """An event from the run at `run_index` of the job's queue."""

    run_index: int
    event: object
    time: float


@dataclass
class Job(BackgroundJob):
    """A queue of RunConfigs on one split, trained one after another in a daemon thread."""

    configs: list[RunConfig]
    splits: Splits
    runs_root: Path | None
    data_info: dict = field(default_factory=dict)
    results: list[RunResult] = field(default_factory=list)  # appended by the worker as runs end
    current_index: int = 0

    def __post_init__(self):
        super().__post_init__()
        self._events: list[JobEvent] = []

    def events_since(self, index: int) -> list[JobEvent]:
        """Events logged after the first `index` ones."""
        with self._lock:
            return self._events[index:]

    def _record(self, event) -> None:
        with self._lock:
            self._events.append(JobEvent(self.current_index, event, time.time()))

    def _on_run(self, index: int, config: RunConfig) -> None:
        self.current_index = index

    def position(self) -> Position:
        """The current run, its share of steps done and the time left at its pace."""
        return queue_position(self)

    def _run(self) -> None:
        run_queue(self.configs, self.splits, self.runs_root, self._record, self._stop, self.data_info,
                  on_run=self._on_run, results=self.results)


@dataclass
class SweepJob(BackgroundJob):
    """A sweep (strategies x the values of one setting x seeds) on fixed validation and test splits, in
    a daemon thread. Training samples are drawn from `splits.train`; nothing is saved to disk."""

    base: RunConfig
    strategies: list[str]
    vary: Vary
    seeds: int
    splits: Splits
    data_info: dict = field(default_factory=dict)
    n_train: int | None = None  # training texts per run when the size is not what varies

    thread_name = "sweep"

    def __post_init__(self):
        super().__post_init__()
        self.plan: list[PlannedRun] = sweep_plan(self.strategies, self.vary, self.seeds)
        self._records: list[SweepRecord] = []

    @property
    def records(self) -> list[SweepRecord]:
        """The runs done so far (a copy), in training order."""
        with self._lock:
            return list(self._records)

    @property
    def current_run(self) -> PlannedRun | None:
        """The run training now (None once the job is done)."""
        done = len(self.records)
        return self.plan[done] if not self.done and done < len(self.plan) else None

    def position(self) -> Position:
        """Runs done out of the plan, and the run training now."""
        done, run = len(self.records), self.current_run
        now = f"{run.strategy}, {self._value_words(run.value)}, seed {run.seed + 1} of {self.seeds}" if run else ""
        return Position(done, len(self.plan), now, done / len(self.plan))

    def _value_words(self, value) -> str:
        return f"{int(value):,} examples" if self.vary.is_size else self.vary.words(value)

    def payload(self) -> dict:
        """The sweep as sweep.json holds it (the CLI writes the same shape)."""
        config = sweep_config(self.data_info, self.base, self.strategies, self.vary, self.seeds,
                              len(self.splits.test), self.n_train)
        return sweep_payload(config, self.records)

    def _add(self, record: SweepRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _run(self) -> None:
        run_sweep_on_splits(self.splits, self.base, self.strategies, self.vary, self.seeds, self.n_train,
                            on_record=self._add, stop=self._stop)
