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
  helps nor hurts it), then by submission order. A ticket counts what it was expected to take when
  it was queued, so estimates recalibrated while it waits do not reorder the line it was shown;
- the estimated memory of what runs together stays within `memory_bytes`; a ticket that could never
  fit is refused at submission (core.admission says why in a sentence).

`forecast` plays this same policy forward on estimated durations, which is where every waiting
ticket's place in line and expected start and end come from. Three things make those durations:
- calibration: each finished run's surprise (actual / expected seconds) is split between the machine's
  load and its strategy (see LOAD_RUN_SECONDS), so when a class starts together the first slow
  fine-tune moves every strategy's forecast, while a frozen run quicker than planned moves only its own;
- shared work: what one run does for all (a frozen run's encoder passes, kept by core.features) is
  expected of the first run to start; a run started while another does it ends no sooner than that one;
- pace: a running ticket whose steps say it will end later than planned moves its end, and the queued
  tickets of its strategy (the others by the load's share of it); one with no steps (TF-IDF) that has
  overrun is expected to overrun as much again. Of a strategy's runs side by side the quickest sets the
  pace: a straggler (a class's first frozen run in the second place, 18-38 s) made 20-session forecasts
  5-18x too long (bench/forecast_replay.py: 880% -> 62% off at the median; six other 20-session classes
  2-18 points better, two 1 and 6 worse, 5-session ones unchanged). bench/classroom.py checks them live.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import threading
import time
from dataclasses import dataclass, field

from core.errors import LimitError

_ids = itertools.count(1)
# A finished run's surprise (actual / expected seconds) is put down to the machine's load in proportion
# to its length, up to this many seconds, and the rest to its own strategy: a run of a minute measures the
# machine (a class's load), a run of seconds mostly its strategy's fixed costs (loading, saving), which
# say nothing about the others. Either way its strategy's next run is expected to take as long as it did.
# Replayed (bench/forecast_replay.py): 7-16% off on 5-session classes, 11-30% by last-3-runs (80df638).
LOAD_RUN_SECONDS = 30.0
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
    cost: float = 0.0  # what starting it adds to its session's share: its expected seconds when it was submitted
    shared: dict = field(default_factory=dict)  # {key: seconds} of `seconds` that one run does for all (see below)
    base: float | None = None  # once started: `seconds` less the shared parts an earlier run had done
    doing: tuple = ()  # once started: the shared parts it does for all (no run had claimed them before)


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
        self._group_pace: dict[str, float] = {}  # group -> log of its runs' actual / estimated seconds here
        self._load = 0.0  # log of how much slower than that the machine runs now (a class's load)
        self._claimed: dict[str, bool] = {}  # shared part -> done (True) or being done by a running ticket

    # -- submitting and ending work -------------------------------------------------------------

    def submit(self, session: str, label: str, seconds: float, memory: int = 0, chain: str = "",
               group: str = "", shared: dict | None = None) -> Ticket:
        """Queue one piece of work; refused (LimitError) if its memory could never fit. `group` (the strategy)
        is what the durations measured on this server calibrate the estimate by (see `expected_seconds`);
        `shared` ({key: seconds}) the parts of `seconds` that the first run to start does for every run
        with the same key (a frozen run's encoder passes, which core.features keeps)."""
        if self.memory_bytes is not None and memory > self.memory_bytes:
            raise LimitError(f"'{label}' would need about {memory / 2**30:.1f} GB of memory, more than the "
                             f"{self.memory_bytes / 2**30:.1f} GB this server allows for training: use fewer "
                             "examples, a shorter max length or a smaller batch.")
        ticket = Ticket(session, label, max(float(seconds), 0.1), int(memory), chain or f"t{next(_ids)}",
                        group=group or label, submitted_at=self.clock(), shared=dict(shared or {}))
        ticket.cost = self.expected_seconds(ticket)
        ticket.short = ticket.cost <= self.short_seconds
        with self._lock:
            if not any(t.session == session for t in self._tickets):  # the session becomes active:
                # level with the least served active session as it was when its current run started
                level = {t.session: self._served.get(t.session, 0.0) for t in self._tickets}
                for t in self._tickets:
                    if t.state == "running":
                        level[t.session] -= t.cost
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

    def expected_seconds(self, ticket, claimed=None) -> float:
        """The estimate, calibrated by what the runs on this server took: a factor of its group (saving and
        evaluation make a strategy's measured estimate run long or short) times the machine's load now
        (a class that starts together slows every strategy, so one run's surprise moves them all). Without
        the shared parts that a run started before it does (`claimed`: this server's, by default)."""
        if ticket.base is None:
            return _unshared(ticket, self._claimed if claimed is None else claimed) * self._factor(ticket.group)
        return ticket.base * self._factor(ticket.group)

    def _factor(self, group: str) -> float:
        return math.exp(self._group_pace.get(group, 0.0) + self._load)

    def _end(self, ticket: Ticket, state: str) -> None:
        if state == "done" and ticket.started_at is not None:  # measured: calibrates its group and the load
            expected = self.expected_seconds(ticket)
            surprise = math.log(max(self.clock() - ticket.started_at, 0.01) / expected)
            to_load = _load_share(expected)
            self._load += to_load * surprise
            self._group_pace[ticket.group] = self._group_pace.get(ticket.group, 0.0) + (1 - to_load) * surprise
        for key in ticket.shared if ticket.started_at is not None else ():
            if state == "done":
                self._claimed[key] = True
            elif not self._claimed.get(key):  # cancelled or failed before another run had done it: undone
                self._claimed.pop(key, None)
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
        for ticket in self._next_to_start(self._tickets, self._served):
            ticket.state, ticket.started_at = "running", self.clock()
            ticket.base = _unshared(ticket, self._claimed)
            ticket.doing = tuple(key for key in ticket.shared if key not in self._claimed)
            _claim(self._claimed, ticket.shared)
        self._lock.notify_all()

    # -- the policy ------------------------------------------------------------------------------

    def _next_to_start(self, tickets: list, served: dict[str, float]) -> list:
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
            served[pick.session] = served.get(pick.session, 0.0) + pick.cost
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
        """Expected start, end and place in line of every waiting and running ticket, by id: the policy played
        forward on estimated durations and the pace of what runs now (`_running_now`); cached for a second."""
        with self._lock:
            now = self.clock()
            if self._forecast and self._forecast[0] == self._version and now - self._forecast[1] < 1.0:
                return self._forecast[2]
            tickets = list(self._tickets)
            served, claimed = dict(self._served), dict(self._claimed)
        left, pace, load, doer = self._running_now(tickets, claimed, now)
        queue = [_SimTicket(t, left.get(t.id), now) for t in tickets]
        out = {t.id: Forecast(t.started_at or now, now + left[t.id], 0) for t in tickets if t.state == "running"}
        done_at = {key: now + left[t.id] for key, t in doer.items()}  # when each shared part under way is done
        order, clock = [], now
        while queue:  # play the policy forward
            for started in self._next_to_start(queue, served):
                ticket = started.ticket
                started.state, started.start = "running", clock
                started.seconds = self.expected_seconds(ticket, claimed) * pace.get(ticket.group, load)
                for key in ticket.shared:
                    if key not in claimed:  # it does this part: the others wait until it ends
                        done_at[key] = clock + started.seconds
                    elif done_at.get(key, clock) > clock:  # another run is doing it: done after that
                        started.seconds = max(started.seconds, done_at[key] - clock)
                _claim(claimed, ticket.shared)
                order.append(started.id)
            running = [s for s in queue if s.state == "running"]
            if not running:  # cannot happen with slots >= 1; guards an endless loop all the same
                break
            first = min(running, key=lambda s: s.start + s.seconds)
            clock = first.start + first.seconds
            queue.remove(first)
            out[first.id] = Forecast(out[first.id].start if first.id in out else first.start, clock, 0)
        for place, ticket_id in enumerate(order, start=1):
            if ticket_id in out:
                out[ticket_id] = Forecast(out[ticket_id].start, out[ticket_id].end, place)
        with self._lock:
            self._forecast = (self._version, now, out)
            for t in tickets:  # what its session is shown now: kept (sparsely) to check forecasts by
                if t.state == "waiting" and t.id in out and (not t.shown or now - t.shown[-1][0] >= SHOWN_EVERY):
                    t.shown.append((now, out[t.id].start, out[t.id].end, out[t.id].place))
        return out

    def _running_now(self, tickets: list, claimed: dict, now: float) -> tuple:
        """From the running tickets: the seconds each still needs (its estimate; later if its steps say so,
        or, with none, when it has overrun as much again), how much slower each strategy's queued runs
        train (its quickest running one) and the others (the load's share), who does each shared part."""
        left: dict[int, float] = {}  # running ticket -> seconds it still needs
        quickest: dict[str, tuple] = {}  # group -> (actual / planned, planned) of its quickest running run
        running = [t for t in tickets if t.state == "running"]
        doer = {key: t for t in running for key in t.doing if claimed.get(key) is False}  # shared work under way
        for t in sorted(running, key=lambda t: not t.doing):  # those doing shared work first: others wait on them
            expected, elapsed = self.expected_seconds(t), now - (t.started_at or now)
            left[t.id] = max(expected - elapsed, 0.05 * expected, 0.5)
            waits_on = [doer[key] for key in t.shared if key in doer and doer[key] is not t]
            if waits_on:  # it waits for another run's encoder passes: it ends after them (its crawl is no pace)
                left[t.id] = max(left[t.id], max(left[other.id] for other in waits_on))
                continue
            at_its_pace = t.left() if t.left is not None else None
            if at_its_pace is None and elapsed > expected:  # overran, and no steps to tell its pace by (TF-IDF,
                at_its_pace = elapsed - expected  # a frozen run still encoding): expect it to overrun as much again
            ratio = 1.0  # on plan, or ahead of it
            if at_its_pace is not None and at_its_pace > left[t.id]:  # slower than planned: this class's load
                left[t.id] = at_its_pace
                ratio = (elapsed + at_its_pace) / expected
            if ratio < quickest.get(t.group, (math.inf, 0.0))[0]:
                quickest[t.group] = (ratio, expected)
        pace, load = {}, 1.0  # group -> how much slower than planned its queued runs train; the others
        for group, (ratio, expected) in quickest.items():
            if ratio > 1.0:
                pace[group] = ratio
                load = max(load, ratio ** _load_share(expected))
        return left, pace, load, doer

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

    def __init__(self, ticket: Ticket, seconds: float | None, now: float):
        """`seconds`: what a running ticket has left (a waiting one's are set when the forecast starts it)."""
        self.ticket, self.seconds = ticket, seconds
        self.id, self.session, self.memory = ticket.id, ticket.session, ticket.memory
        self.chain, self.short, self.state, self.cost = ticket.chain, ticket.short, ticket.state, ticket.cost
        self.start = now if ticket.state == "running" else None  # a running one's seconds are those it has left
        self.in_short = ticket.in_short


MAX_CLAIMED = 1024  # shared parts remembered (core.features keeps fewer; a forgotten one is just estimated again)


def _load_share(expected_seconds: float) -> float:
    """How much of a run's surprise is the machine's load rather than its strategy's (see LOAD_RUN_SECONDS)."""
    return min(1.0, expected_seconds / LOAD_RUN_SECONDS)


def _unshared(ticket: Ticket, claimed: dict) -> float:
    """Its estimated seconds without the shared parts a run started before it does."""
    return max(ticket.seconds - sum(seconds for key, seconds in ticket.shared.items() if key in claimed), 0.1)


def _claim(claimed: dict, shared: dict) -> None:
    """A ticket that starts takes on its shared parts (those already done stay done), newest last."""
    for key in shared:
        claimed[key] = claimed.pop(key, False)
    while len(claimed) > MAX_CLAIMED:
        claimed.pop(next(iter(claimed)))


def _append_json_line(path: str, ticket: Ticket) -> None:
    """One JSON line per ended ticket (TL_LAB_SCHEDULER_LOG): what bench/classroom.py checks forecasts with."""
    fields = ("session", "label", "group", "seconds", "memory", "state", "submitted_at", "started_at", "ended_at",
              "predicted_start", "predicted_end", "predicted_place", "in_short", "shown", "shared", "base")
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
