"""Dynamic batching for the REST service: requests for the same model that arrive together are
answered by one forward pass.

Requests put their texts in one queue, bounded in texts (all models together), and get a future.
One worker thread takes the oldest request's model, gathers that model's pending texts up to
`max_batch`, runs one predict call, and resolves every request's future with its own slice.
While requests arrive together (the last batch merged several), the worker waits up to
`max_wait_s` after a request's arrival for company; a lone request on an idle service runs at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Sequence

RATE_MEMORY = 0.8  # weight of the past in the texts-per-second estimate behind Retry-After


class Overloaded(Exception):
    """More texts are waiting than the service holds; `retry_after` is whole seconds."""

    def __init__(self, queued: int, max_queue: int, retry_after: int):
        super().__init__(f"The service is busy: {queued} texts are waiting (at most {max_queue}); "
                         f"retry in {retry_after} s.")
        self.retry_after = retry_after


@dataclass
class Job:
    """One request's texts for one model and the future its predictions go to."""

    model_id: str
    texts: list[str]
    arrived: float = field(default_factory=time.monotonic)
    future: Future = field(default_factory=Future)


@dataclass
class BatchStats:
    """What the worker has done: batches and texts run, the largest batch, seconds spent running them."""

    batches: int = 0
    texts: int = 0
    largest: int = 0
    busy_seconds: float = 0.0
    texts_per_second: float = 0.0


class BatchWorker:
    """A bounded queue of pending texts and the one thread that runs them in batches.

    `run_batch(model_id, texts)` returns one result per text (any sequence); it runs on the worker
    thread, so it may block (load a model, run a forward pass)."""

    def __init__(self, run_batch: Callable[[str, list[str]], Sequence], max_queue: int, max_batch: int,
                 max_wait_s: float):
        self.run_batch = run_batch
        self.max_queue, self.max_batch, self.max_wait_s = max_queue, max_batch, max_wait_s
        self.stats = BatchStats()
        self._jobs: deque[Job] = deque()  # every model's requests, oldest first
        self._queued = 0  # texts submitted and not answered yet (waiting or running)
        self._gather = False  # the last batch merged several requests: wait for company
        self._closed = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def queued(self) -> int:
        """Texts waiting or running now."""
        return self._queued

    def submit(self, model_id: str, texts: list[str]) -> Future:
        """Queue a request's texts; its future gets one result per text. Raises Overloaded when full."""
        with self._changed:
            if self._closed:
                raise Overloaded(self._queued, self.max_queue, 1)
            if self._queued + len(texts) > self.max_queue:
                raise Overloaded(self._queued, self.max_queue, self._retry_after())
            job = Job(model_id, list(texts))
            self._jobs.append(job)
            self._queued += len(texts)
            self._start()
            self._changed.notify()
        return job.future

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker after the batch it is running; requests still waiting fail with Overloaded."""
        with self._changed:
            self._closed = True
            waiting, self._jobs = list(self._jobs), deque()
            self._changed.notify_all()
        for job in waiting:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(Overloaded(0, self.max_queue, 1))
        if self._thread is not None:
            self._thread.join(timeout)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="batch-worker", daemon=True)
            self._thread.start()

    def _retry_after(self) -> int:
        """Seconds until the queue has likely drained, from the measured texts per second (1 to 60)."""
        rate = self.stats.texts_per_second
        return 1 if rate <= 0 else min(60, max(1, math.ceil(self._queued / rate)))

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._run(batch)

    def _next_batch(self) -> list[Job] | None:
        """The next batch: the oldest request and the same model's later ones, up to max_batch texts."""
        with self._changed:
            while not self._jobs and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            first = self._jobs[0]
            if self._gather:
                deadline = first.arrived + self.max_wait_s
                while (self._pending_texts(first.model_id) < self.max_batch and not self._closed
                       and (left := deadline - time.monotonic()) > 0):
                    self._changed.wait(left)
            return self._take(first.model_id)

    def _pending_texts(self, model_id: str) -> int:
        return sum(len(job.texts) for job in self._jobs if job.model_id == model_id)

    def _take(self, model_id: str) -> list[Job]:
        """Remove and return the model's oldest requests that fit in one batch (at least one);
        requests whose caller gave up are dropped here."""
        taken, kept, size, full = [], deque(), 0, False
        for job in self._jobs:
            full = full or (bool(taken) and size + len(job.texts) > self.max_batch and job.model_id == model_id)
            if job.model_id != model_id or full:  # once one does not fit, later ones wait too (first come first)
                kept.append(job)
            elif job.future.set_running_or_notify_cancel():
                taken.append(job)
                size += len(job.texts)
            else:
                self._queued -= len(job.texts)
        self._jobs = kept
        return taken

    def _run(self, batch: list[Job]) -> None:
        """One call for the whole batch; each request's future gets its own slice, or the error."""
        texts = [text for job in batch for text in job.texts]
        started = time.perf_counter()
        try:
            results = list(self.run_batch(batch[0].model_id, texts))
        except Exception as exc:  # the requests' callers turn it into a response
            for job in batch:
                job.future.set_exception(exc)
        else:
            start = 0
            for job in batch:
                job.future.set_result(results[start:start + len(job.texts)])
                start += len(job.texts)
            self._record(len(texts), time.perf_counter() - started)
        finally:
            with self._changed:
                self._queued -= len(texts)
                self._gather = len(batch) > 1

    def _record(self, n_texts: int, seconds: float) -> None:
        stats = self.stats
        stats.batches += 1
        stats.texts += n_texts
        stats.largest = max(stats.largest, n_texts)
        stats.busy_seconds += seconds
        rate = n_texts / max(seconds, 1e-6)
        stats.texts_per_second = rate if stats.batches == 1 else (
            RATE_MEMORY * stats.texts_per_second + (1 - RATE_MEMORY) * rate)
