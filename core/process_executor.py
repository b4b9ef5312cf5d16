"""Worker processes as the dashboard's engine: each run of a job trains in a worker process of this
machine, not in the server process that runs every session's pages.

Why a process: Python runs one thread of a process at a time (the GIL), and a training thread gives it
up around every torch call and has to win it back. With four threads of pure Python work in the
server process (what a class's page runs are to it), on this 2-core machine (bench/gil_isolation.py):
a MiniLM `full` run of 200 sentences took 148 s in a thread of that process against 4.2 s alone, and
6.1 s in a worker process; a TF-IDF run of 2,000 sentences 16.4 s in a thread, 0.42 s in a worker,
0.75 s alone (in a thread, where core.blas's one BLAS thread does not take). In the 20-session class
each TF-IDF run trained in the server took 25-37 s (bench/classroom.py).

How:
- A pool of worker processes (new interpreters: never forked from a server with threads and, maybe,
  CUDA) is kept warm between runs, as many as the scheduler lets train at once, since a worker's first run
  pays for importing torch and transformers (a few seconds). Each worker trains one run at a time at
  a lower CPU priority (nice 10, like the training threads before), with core.training.train.
- Run by run, inside the scheduler's `slot` (core.jobs): the scheduler in the server decides who
  trains; the worker only trains. The run's events come back in batches through the worker's pipe and
  go to the job's `on_event` in the job's thread, so live curves, pace and ETA work as before.
- Cancel sends "stop", which the worker's training loop reads at every batch (core.loop); a worker
  still busy GRACE_SECONDS later is killed, and the run counts as cancelled.
- A worker that dies (killed for memory, a crash in native code) fails only its run, with a reason;
  the job's next run gets a new worker and the scheduler never notices more than one failed run.
- The worker writes the model's files (safetensors and JSON, no pickled objects) to a staging folder
  the server names, and the run comes back with a core.executors.StagedFiles: saving the run moves that
  folder into it, so a 91 MB MiniLM does not cross the pipe and the server's interpreter.
- Frozen runs share their encoder passes through core.features' disk cache: the workers of one server
  get one cache folder (TL_LAB_FEATURE_CACHE, or a temporary one removed when the server stops), so a
  class's frozen runs encode the lesson's texts once, whichever worker trains them.
Runs and events travel between these processes, which this server started, with multiprocessing's
pickling; nothing read from disk or the network is unpickled.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable

from core.executors import OffThreadExecutor, StagedFiles, unreported_outcome

FLUSH_SECONDS = 0.2  # a worker sends its events at most this often
POLL_SECONDS = 0.1  # how often the job's thread looks for events, the worker's end and Cancel
GRACE_SECONDS = 10.0  # after Cancel, a worker still training this long is killed
WORKER_NICENESS = 10  # the training's CPU priority: pages first, training takes every idle cycle

log = logging.getLogger(__name__)


class _Relay:
    """In the worker, the run's `on_event` and its `stop`: events go to the server in batches, and
    "stop" messages from the server make `is_set` true."""

    def __init__(self, conn):
        self.conn, self.pending, self.sent, self.stopped = conn, [], 0.0, False

    def __call__(self, event) -> None:
        self.pending.append(event)
        self.is_set()

    def is_set(self) -> bool:
        try:
            while self.conn.poll():
                if self.conn.recv()[0] == "stop":
                    self.stopped = True
        except (EOFError, OSError):  # the server is gone: nobody is waiting for this run
            os._exit(0)
        if self.pending and time.monotonic() - self.sent >= FLUSH_SECONDS:
            self.flush()
        return self.stopped

    def flush(self) -> None:
        if self.pending:
            try:
                self.conn.send(("events", self.pending))
            except OSError:  # the server is gone
                os._exit(0)
            self.pending = []
        self.sent = time.monotonic()


def _worker_main(conn, niceness: int) -> None:
    """A worker's life: import the training code once, then train what the server sends until it
    closes the pipe or says "quit". Messages in: ("train", config, splits, stage), ("stop",), ("quit",),
    where `stage` is the folder to write the model to (None: no model kept); out: ("events", [...]), then
    ("done", TrainOutcome) or ("error", reason)."""
    try:
        os.nice(niceness)
    except (AttributeError, OSError):  # not POSIX, or not permitted: train at normal priority
        pass
    from core.training import TrainOutcome, release_memory, train

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        if message[0] == "quit":
            return
        if message[0] != "train":  # a "stop" that came after its run ended
            continue
        _, config, splits, stage = message
        relay = _Relay(conn)
        try:
            outcome = train(config, splits, relay, relay)  # never raises for a run's own failure
            model = None
            if stage is not None and outcome.predictor is not None:
                outcome.predictor.save(Path(stage))
                model = StagedFiles(stage)
            reply = ("done", TrainOutcome(outcome.result, model, outcome.predictions if stage is not None else None))
        except Exception as exc:  # noqa: BLE001 - e.g. saving the model failed: the server says why
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            relay.flush()
            conn.send(reply)
        except OSError:  # the server is gone
            return
        del relay, reply
        outcome = None
        release_memory()


class _Worker:
    """A worker process (`python -m core.process_executor FD NICENESS`) and the server's end of its pipe.

    Started as a new interpreter rather than with multiprocessing's spawn: spawn runs the parent's
    `__main__` again in the child, and under Streamlit that is the app script (Streamlit puts the page
    script in sys.modules["__main__"]), so every worker would start a page and die."""

    def __init__(self, niceness: int, env: dict):
        self.conn, child = multiprocessing.Pipe()
        root = str(Path(__file__).resolve().parent.parent)  # where `core` is, wherever the server started
        env = {**os.environ, **env,
               "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
        self.process = subprocess.Popen([sys.executable, "-m", "core.process_executor", str(child.fileno()),
                                         str(niceness)], pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL)
        child.close()

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message) -> bool:
        try:
            self.conn.send(message)
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self.conn.close()

    def close(self) -> None:
        self.send(("quit",))
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
        self.conn.close()

    def death_words(self) -> str:
        """Why the process is gone, in words."""
        try:
            code = self.process.wait(2)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            memory = ": the system may have run out of memory" if -code == signal.SIGKILL else ""
            return f"was ended by {name}{memory}"
        return f"exited with code {code}"


class ProcessExecutor(OffThreadExecutor):
    """Runs and sweep cells trained in worker processes of this machine (see the module docstring);
    `keep_warm` workers wait between runs."""

    def __init__(self, keep_warm: int = 2, niceness: int = WORKER_NICENESS):
        self.keep_warm, self.niceness = keep_warm, niceness
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._cache_made = self._staging = ""

    def new_call(self, finish: Callable, on_event, on_run, stop, keep_model: bool) -> _ProcessCall:
        return _ProcessCall(self, finish, on_event, on_run, stop, keep_model)

    def warm_up(self) -> None:
        """Start the warm workers now (each imports torch and the training code in its own process, a few
        seconds), so that the server's first runs do not pay for it."""
        with self._lock:
            env = self._worker_env()
            while len(self._idle) < self.keep_warm:
                self._idle.append(_Worker(self.niceness, env))

    def take(self) -> _Worker:
        """A warm worker, or a new one."""
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
            env = self._worker_env()
        return _Worker(self.niceness, env)

    def give_back(self, worker: _Worker) -> None:
        with self._lock:
            if worker.alive() and len(self._idle) < self.keep_warm:
                self._idle.append(worker)
                return
        worker.close()

    def close(self) -> None:
        """Stop the waiting workers (a worker training now stops when its run is handed back)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()

    def new_stage(self) -> str:
        """An empty folder for a worker to write a run's model to (core.executors.StagedFiles), under one
        temporary folder per server, removed when the server stops."""
        with self._lock:
            if not self._staging:
                self._staging = tempfile.mkdtemp(prefix="tl-lab-models-")
                atexit.register(shutil.rmtree, self._staging, True)
        return tempfile.mkdtemp(dir=self._staging)

    def _worker_env(self) -> dict:
        """One disk cache of frozen features for every worker (the server's own environment is left alone)."""
        if os.environ.get("TL_LAB_FEATURE_CACHE"):
            return {}
        if not self._cache_made:
            self._cache_made = tempfile.mkdtemp(prefix="tl-lab-features-")
            atexit.register(shutil.rmtree, self._cache_made, True)
        return {"TL_LAB_FEATURE_CACHE": self._cache_made}


class _ProcessCall:
    """One run_queue or run_sweep call: its runs one after another, each in a worker."""

    def __init__(self, executor: ProcessExecutor, finish: Callable, on_event, on_run, stop, keep_model: bool):
        self.executor, self.finish, self.on_event, self.on_run = executor, finish, on_event, on_run
        self.stop, self.keep_model = stop, keep_model

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def run(self, count: int, prepare: Callable, slot: Callable | None) -> None:
        for index in range(count):
            config, splits = prepare(index)
            if self.on_run is not None:
                self.on_run(index, config)
            with (slot(index) if slot is not None else nullcontext(True)) as go:
                if not go or self.stopping():
                    self.finish(index, config, splits, None)
                    continue
                stage = self.executor.new_stage() if self.keep_model else None
                try:
                    self.finish(index, config, splits, self.train(config, splits, stage))
                finally:  # saved runs moved it away; what is left belongs to no run
                    if stage is not None:
                        shutil.rmtree(stage, ignore_errors=True)

    def train(self, config, splits, stage: str | None = None):
        """The run's TrainOutcome from a worker (its model written to `stage`, when given); a worker's death
        or Cancel's deadline become results."""
        worker = self.executor.take()
        try:
            return self._train_in(worker, config, splits, stage)
        except BaseException:  # this thread failed (not the run): leave no worker training for nobody
            worker.kill()
            raise

    def _train_in(self, worker: _Worker, config, splits, stage: str | None):
        if not worker.send(("train", config, splits, stage)):
            return self.unreported(config, splits, "failed", f"The training process {worker.death_words()}.")
        cancelled_at = None
        while True:
            if worker.conn.poll(POLL_SECONDS):
                try:
                    kind, payload = worker.conn.recv()
                except (EOFError, OSError):  # its end of the pipe closed: the process is gone
                    return self.unreported(config, splits, "failed", f"The training process {worker.death_words()}.")
                if kind == "events":
                    for event in payload:
                        self.emit(event)
                    continue
                outcome = payload if kind == "done" else self.unreported(config, splits, "failed", payload)
                self.executor.give_back(worker)
                return outcome
            if not worker.alive():
                return self.unreported(config, splits, "failed", f"The training process {worker.death_words()}.")
            if self.stopping():
                if cancelled_at is None:
                    cancelled_at = time.monotonic()
                    worker.send(("stop",))
                elif time.monotonic() - cancelled_at > GRACE_SECONDS:
                    log.warning("run %s did not stop %.0f s after Cancel: its worker is ended", config.strategy,
                                GRACE_SECONDS)
                    worker.kill()
                    return self.unreported(config, splits, "cancelled", "Cancelled by the user.")

    def emit(self, event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def unreported(self, config, splits, status: str, reason: str):
        """The outcome of a run whose worker never reported its end, and the event it would have sent."""
        if status == "failed":
            log.error("run %s: %s", config.strategy, reason)
        return unreported_outcome(self.emit, config, splits, status, reason)


_shared: ProcessExecutor | None = None
_shared_lock = threading.Lock()


def shared_executor() -> ProcessExecutor:
    """This server process's one pool of workers, as many as the scheduler's places, started at once."""
    global _shared
    with _shared_lock:
        if _shared is None:
            from core.lab_settings import load_settings

            settings = load_settings()
            _shared = ProcessExecutor(keep_warm=settings.long_slots + settings.short_slots)
            atexit.register(_shared.close)
            _shared.warm_up()
        return _shared


if __name__ == "__main__":  # a worker: python -m core.process_executor FD NICENESS (started by _Worker)
    _worker_main(Connection(int(sys.argv[1])), int(sys.argv[2]))
