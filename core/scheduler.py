"""One scheduler per server process for all training work: who trains now, who waits, and when each
waiting piece of work is expected to start and end.

Work comes as tickets: one per run (a comparison run, a sweep cell, a time-estimate probe), each with
the session it belongs to, its estimated seconds and memory. The runs of one job are a chain: they
train in order, so only the first unfinished ticket of a chain can start. A job's worker thread asks
for its ticket (`acquire`), trains, and hands it back (`release`); the scheduler decides the order.

The policy, in words:
- `slots` long trainings at once (one per GPU; on a CPU what the cores allow), plus `short_slots`
  places that only take short work, so a TF-IDF run or a frozen head never waits minutes behind
  fine-tunes;
- fair across sessions: the next ticket is the one of the session that has been given the fewest
  estimated seconds so far (start-time fair queueing: a session that just arrived starts level
  with the least served of the others as it stood before its current run, so earlier use neither
  helps nor hurts it), then by submission order;
- the estimated memory of what runs together stays within `memory_bytes`; a ticket that could never
  fit is refused at submission (core.admission says why in a sentence).

`forecast` plays this same policy forward on estimated durations, which is where every waiting
ticket's place in line and expected start and end come from.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import statistics
import threading
import time
from dataclasses import dataclass, field

from core.errors import LimitError

_ids = itertools.count(1)
RECENT_RUNS = 3  # estimates are calibrated by the last runs of their group: a class's load shows after two
SHOWN_EVERY = 5.0  # seconds between the forecasts a waiting ticket keeps of what its session was shown


@dataclass(eq=False)
class Ticket:
    """One piece of work: a run, a sweep cell or a time-estimate probe."""

    session: str
    label: str  # what it is, in words ("full", "tfidf, 100 examples, seed 1")
    seconds: float  # estimated duration
    memory: int = 0  # estimated peak bytes
    chain: str = ""  # tickets of one chain run in submission order, one at a time
    group: str = ""  # what calibrates its estimate (the strategy)
    id: int = field(default_factory=lambda: next(_ids))
    state: str = "waiting"  # waiting -> running -> done | withdrawn
    submitted_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    short: bool = False  # may use a short-work place
    in_short: bool = False  # runs in a short-work place (not a long slot)
    predicted_start: float | None = None  # the forecast when it was submitted (for checking it)
    predicted_end: float | None = None
    predicted_place: int | None = None  # its place in line then (0: it started at once)
    shown: list = field(default_factory=list)  # (at, start, end, place): its forecasts as pages asked for them
    left: object = None  # () -> seconds its training still needs at its own pace, or None (set by its worker)


@dataclass(frozen=True)
class Forecast:
    """When a ticket is expected to start and end (scheduler clock), and its place in line (1 = next)."""

    start: float
    end: float
    place: int  # 0 while running


class Scheduler:
    """See the module docstring. Thread-safe; all methods may be called from any thread."""

    def __init__(self, slots: int = 1, short_slots: int = 1, short_seconds: float = 30.0,
                 memory_bytes: int | None = None, clock=time.monotonic, log_path: str | None = None):
        if slots < 1:
            raise ValueError("A scheduler needs at least one slot.")
        self.slots, self.short_slots, self.short_seconds = slots, short_slots, short_seconds
        self.memory_bytes = memory_bytes
        self.clock, self.log_path = clock, log_path
        self._lock = threading.Condition()
        self._tickets: list[Ticket] = []  # waiting and running, in submission order
        self._served: dict[str, float] = {}  # estimated seconds granted per session
        self._version = 0  # bumped on every change, so forecasts are computed once per state
        self._forecast: tuple[int, float, dict[int, Forecast]] | None = None
        self.finished: list[Ticket] = []  # the last tickets that ended (bounded), for measurements
        self._ratios: dict[str, collections.deque] = {}  # group -> recent actual / estimated seconds

    # -- submitting and ending work -------------------------------------------------------------

    def submit(self, session: str, label: str, seconds: float, memory: int = 0, chain: str = "",
               group: str = "") -> Ticket:
        """Queue one piece of work; refused (LimitError) if its memory could never fit. `group` (the strategy)
        is what the durations measured on this server calibrate the estimate by (see `expected_seconds`)."""
        if self.memory_bytes is not None and memory > self.memory_bytes:
            raise LimitError(f"'{label}' would need about {memory / 2**30:.1f} GB of memory, more than the "
                             f"{self.memory_bytes / 2**30:.1f} GB this server allows for training: use fewer "
                             "examples, a shorter max length or a smaller batch.")
        ticket = Ticket(session, label, max(float(seconds), 0.1), int(memory), chain or f"t{next(_ids)}",
                        group=group or label, submitted_at=self.clock())
        ticket.short = self.expected_seconds(ticket) <= self.short_seconds
        with self._lock:
            if not any(t.session == session for t in self._tickets):  # the session becomes active:
                # level with the least served active session as it was when its current run started
                level = {t.session: self._served.get(t.session, 0.0) for t in self._tickets}
                for t in self._tickets:
                    if t.state == "running":
                        level[t.session] -= self.expected_seconds(t)
                self._served[session] = max(self._served.get(session, 0.0), min(level.values(), default=0.0))
            self._tickets.append(ticket)
            self._changed()
        forecast = self.forecast().get(ticket.id)
        if forecast is not None:
            ticket.predicted_start, ticket.predicted_end = forecast.start, forecast.end
            ticket.predicted_place = forecast.place
        return ticket

    def acquire(self, ticket: Ticket, stop: threading.Event | None = None, poll: float = 0.2) -> bool:
        """Wait until `ticket` may run (True), or until `stop` is set (False: the ticket is withdrawn)."""
        with self._lock:
            while ticket.state == "waiting":
                if stop is not None and stop.is_set():
                    self._end(ticket, "withdrawn")
                    return False
                self._lock.wait(poll)
            return ticket.state == "running"

    @contextlib.contextmanager
    def turn(self, session: str, label: str, seconds: float):
        """`with scheduler.turn(...)`: wait for a place, do the work, give the place back (the time
        estimate's probe steps use it, so they never run on top of a full machine)."""
        ticket = self.submit(session, label, seconds)
        try:
            self.acquire(ticket)
            yield ticket
        finally:
            self.release(ticket, completed=False)

    def release(self, ticket: Ticket, completed: bool = True) -> None:
        """The work is over: its place goes to the next ticket. Only `completed` work (a run that finished,
        not one that failed or was cancelled) calibrates the estimates of its group."""
        with self._lock:
            if ticket.state in ("waiting", "running"):
                self._end(ticket, "done" if ticket.state == "running" and completed else "withdrawn")

    def withdraw(self, tickets, started_too: bool = False) -> None:
        """Take queued tickets out (a cancel); a running one is left to its worker to release, unless
        `started_too` (work refused as a whole after its first ticket was already granted)."""
        with self._lock:
            for ticket in tickets:
                if ticket.state == "waiting" or (started_too and ticket.state == "running"):
                    self._end(ticket, "withdrawn")

    def expected_seconds(self, ticket) -> float:
        """The estimate times the median of actual / estimated seconds of the last runs of its group on
        this server: the machine's load, saving and evaluation make the measured estimate run long or short."""
        ratios = self._ratios.get(ticket.group)
        return ticket.seconds * (statistics.median(ratios) if ratios else 1.0)

    def _end(self, ticket: Ticket, state: str) -> None:
        if state == "done" and ticket.started_at is not None:  # measured: calibrates its group
            ratios = self._ratios.setdefault(ticket.group, collections.deque(maxlen=RECENT_RUNS))
            ratios.append((self.clock() - ticket.started_at) / ticket.seconds)
        ticket.state, ticket.ended_at = state, self.clock()
        ticket.left = None  # over; and `finished` must not keep its job (and the job's data) alive
        self._tickets.remove(ticket)
        self.finished = [*self.finished[-999:], ticket]
        if self.log_path is not None:
            _append_json_line(self.log_path, ticket)
        self._changed()

    def _changed(self) -> None:
        """Start what can start now and wake the waiting workers (the lock is held)."""
        self._version += 1
        for ticket in self._next_to_start(self._tickets, self._served, self.expected_seconds):
            ticket.state, ticket.started_at = "running", self.clock()
        self._lock.notify_all()

    # -- the policy ------------------------------------------------------------------------------

    def _next_to_start(self, tickets: list, served: dict[str, float], cost=lambda ticket: ticket.seconds) -> list:
        """The tickets that start now, in order, given `tickets` (waiting and running, submission
        order); `served` is updated as if they started. Shared by the real queue and the forecast."""
        started, order = [], {t.id: index for index, t in enumerate(tickets)}
        while True:
            running = [t for t in tickets if t.state == "running" or t in started]
            long_free = self.slots - sum(not t.in_short for t in running)
            short_free = self.short_slots - sum(t.in_short for t in running)
            memory_free = None if self.memory_bytes is None else self.memory_bytes - sum(t.memory for t in running)
            candidates = [t for t in self._heads(tickets) if t not in started
                          and (long_free > 0 or (short_free > 0 and t.short))
                          and (memory_free is None or t.memory <= memory_free or not running)]
            if not candidates:
                return started
            pick = min(candidates, key=lambda t: (served.get(t.session, 0.0), order[t.id]))
            pick.in_short = long_free <= 0
            served[pick.session] = served.get(pick.session, 0.0) + cost(pick)
            started.append(pick)

    @staticmethod
    def _heads(tickets: list[Ticket]) -> list[Ticket]:
        """The first ticket of each chain, if it is waiting (later ones wait for it)."""
        heads, seen = [], set()
        for ticket in tickets:
            if ticket.chain not in seen:
                seen.add(ticket.chain)
                if ticket.state == "waiting":
                    heads.append(ticket)
        return heads

    # -- what people see -------------------------------------------------------------------------

    def forecast(self) -> dict[int, Forecast]:
        """Expected start, end and place in line of every waiting and running ticket, by ticket id:
        the policy played forward on estimated durations (a running ticket ends at its estimate, or
        soon if it overran; later if the pace of its steps says so, and then its strategy's queued
        tickets are expected to run that much slower too). Cached per state of the queue for a second."""
        with self._lock:
            now = self.clock()
            if self._forecast and self._forecast[0] == self._version and now - self._forecast[1] < 1.0:
                return self._forecast[2]
            tickets = list(self._tickets)
            served = dict(self._served)
        out: dict[int, Forecast] = {}
        ends, pace = {}, {}
        for t in tickets:
            if t.state == "running":
                expected, elapsed = self.expected_seconds(t), now - (t.started_at or now)
                left = max(expected - elapsed, 0.05 * expected, 0.5)
                at_its_pace = t.left() if t.left is not None else None
                if at_its_pace is not None and at_its_pace > left:  # slower than planned: this class's load
                    left = at_its_pace
                    pace[t.group] = max(pace.get(t.group, 0.0), (elapsed + left) / expected)
                ends[t.id] = now + left
                out[t.id] = Forecast(t.started_at or now, ends[t.id], 0)
        # A run of the same strategy training slower than planned right now: queued ones are expected to as well.
        sim = {t.id: _SimTicket(t, self.expected_seconds(t) * pace.get(t.group, 1.0)) for t in tickets}
        order = []
        clock = now
        queue = [sim[t.id] for t in tickets]
        while any(s.state == "waiting" for s in queue):
            for started in self._next_to_start(queue, served):
                started.state = "running"
                ends[started.id] = clock + started.seconds
                out[started.id] = Forecast(clock, ends[started.id], 0)
                order.append(started.id)
            running = [s for s in queue if s.state == "running"]
            if not running:  # cannot happen with slots >= 1; guards an endless loop all the same
                break
            first = min(running, key=lambda s: ends[s.id])
            clock = max(clock, ends[first.id])
            first.state = "done"
            queue.remove(first)
        for place, ticket_id in enumerate(order, start=1):
            out[ticket_id] = Forecast(out[ticket_id].start, out[ticket_id].end, place)
        with self._lock:
            self._forecast = (self._version, now, out)
            for t in tickets:  # what its session is shown now: kept (sparsely) to check forecasts by
                if t.state == "waiting" and t.id in out and (not t.shown or now - t.shown[-1][0] >= SHOWN_EVERY):
                    t.shown.append((now, out[t.id].start, out[t.id].end, out[t.id].place))
        return out

    def tickets(self, session: str | None = None) -> list[Ticket]:
        """Waiting and running tickets (of one session, or all), in submission order."""
        with self._lock:
            return [t for t in self._tickets if session is None or t.session == session]

    def sessions_waiting(self) -> int:
        """How many sessions have work queued or running."""
        with self._lock:
            return len({t.session for t in self._tickets})


class _SimTicket:
    """A copy of a ticket for the forecast to play with."""

    def __init__(self, ticket: Ticket, seconds: float):
        self.id, self.session, self.seconds, self.memory = ticket.id, ticket.session, seconds, ticket.memory
        self.chain, self.short, self.state = ticket.chain, ticket.short, ticket.state
        self.in_short = ticket.in_short


def _append_json_line(path: str, ticket: Ticket) -> None:
    """One JSON line per ended ticket (TL_LAB_SCHEDULER_LOG): what bench/classroom.py checks forecasts with."""
    fields = ("session", "label", "group", "seconds", "memory", "state", "submitted_at", "started_at", "ended_at",
              "predicted_start", "predicted_end", "predicted_place", "in_short", "shown")
    with open(path, "a") as out:
        out.write(json.dumps({name: getattr(ticket, name) for name in fields}) + "\n")


_shared: Scheduler | None = None
_shared_lock = threading.Lock()


def shared() -> Scheduler:
    """The scheduler of this process (created on first use from core.lab_settings)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            from core.lab_settings import load_settings

            settings = load_settings()
            _shared = Scheduler(settings.long_slots, settings.short_slots, settings.short_seconds,
                                settings.memory_bytes, log_path=os.environ.get("TL_LAB_SCHEDULER_LOG"))
        return _shared
