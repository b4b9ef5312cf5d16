"""Ray as the cluster engine: each run of a queue, or cell of a sweep, trains as one Ray task.

`RayExecutor(address).run_queue(...)` / `.run_sweep(...)` take and return what core.compare.run_queue
and core.sweep.run_sweep_on_splits do (core.executors), so callers switch engines by one setting:
core.lab_settings' `executor = "ray"` (core.jobs) or the CLI's `--executor ray --ray-address ADDR`.
Ray is imported when an executor first connects, never before: without one, nothing changes.

- Resources: `cpus_per_run` CPUs, a GPU when the device is cuda (or auto on a cluster with GPUs), and
  the run's estimated peak memory (core.training.estimate_run_bytes) as Ray's `memory`, so Ray puts it
  where it fits; a run no node could ever hold fails at once with a reason instead of waiting forever.
- Side by side: with `slot` (the dashboard's scheduler tickets) a job's runs go one at a time, each when
  the scheduler says so (it keeps fairness, Ray places the work); without it (the CLI) all runs are
  submitted at once and Ray runs as many together as the cluster holds.
- Events: tasks send their core.events to a channel actor in batches; the caller polls it and passes
  them to `on_event` in its own thread. Cancel: `stop` raises the channel's stop flag, which running
  tasks check at every batch (as locally); queued tasks are taken back with ray.cancel, and a task
  still running GRACE_SECONDS later is interrupted with it. Either way the run is cancelled.
- Failures: a task that raises or whose worker dies (out of memory, node lost) becomes a failed
  RunResult with the reason, never the caller's exception; the other runs go on.
- Saved runs: a finished run's model folder comes back as bytes (SavedFiles) and the caller saves the
  run in its own runs folder with core.store.save_run, as for a local run. So a multi-node cluster
  needs no shared filesystem, only the same Python packages on every node (requirements.txt, ray); the
  `core` package travels with the job (runtime_env py_modules). The price: one copy of the weights
  through Ray's object store per saved run (MiniLM: 90 MB); sweeps save nothing.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from pathlib import Path
from typing import Callable

# No torch up here (core.training & co. are imported where used): the channel actor's process needs none.
from core.errors import LabError
from core.executors import OffThreadExecutor, SavedFiles, unreported_outcome

FLUSH_SECONDS = 0.2  # a task sends its events (and reads the stop flag) at most this often
POLL_SECONDS = 0.1  # how often the caller collects events and passes Cancel on
GRACE_SECONDS = 10.0  # after Cancel, a task still running this long is interrupted
ENV_PASSED = ("TL_LAB_", "HF_", "TRANSFORMERS_", "TOKENIZERS_PARALLELISM", "OMP_WAIT_POLICY")

_init_lock = threading.Lock()  # ray.init once per process


class _Relay:
    """Inside a task, the run's `on_event` and its `stop`: events go to the caller's channel in batches,
    and the replies bring back the channel's stop flag, which `is_set` reports. A reply is read only
    once it is there: a task blocked in ray.get lends its CPUs to other tasks, and runs would overlap."""

    def __init__(self, channel, index: int):
        self.channel, self.index, self.pending, self.replies = channel, index, [], []  # replies: not read yet
        self.sent, self.stopped = 0.0, False

    def __call__(self, event) -> None:
        self.pending.append(event)
        self.is_set()  # sends when it is time

    def is_set(self) -> bool:
        if time.monotonic() - self.sent >= FLUSH_SECONDS:
            self.flush()
        return self.stopped

    def flush(self, wait: bool = False) -> None:
        """Send what is pending; read the replies that arrived (with `wait`: until every one has)."""
        import ray

        self.replies.append(self.channel.put.remote(self.index, self.pending))
        self.pending, self.sent = [], time.monotonic()
        while True:
            ready, self.replies = ray.wait(self.replies, num_returns=len(self.replies), timeout=0)
            self.stopped = any(ray.get(ready)) or self.stopped
            if not wait or not self.replies:
                return
            time.sleep(0.005)


def train_in_task(config, splits, channel, index: int, keep_model: bool):
    """What one Ray task runs: core.training.train with the relay as its events and stop. Returns a
    TrainOutcome (the model as SavedFiles when kept), or None when Cancel came before it started."""
    from core.training import TrainOutcome, train

    relay = _Relay(channel, index)
    relay.flush(wait=True)  # tells the caller that this run has started
    if relay.stopped:
        return None
    outcome = train(config, splits, relay, relay)
    relay.flush(wait=True)  # every event is with the caller before the task ends
    model = SavedFiles.of(outcome.predictor) if keep_model and outcome.predictor is not None else None
    return TrainOutcome(outcome.result, model, outcome.predictions if keep_model else None)


class _Channel:
    """A Ray actor: the events of every task of one call, which runs have started, the stop flag."""

    def __init__(self):
        self.events, self.started, self.stopped = [], set(), False

    def put(self, index: int, events: list) -> bool:
        self.started.add(index)
        self.events.extend((index, event) for event in events)
        return self.stopped

    def take(self) -> tuple[list, set[int]]:
        events, self.events = self.events, []
        return events, set(self.started)

    def stop(self) -> None:
        self.stopped = True


def _reason(exc: BaseException) -> str:
    """One line saying why a task failed (a RayTaskError carries the task's own exception)."""
    cause = getattr(exc, "cause", None) or exc
    return f"The Ray task failed: {type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[-1]}"[:500]


def _check_reachable(address: str) -> None:
    """Fail at once, not after minutes of Ray's retries, when HOST:PORT does not answer."""
    host, _, port = address.split("://")[-1].rpartition(":")
    if host and port.isdigit():
        socket.create_connection((host, int(port)), timeout=5).close()  # OSError (ConnectionError) if not


def _in_lasting_thread(init: Callable) -> None:
    """Run `init` (ray.init) in a thread that lasts: the processes Ray starts (GCS, raylet) get a
    parent-death signal when the thread that started them ends, and a job's thread ends with its job."""
    outcome: queue.Queue = queue.Queue()

    def keep() -> None:
        try:
            init()
            outcome.put(None)
        except Exception as exc:  # noqa: BLE001 - raised again in the caller's thread
            outcome.put(exc)
        threading.Event().wait()

    threading.Thread(target=keep, name="tl-lab-ray", daemon=True).start()
    if (failure := outcome.get()) is not None:
        raise failure


class RayExecutor(OffThreadExecutor):
    """Queues (core.compare.run_queue) and sweeps (core.sweep.run_sweep_on_splits) as Ray tasks. `address`:
    "local" starts Ray in this process, else ray.init(address=...): "auto", "HOST:6379", "ray://HOST:10001";
    `init_options` go to ray.init too (num_cpus, ...). A process already connected keeps its connection."""

    train_task = staticmethod(train_in_task)  # what each task runs

    def __init__(self, address: str = "local", cpus_per_run: int = 1, **init_options):
        self.address, self.cpus_per_run, self.init_options = address or "local", cpus_per_run, init_options
        self.started_here = False

    def connect(self):
        """Import Ray and connect (once per process); returns the ray module."""
        try:
            import ray
        except ImportError:
            raise LabError("The Ray executor needs Ray: pip install ray==2.60.0 (requirements-dev.txt).") from None
        with _init_lock:
            if not ray.is_initialized():
                runtime_env: dict = {"env_vars": {k: v for k, v in os.environ.items() if k.startswith(ENV_PASSED)}}
                if self.address != "local":  # other machines get this very code
                    runtime_env["py_modules"] = [str(Path(__file__).resolve().parent)]
                try:
                    _check_reachable(self.address)
                    _in_lasting_thread(lambda: ray.init(address=self.address, runtime_env=runtime_env,
                                                        **self.init_options))
                except (OSError, RuntimeError, ValueError) as exc:
                    hint = "a cluster that checks tokens needs RAY_AUTH_MODE=token here, its token in ~/.ray/auth_token"
                    raise LabError(f"Could not start or reach Ray at '{self.address}': {exc} ({hint})") from None
                self.started_here = True
        return ray

    def close(self) -> None:
        """Shut down the Ray instance this executor started (one it found connected stays)."""
        if self.started_here:
            self.started_here = False
            self.connect().shutdown()

    def new_call(self, finish: Callable, on_event, on_run, stop, keep_model: bool) -> _Call:
        return _Call(self, finish, on_event, on_run, stop, keep_model)


class _Call:
    """One run_queue or run_sweep call: its tasks, their channel, Cancel, and each run's end."""

    def __init__(self, executor: RayExecutor, finish: Callable, on_event, on_run, stop, keep_model: bool):
        self.executor, self.finish, self.on_event, self.on_run = executor, finish, on_event, on_run
        self.stop, self.keep_model = stop, keep_model
        self.running: dict = {}  # ObjectRef -> (index, config, splits)
        self.configs, self.started = {}, set()  # index -> config; indices of runs that have started
        self.current, self.cancelled_at, self.interrupted = None, None, False  # current: whose events came last
        self.shipped: dict[int, tuple] = {}  # id(splits) -> (splits, its ObjectRef): each split sent once

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def run(self, count: int, prepare: Callable, slot: Callable | None) -> None:
        """Train runs 0..count-1 (`prepare(index) -> (config, splits)`): all at once without `slot`, else
        one at a time, each inside `slot(index)` (False: cancelled before it started)."""
        self.ray = self.executor.connect()
        self.task = self.ray.remote(self.executor.train_task)
        self.channel = self.ray.remote(num_cpus=0)(_Channel).remote()
        self.nodes = [node["Resources"] for node in self.ray.nodes() if node.get("Alive")]
        try:
            for index in range(count):
                config, splits = prepare(index)
                self.configs[index] = config
                if slot is None:
                    self.submit(index, config, splits)
                    continue
                if self.on_run is not None:
                    self.on_run(index, config)
                    self.current = index
                with slot(index) as go:
                    if not go or self.stopping():
                        self.finish(index, config, splits, None)
                        continue
                    self.submit(index, config, splits)
                    self.wait()
            self.wait()
        finally:
            for ref in self.running:  # only if the caller itself failed: leave nothing training
                self.ray.cancel(ref, force=True)
            self.ray.kill(self.channel)

    def resources(self, config, splits) -> dict:
        """What the run asks Ray for: CPUs, a GPU for cuda, its estimated peak memory."""
        from core.training import estimate_run_bytes

        try:
            memory = int(estimate_run_bytes(config, splits))
        except Exception:  # noqa: BLE001 - e.g. an unknown model: the run itself fails and says why
            memory = 0
        gpus = 1 if config.device == "cuda" or (config.device == "auto" and
                                                 any(node.get("GPU", 0) for node in self.nodes)) else 0
        return {"num_cpus": self.executor.cpus_per_run, "num_gpus": gpus, **({"memory": memory} if memory else {})}

    def submit(self, index: int, config, splits) -> None:
        if self.stopping():
            self.finish(index, config, splits, None)
            return
        need = self.resources(config, splits)
        if not any(node.get("CPU", 0) >= need["num_cpus"] and node.get("GPU", 0) >= need["num_gpus"]
                   and node.get("memory", 0) >= need.get("memory", 0) for node in self.nodes):
            big = max(self.nodes, key=lambda node: node.get("memory", 0), default={})
            reason = (f"No node of the Ray cluster can take this run: it needs {need['num_cpus']} CPU, "
                      f"{need['num_gpus']} GPU and {need.get('memory', 0) / 2**30:.1f} GB; the largest node has "
                      f"{big.get('CPU', 0):g} CPU, {big.get('GPU', 0):g} GPU, {big.get('memory', 0) / 2**30:.1f} GB.")
            self.finish(index, config, splits, self.unreported(index, config, splits, "failed", reason))
            return
        if id(splits) not in self.shipped:
            self.shipped[id(splits)] = (splits, self.ray.put(splits))
        ref = self.task.options(**need, max_retries=0).remote(config, self.shipped[id(splits)][1], self.channel,
                                                              index, self.keep_model)
        self.running[ref] = (index, config, splits)

    def wait(self) -> None:
        """Until every submitted task has ended: pass events on, pass Cancel on, end each run."""
        while self.running:
            ready, _ = self.ray.wait(list(self.running), num_returns=len(self.running), timeout=POLL_SECONDS)
            self.forward()
            self.pass_cancel()
            for ref in ready:
                index, config, splits = self.running.pop(ref)
                self.finish(index, config, splits, self.outcome(ref, index, config, splits))

    def forward(self) -> None:
        events, self.started = self.ray.get(self.channel.take.remote())
        for index, event in events:
            self.emit(index, event)

    def emit(self, index: int, event) -> None:
        if self.on_run is not None and index != self.current:
            self.on_run(index, self.configs[index])
            self.current = index
        if self.on_event is not None:
            self.on_event(event)

    def pass_cancel(self) -> None:
        if not self.stopping():
            return
        if self.cancelled_at is None:
            self.cancelled_at = time.monotonic()
            self.channel.stop.remote()
            for ref, (index, *_) in self.running.items():
                if index not in self.started:  # still queued: take it back
                    self.ray.cancel(ref)
        elif not self.interrupted and time.monotonic() - self.cancelled_at > GRACE_SECONDS:
            # force: a plain cancel did not stop a busy task in a fresh environment (CI); ending the worker does
            self.interrupted = True
            for ref in self.running:
                self.ray.cancel(ref, force=True)

    def outcome(self, ref, index: int, config, splits):
        """The task's TrainOutcome (None: cancelled before it started); its exceptions become results."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            return self.unreported(index, config, splits, "cancelled") if index in self.started else None
        except Exception as exc:  # noqa: BLE001 - a crashed task is a failed run, never the caller's crash
            return self.unreported(index, config, splits, "failed", _reason(exc))

    def unreported(self, index: int, config, splits, status: str, reason: str = "Cancelled by the user."):
        """The outcome of a run whose task never reported its end, and the event the task would have sent."""
        return unreported_outcome(lambda event: self.emit(index, event), config, splits, status, reason)
