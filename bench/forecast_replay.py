"""The scheduler's forecasts replayed on recorded classes: this commit's core.scheduler, and with
--against COMMIT that commit's, against what happened.

Each file in bench/classes/ is the scheduler's log of one class measured by bench/classroom.py (every
ticket: its session, estimate, submission, start and end). A replay feeds it to a Scheduler on a fake
clock: each ticket is submitted when it was, and runs for as long as it ran in that class. Every 5 s
the forecast is taken for every waiting ticket and later compared with the start the replay gives it,
as the classroom bench judges the forecasts shown: |start - expected| / (start - shown), for waits of
10 s or more, the teacher's run-through left out. Then the median and p90 per class.

What a replay cannot have: a running ticket's pace (the speed of its steps) is stood in for by its
true end once a fifth of it has run (not for TF-IDF runs, which log no steps: live, their pace is never
known), so every policy forecasts a little better here than in a live class; and the policy may start tickets in another order than the class did, with each still taking
the time it took there. Comparing policies on the same recordings is like for like.

    python bench/run.py forecast_replay [--against 80df638] [--classes bench/classes/n5_67bc8a7.json ...]
"""

from __future__ import annotations

import heapq
import importlib.util
import inspect
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, log
from classroom import MIN_WAIT_SHOWN as MIN_WAIT  # judged as the classroom bench judges

from core import scheduler as current_scheduler

CLASSES = ROOT / "bench" / "classes"
EVERY = 5.0  # seconds between forecasts taken, as the scheduler keeps the ones shown (SHOWN_EVERY)
PACE_AFTER = 0.2  # share of a ticket's run after which its pace is known (core.jobs.PACE_AFTER)
WITHOUT_STEPS = ("tfidf",)  # runs that log no optimizer steps: a live class never knows their pace either


def add_arguments(p) -> None:
    p.add_argument("--against", default="", help="also replay with core/scheduler.py as of this git commit")
    p.add_argument("--classes", type=Path, nargs="*", default=None, help="recorded classes (default: bench/classes)")


def scheduler_at(commit: str):
    """core/scheduler.py as of `commit`, imported as a module of its own."""
    source = subprocess.run(["git", "show", f"{commit}:core/scheduler.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"scheduler_{commit}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(f"scheduler_{commit}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return module


def replay(scheduler_module, recorded: dict) -> dict:
    """The forecasts' errors when `recorded`'s class is replayed through `scheduler_module.Scheduler`."""
    tickets, slots = recorded["tickets"], recorded["scheduler_slots"]
    now = [min(t["submitted_at"] for t in tickets)]
    scheduler = scheduler_module.Scheduler(slots["long"], slots["short"], slots["short_seconds"], clock=lambda: now[0])
    takes_shared = "shared" in inspect.signature(scheduler.submit).parameters
    took = {i: max(t["ended_at"] - t["started_at"], 0.01) for i, t in enumerate(tickets)}
    sessions = list(dict.fromkeys(t["session"] for t in sorted(tickets, key=lambda t: t["submitted_at"])))
    teacher = next(s for s in sessions if s != "time-estimate")  # the run-through before the class
    events = [(t["submitted_at"], 0, i) for i, t in enumerate(tickets)]
    heapq.heapify(events)
    live, started, shown, next_look = {}, {}, [], now[0]

    def note_starts() -> None:
        for i, ticket in live.items():
            if ticket.state == "running" and i not in started:
                started[i] = now[0]
                heapq.heappush(events, (now[0] + took[i], 1, i))

    while events:
        at, kind, i = events[0]
        if next_look < at:  # what the waiting sessions would be shown now
            now[0] = next_look
            forecast = scheduler.forecast()
            shown += [(j, now[0], forecast[ticket.id].start) for j, ticket in live.items()
                      if ticket.state == "waiting" and ticket.id in forecast
                      and tickets[j]["session"] != teacher and tickets[j]["state"] == "done"]
            next_look += EVERY
            continue
        heapq.heappop(events)
        now[0], recorded_ticket = at, tickets[i]
        if kind == 0:
            extra = {"shared": recorded_ticket.get("shared") or {}} if takes_shared else {}
            ticket = scheduler.submit(recorded_ticket["session"], recorded_ticket["label"], recorded_ticket["seconds"],
                                      recorded_ticket["memory"], chain=recorded_ticket["session"],
                                      group=recorded_ticket["group"], **extra)
            paced = recorded_ticket["group"] not in WITHOUT_STEPS
            ticket.left = (lambda i=i, paced=paced: started[i] + took[i] - now[0]
                           if paced and i in started and now[0] - started[i] >= PACE_AFTER * took[i] else None)
            live[i] = ticket
        else:
            scheduler.release(live[i], completed=recorded_ticket["state"] == "done")
        note_starts()
    errors = sorted(abs(started[j] - start) / (started[j] - at) for j, at, start in shown
                    if started[j] - at >= MIN_WAIT)
    return {"forecasts": len(errors), "start_error_median": statistics.median(errors),
            "start_error_p90": errors[int(0.9 * (len(errors) - 1))]}


def run(args) -> dict:
    files = args.classes or sorted(CLASSES.glob("*.json"))
    policies = {"this commit": current_scheduler}
    if args.against:
        policies[args.against] = scheduler_at(args.against)
    out = {}
    for path in files:
        recorded = json.loads(Path(path).read_text())
        out[Path(path).stem] = {"recorded_at": recorded["git_commit"], "sessions": recorded["sessions"],
                                "strategies": recorded["strategies"],
                                **{name: replay(module, recorded) for name, module in policies.items()}}
        log(f"{Path(path).stem}: " + ", ".join(f"{name} {out[Path(path).stem][name]['start_error_median']:.0%}"
                                               for name in policies))
    return {"settings": {"against": args.against or None, "every_seconds": EVERY, "min_wait_seconds": MIN_WAIT,
                         "pace_after": PACE_AFTER}, "classes": out}
