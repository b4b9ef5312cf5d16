"""Background jobs: work done in one worker thread that a page polls.

`Job` trains a queue of runs on one split; `SweepJob` trains a data-size sweep. The worker never
touches the UI: it appends to lock-protected lists that a page (or any other reader) polls.
Cancel is cooperative: the training loop checks the stop flag at every batch.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from core import journal
from core.compare import run_queue
from core.config import RunConfig
from core.progress import Position, progress_of, queue_position
from core.results import RunResult
from core.scheduler import Forecast, Scheduler, Ticket, shared
from core.sweep import PlannedRun, SweepRecord, run_sweep_on_splits, sweep_config, sweep_payload, sweep_plan
from core.texts import Splits
from core.training import estimate_shared_seconds
from core.vary import Vary

PACE_AFTER = 0.2  # share of a run's steps after which its pace tells the scheduler when it will end

log = logging.getLogger(__name__)


def configured_executor(settings=None):
    """The executor the lab settings name (core.lab_settings `executor`): None for "local" (train in the
    job's thread), one ProcessExecutor per process for "process", one RayExecutor per address for "ray"."""
    from core.lab_settings import load_settings

    settings = settings or load_settings()
    if settings.executor == "local" or (settings.executor == "process" and os.name != "posix"):
        return None  # the worker's pipe is handed over as a POSIX file descriptor
    if settings.executor == "process":
        from core.process_executor import shared_executor

        return shared_executor()
    from core.ray_executor import RayExecutor

    address = settings.ray_address or "local"
    return _configured.setdefault(address, RayExecutor(address))  # atomic under the GIL


_configured: dict = {}  # Ray address -> RayExecutor


@dataclass(kw_only=True)
class BackgroundJob:
    """Status, cancel and join for work done by `_run` in a daemon thread (subclasses say what work)."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    status: str = "queued"  # queued -> running -> finished | cancelled | failed
    error: str = ""  # why a failed job stopped
    session: str = "local"  # whose work it is, for the scheduler's fairness
    scheduler: Scheduler | None = None  # None: the process's shared one (core.scheduler.shared)
    estimates: list[float] | None = None  # seconds per run, for the queue forecast (None: a minute each)
    memory: list[int] | None = None  # peak bytes per run, for admission and packing (None: not checked)
    shared_seconds: list[dict] | None = None  # per run, {cache key: seconds} of its estimate another run may have done
    journal: Path | None = None  # the session folder whose .pending journal keeps this job until it ends
    executor: object | None = None  # where runs train (core.executors); None: as the lab settings say

    thread_name = "job"  # threads show up as tl-lab-<thread_name>-<id> in dumps and logs

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"tl-lab-{self.thread_name}-{self.id}", daemon=True)
        self.tickets: list[Ticket] = []

    def _submit(self, labels: list[str], groups: list[str]) -> None:
        """One ticket per run, chained in order (raises core.errors.LimitError if one can never fit);
        `groups` are the runs' strategies, by which the scheduler calibrates their estimates."""
        self.scheduler = self.scheduler or shared()
        seconds = self.estimates or [60.0] * len(labels)
        memory = self.memory or [0] * len(labels)
        parts_of = self.shared_seconds or [{}] * len(labels)
        try:
            for index, (label, group, run_seconds, run_bytes, parts) in enumerate(
                    zip(labels, groups, seconds, memory, parts_of)):
                ticket = self.scheduler.submit(self.session, label, run_seconds, run_bytes, chain=self.id, group=group,
                                               shared=parts)
                ticket.left = functools.partial(self._seconds_left, index)  # the scheduler drops it when it ends
                self.tickets.append(ticket)
        except Exception:
            self.scheduler.withdraw(self.tickets, started_too=True)  # the first may already have been granted
            raise

    @contextmanager
    def _slot(self, index: int):
        """Wait for the scheduler's go for run `index` (False if cancelled meanwhile), hand it back after."""
        ticket = self.tickets[index]
        try:
            yield self.scheduler.acquire(ticket, self._stop)
        finally:
            self.scheduler.release(ticket, completed=self._finished(index))

    def waiting(self) -> Forecast | None:
        """While the next run waits for its turn: its place in line and expected start, and the expected
        end of this job's last run (a Forecast); None once it trains or the job is over."""
        pending = [t for t in self.tickets if t.state in ("waiting", "running")]
        if self.done or not pending or pending[0].state != "waiting":
            return None
        forecast = self.scheduler.forecast()
        first, last = forecast.get(pending[0].id), forecast.get(pending[-1].id)
        return Forecast(first.start, last.end, first.place) if first and last else None

    def start(self) -> Self:
        """Start the worker thread (once), after writing the job to the journal (core.journal)."""
        if self.journal is not None:
            journal.record(self.journal, self.id, self.journal_kind, self.journal_plan(), self.data_info, self.splits)
        self.status = "running"
        self._thread.start()
        return self

    journal_kind = "compare"

    def journal_plan(self) -> dict:
        """What the journal needs to queue this job again after a restart."""
        raise NotImplementedError

    def cancel(self) -> None:
        """Ask the worker to stop at the next batch; queued runs are taken out of the line, not started."""
        self._stop.set()
        if self.scheduler is not None:
            self.scheduler.withdraw(self.tickets)

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

    def _finished(self, index: int) -> bool:
        """Whether run `index` finished (not failed or cancelled): only those calibrate the scheduler."""
        raise NotImplementedError

    def _seconds_left(self, index: int) -> float | None:
        """Seconds run `index` still needs at the pace of its steps so far (None: no step yet, or unknown)."""
        return None

    def _run(self) -> None:
        raise NotImplementedError

    def _engine(self):
        """The executor given, else the lab settings' (None: train in this thread)."""
        return self.executor if self.executor is not None else configured_executor()

    def _work(self) -> None:
        _yield_cpu_to_the_ui()
        try:
            self._run()
            self.status = "cancelled" if self._stop.is_set() else "finished"
        except Exception as exc:  # noqa: BLE001 - the page must see why the worker died
            log.exception("%s %s crashed", self.thread_name, self.id)
            self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:  # whatever happened, this job's places in line go to the others
            for ticket in self.tickets:
                self.scheduler.release(ticket)
            if self.journal is not None:
                journal.remove(self.journal, self.id)


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
        if self.estimates is not None and self.shared_seconds is None:  # estimates measured: their parts too
            self.shared_seconds = [estimate_shared_seconds(config, self.splits) for config in self.configs]
        self._submit([config.strategy for config in self.configs], [config.strategy for config in self.configs])

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

    def journal_plan(self) -> dict:
        return {"configs": [config.to_dict() for config in self.configs]}

    def _finished(self, index: int) -> bool:
        results = list(self.results)
        return index < len(results) and results[index].status == "finished"

    def _seconds_left(self, index: int) -> float | None:
        # Only once a fifth of the steps are done: the pace of the first ones still carries the model's
        # loading and tokenizing (in the classroom bench, trusting it earlier made forecasts jump ahead).
        runs = progress_of(self)
        return runs[index].eta_seconds if index < len(runs) and runs[index].fraction >= PACE_AFTER else None

    def _run(self) -> None:
        engine = self._engine()
        queue = engine.run_queue if engine else run_queue
        queue(self.configs, self.splits, self.runs_root, self._record, self._stop, self.data_info,
              on_run=self._on_run, results=self.results, slot=self._slot)


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
    journal_kind = "sweep"

    def _finished(self, index: int) -> bool:
        records = self.records
        return index < len(records) and records[index].status == "finished"

    def journal_plan(self) -> dict:
        return {"base": self.base.to_dict(), "strategies": list(self.strategies), "setting": self.vary.setting,
                "values": list(self.vary.values), "seeds": self.seeds, "n_train": self.n_train}

    def __post_init__(self):
        super().__post_init__()
        self.plan: list[PlannedRun] = sweep_plan(self.strategies, self.vary, self.seeds)
        self._records: list[SweepRecord] = []
        self._submit([f"{run.strategy}, {self._value_words(run.value)}, seed {run.seed + 1}" for run in self.plan],
                     [run.strategy for run in self.plan])

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
        engine = self._engine()
        sweep = engine.run_sweep if engine else run_sweep_on_splits
        sweep(self.splits, self.base, self.strategies, self.vary, self.seeds, self.n_train,
              on_record=self._add, stop=self._stop, slot=self._slot)
