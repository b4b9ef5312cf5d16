"""A class on one server, measured with real browsers: N sessions open a lesson link and press Start
at the same moment.

Starts one `streamlit run app.py` (its own empty runs folder, the scheduler logging every ticket) and
one headless Chromium with N browser contexts (N separate sessions: own cookies, own websocket). Each
session opens the lesson link on the Train page, all press "Start training" together, then switch
pages (Results <-> Train) until their training has finished. Recorded:
- every session finished, with its wall time from Start to "Training finished";
- time to the first live curve on the Train page (a chart drawn by the live view);
- page-switch latency (click in the menu -> the page's own title shown) p50 / p95 while they train;
- peak server memory (RSS, polled every 0.25 s) and the memory bound the scheduler enforces;
- the queue: each session's place in line at Start against the runs that started before it, and the
  forecasts against what happened, from the scheduler's log: the one made at submission, and those
  shown while the work waited (kept every 5 s);
- privacy: each session's Results page says it shows exactly its own runs and no others.

The browsers run on the same machine as the server (2 cores here), where in a classroom they run on
the students' laptops. Chromium runs at the lowest priority (`--browser-nice 19`), but that does not
keep it off the server's cores: with 10 sessions the browsers took 57% of both cores (their many
processes outweigh two niced training threads), and runs took 3.6x their estimate. `--split-cpus`
pins the server to the first core and the browsers to the others instead; on 2 cores that leaves
twenty pages one core, where they took minutes only to load. So the page-switch times include the
browsers' own work on the server's machine and are pessimistic; the server's own part of each full
page run is recorded beside them (`TL_LAB_PAGE_LOG`, see ui/page_log.py). Each student switches
pages every few seconds (`--switch-every`), as people do.

    python bench/run.py classroom --sessions 5 --strategies full,frozen,scratch,tfidf --tag n5
    python bench/run.py classroom --sessions 20 --strategies frozen,tfidf --tag n20
    python bench/run.py classroom --quick       # 3 sessions, TF-IDF (what the test suite runs)
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path

SWITCHES = (("Results", "Results"), ("Train", "Train"))
MIN_WAIT_SHOWN = 10.0  # a forecast shown less than this before the start is not judged as a share of the wait


def add_arguments(p) -> None:
    p.add_argument("--sessions", type=int, default=5, help="browser sessions (students)")
    p.add_argument("--strategies", default="full,frozen,scratch,tfidf", help="the lesson's strategies")
    p.add_argument("--timeout", type=float, default=1800, help="seconds before a session counts as not finished")
    p.add_argument("--switch-every", type=float, default=4.0, help="seconds between a student's page switches")
    p.add_argument("--browser-nice", type=int, default=19, help="CPU priority of the browsers (19: lowest)")
    p.add_argument("--split-cpus", action="store_true",
                   help="pin the server to the first core and the browsers to the others (default: they share all)")
    p.add_argument("--no-rehearsal", action="store_true",
                   help="skip the teacher's run-through of the lesson before the class (the server then "
                        "forecasts with estimates it has not calibrated yet)")


def lesson_query(strategies: list[str]) -> str:
    """The lesson link's query: the default data and these strategies (core.lesson writes it)."""
    from core.lesson import Lesson, link_query

    return link_query(Lesson(strategies=tuple(strategies)))


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Polling(threading.Thread):
    """Calls `poll()` every `every` seconds until `stop()`; `poll` returning False ends it early."""

    every = 1.0

    def __init__(self):
        super().__init__(daemon=True)
        self._halt = threading.Event()

    def poll(self) -> bool | None:
        raise NotImplementedError

    def run(self) -> None:
        while self.poll() is not False and not self._halt.wait(self.every):
            pass

    def stop(self) -> None:
        self._halt.set()


def processes() -> list[tuple[int, str, float]]:
    """(pid, name, CPU seconds used so far) of every process (psutil, which accelerate and peft require)."""
    import psutil

    out = []
    for proc in psutil.process_iter(["pid", "name", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is not None:
            out.append((proc.info["pid"], proc.info["name"] or "", times.user + times.system))
    return out


class Renicer(Polling):
    """Keeps every Chromium process at `niceness` (its renderers set their own priority, -8 for the
    visible page, so the nice wrapper alone does not hold) until stopped."""

    every = 0.5

    def __init__(self, niceness: int):
        super().__init__()
        self.niceness = niceness

    def poll(self) -> None:
        for pid, name, _ in processes():
            if "chrom" in name:
                try:
                    os.setpriority(os.PRIO_PROCESS, pid, self.niceness)
                except OSError:
                    continue


class MemoryPeak(Polling):
    """Polls a process's resident memory until stopped; `peak` in bytes."""

    every = 0.25

    def __init__(self, pid: int):
        super().__init__()
        self.pid, self.peak = pid, 0

    def poll(self) -> bool:
        import psutil

        try:
            self.peak = max(self.peak, psutil.Process(self.pid).memory_info().rss)
        except psutil.Error:
            return False
        return True


class CpuShare(Polling):
    """CPU seconds used while it runs by the server, by Chromium's processes and by everything else
    (polled every second: a process's last reading counts)."""

    def __init__(self, server_pid: int):
        super().__init__()
        self.server_pid, self.began = server_pid, time.perf_counter()
        self.first: dict[int, float] = {pid: seconds for pid, _, seconds in processes()}
        self.last: dict[int, tuple[str, float]] = {}

    def poll(self) -> None:
        for pid, name, seconds in processes():
            kind = "server" if pid == self.server_pid else "browsers" if "chrom" in name else "other"
            self.last[pid] = (kind, seconds)

    def stop(self) -> dict:
        """CPU seconds per kind, and the seconds all cores had ("available")."""
        super().stop()
        self.poll()
        used = {"server": 0.0, "browsers": 0.0, "other": 0.0}
        for pid, (kind, seconds) in self.last.items():
            used[kind] += seconds - self.first.get(pid, 0.0)
        used["available"] = (time.perf_counter() - self.began) * (os.cpu_count() or 1)
        return {name: round(seconds, 1) for name, seconds in used.items()}


async def one_session(browser, url: str, ready: asyncio.Barrier, go: asyncio.Event, index: int,
                      n_runs: int, timeout: float, switch_every: float) -> dict:
    """One student: open the link, wait for everyone, Start, switch pages until finished, check Results."""
    context = await browser.new_context(viewport={"width": 1300, "height": 850})
    page = await context.new_page()
    page.set_default_timeout(120_000)  # one step (a page, a click); the whole session has `timeout`
    record: dict = {"session": index, "switch_seconds": []}
    try:
        await page.goto(url)
        start = page.get_by_role("button", name="Start training")
        await start.wait_for()
        await page.get_by_text("Estimated time").wait_for()  # the estimate is measured before Start
        await ready.wait()
        record["stage"] = "ready"
        await go.wait()
        started = record["clicked_at"] = time.perf_counter()
        await start.click()
        main = page.locator('[data-testid="stMain"]')
        queue = main.get_by_text("Waiting for its turn")
        first_step = main.locator(".js-plotly-plot, [data-testid='stPlotlyChart']")
        finished_text = page.get_by_text("Training finished")
        await page.get_by_text("Run 1 of").or_(queue).first.wait_for()
        record["waited_in_line"] = await queue.count() > 0
        record["stage"] = "started"
        if record["waited_in_line"]:
            record["queue_words"] = (await queue.first.inner_text()).strip()
        try:
            await first_step.or_(finished_text).first.wait_for(timeout=timeout * 1000)
            record["first_curve_seconds"] = time.perf_counter() - started
        except Exception:  # noqa: BLE001 - recorded as missing, not fatal
            record["first_curve_seconds"] = None
        deadline = started + timeout
        record["stage"] = "switching"
        nav = page.locator('[data-testid="stSidebarNav"]')
        while await finished_text.count() == 0 and time.perf_counter() < deadline:
            for link, title in SWITCHES:
                clicked = time.perf_counter()
                await nav.get_by_role("link", name=link, exact=True).click()
                await main.get_by_role("heading", name=title, exact=True).first.wait_for()
                record["switch_seconds"].append(time.perf_counter() - clicked)
                await page.wait_for_timeout(switch_every * 1000)
        record["finished"] = await finished_text.count() > 0
        record["stage"] = "results"
        record["wall_seconds"] = time.perf_counter() - started
        record["sidebar"] = (await page.get_by_text("runs finished").first.inner_text()).strip() \
            if record["finished"] else ""
        await nav.get_by_role("link", name="Results", exact=True).click()
        shows = main.get_by_text("Showing ")
        await shows.first.wait_for()
        record["results_caption"] = (await shows.first.inner_text()).strip()
        record["only_own_runs"] = record["results_caption"].startswith(
            f"Showing {n_runs} of your own runs and 0 published runs")
    except Exception as exc:  # noqa: BLE001 - one failing session is recorded, the others go on
        record["error"] = f"{type(exc).__name__}: {exc}"[:500]
        record.setdefault("finished", False)
        if "stage" not in record:  # it never reached the start line: nobody would start (the barrier is broken)
            await ready.abort()
    finally:
        await context.close()
    return record


async def classroom(url: str, sessions: int, n_runs: int, timeout: float, switch_every: float,
                    browser_path: str, rehearsal: bool) -> tuple[list[dict], dict | None]:
    from playwright.async_api import async_playwright

    from tests.live_app import CHROMIUM_ARGS

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        teacher = None
        if rehearsal:  # the teacher tries the lesson once before class: the server calibrates its estimates
            teacher_ready, teacher_go = asyncio.Barrier(1), asyncio.Event()
            teacher_go.set()
            teacher = await one_session(browser, url, teacher_ready, teacher_go, -1, n_runs, timeout, switch_every)
        ready, go = asyncio.Barrier(sessions + 1), asyncio.Event()
        tasks = [asyncio.create_task(one_session(browser, url, ready, go, i, n_runs, timeout, switch_every))
                 for i in range(sessions)]
        try:
            await ready.wait()  # everyone has the lesson open and ready to start
        except asyncio.BrokenBarrierError:  # a session could not open it: each records why, none starts
            pass
        go.set()
        records = await asyncio.gather(*tasks)
        await browser.close()
    return records, teacher


def forecast_accuracy(log_path: Path, skip_sessions: int = 0) -> dict:
    """Forecast at submission vs what happened, per ticket that had to wait, from the scheduler's log;
    the first `skip_sessions` sessions (the teacher's run-through) are left out."""
    tickets = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    tickets = [t for t in tickets if t["session"] != "time-estimate"]
    first_sessions = list(dict.fromkeys(t["session"] for t in sorted(tickets, key=lambda t: t["submitted_at"])))
    tickets = [t for t in tickets if t["session"] not in first_sessions[:skip_sessions]]
    waited = [t for t in tickets if t["state"] == "done" and t["predicted_place"]]
    start_errors = [abs(t["started_at"] - t["predicted_start"]) / max(t["started_at"] - t["submitted_at"], 1e-9)
                    for t in waited]
    end_errors = [abs(t["ended_at"] - t["predicted_end"]) / max(t["ended_at"] - t["submitted_at"], 1e-9)
                  for t in tickets if t["state"] == "done" and t["predicted_end"]]
    estimate_ratio = [(t["ended_at"] - t["started_at"]) / t["seconds"] for t in tickets if t["state"] == "done"]
    shown_errors = [abs(t["started_at"] - start) / (t["started_at"] - at) for t in waited
                    for at, start, _end, _place in t.get("shown", []) if t["started_at"] - at >= MIN_WAIT_SHOWN]
    places = [(t["predicted_place"] or 0, actual_place(t, tickets)) for t in tickets if t["state"] == "done"]
    by_session: dict[str, list] = {}
    for t in tickets:
        by_session.setdefault(t["session"], []).append(t)
    last_end_errors = []
    for session_tickets in by_session.values():
        last = max(session_tickets, key=lambda t: t["ended_at"])
        if last["state"] == "done" and last["predicted_end"]:
            first = min(t["submitted_at"] for t in session_tickets)
            last_end_errors.append(abs(last["ended_at"] - last["predicted_end"]) / max(last["ended_at"] - first, 1e-9))
    return {"tickets": len(tickets), "tickets_that_waited": len(waited),
            "start_error_median": percentile(start_errors, 0.5), "start_error_p90": percentile(start_errors, 0.9),
            "end_error_median": percentile(end_errors, 0.5), "end_error_p90": percentile(end_errors, 0.9),
            "session_end_error_median": percentile(last_end_errors, 0.5),
            "session_end_error_max": max(last_end_errors, default=None),
            "shown_start_error_median": percentile(shown_errors, 0.5),
            "shown_start_error_p90": percentile(shown_errors, 0.9), "shown_forecasts": len(shown_errors),
            "place_exact_share": sum(p == a for p, a in places) / len(places) if places else None,
            "place_error_median": percentile([abs(p - a) / max(a, 1) for p, a in places], 0.5),
            "actual_over_estimated_seconds_median": percentile(estimate_ratio, 0.5),
            "places_at_submission": sorted(t["predicted_place"] or 0 for t in tickets),
            "in_short_places": sum(bool(t["in_short"]) for t in tickets)}


def actual_place(ticket: dict, tickets: list[dict]) -> int:
    """Its place in line as it turned out: 0 if it started when submitted, else 1 + the tickets that
    started after it was submitted and before it."""
    if ticket["started_at"] is None or ticket["started_at"] - ticket["submitted_at"] < 0.05:
        return 0
    return 1 + sum(other is not ticket and other["started_at"] is not None
                   and ticket["submitted_at"] < other["started_at"] < ticket["started_at"] for other in tickets)


def server_page_times(log_path: Path) -> dict:
    """The server's own time per full script run (TL_LAB_PAGE_LOG lines), p50 / p95 per page and in all."""
    lines = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    out = {"runs": len(lines), "p50": percentile([x["seconds"] for x in lines], 0.5),
           "p95": percentile([x["seconds"] for x in lines], 0.95)}
    for page in sorted({x["page"] for x in lines}):
        seconds = [x["seconds"] for x in lines if x["page"] == page]
        out[page] = {"runs": len(seconds), "p50": percentile(seconds, 0.5), "p95": percentile(seconds, 0.95)}
    return out


def start_of_class(records: list[dict]) -> float:
    """When the students pressed Start (perf_counter), from their records."""
    return min((r["clicked_at"] for r in records if "clicked_at" in r), default=time.perf_counter())


def run(args) -> dict:
    from core.lab_settings import load_settings
    from tests.live_app import CHROMIUM, streamlit_server

    sessions = 3 if args.quick else args.sessions
    strategies = ["tfidf"] if args.quick else [s.strip() for s in args.strategies.split(",") if s.strip()]
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log_path, page_log = tmp / "scheduler.jsonl", tmp / "pages.jsonl"
        cores = sorted(os.sched_getaffinity(0))
        server_cpus = set(cores[:1]) if args.split_cpus and len(cores) >= 2 else None
        if server_cpus:  # this script, Playwright's driver and the browsers get the other cores
            os.sched_setaffinity(0, set(cores[1:]))
        browser_path = tmp / "chromium-niced"
        browser_path.write_text(f'#!/bin/sh\nexec nice -n {args.browser_nice} {CHROMIUM} "$@"\n')
        browser_path.chmod(0o755)
        processes: list = []
        with streamlit_server(tmp / "runs", tmp / "server.log", processes=processes, cpus=server_cpus,
                              env={"TL_LAB_SCHEDULER_LOG": str(log_path), "TL_LAB_PAGE_LOG": str(page_log)}) as base:
            memory, renicer = MemoryPeak(processes[0].pid), Renicer(args.browser_nice)
            cpu = CpuShare(processes[0].pid)
            memory.start(), renicer.start(), cpu.start()
            url = f"{base}/?{lesson_query(strategies)}"  # a lesson link opens the app at its address
            records, teacher = asyncio.run(classroom(url, sessions, len(strategies), args.timeout,
                                                     args.switch_every, str(browser_path), not args.no_rehearsal))
            wall = time.perf_counter() - start_of_class(records)
            memory.stop(), renicer.stop()
            cpu_seconds = cpu.stop()
        server_log_tail = (tmp / "server.log").read_text()[-3000:]
        queue = forecast_accuracy(log_path, skip_sessions=1 if teacher else 0)
        pages = server_page_times(page_log)
        ticket_log = log_path.read_text().splitlines() if log_path.exists() else []
        if server_cpus:
            os.sched_setaffinity(0, set(cores))
    switches = [s for r in records for s in r["switch_seconds"]]
    for r in records:
        r["switches"] = len(r.pop("switch_seconds"))
    walls = [r["wall_seconds"] for r in records if r.get("finished")]
    firsts = [r["first_curve_seconds"] for r in records if r.get("first_curve_seconds") is not None]
    return {"sessions": sessions, "strategies": strategies, "lesson_url": url.split("?", 1)[1],
            "settings": {"switch_every_seconds": args.switch_every, "browser_nice": args.browser_nice,
                         "server_cpus": sorted(server_cpus) if server_cpus else "shared"},
            "all_finished": all(r.get("finished") for r in records),
            "all_saw_only_their_own_runs": all(r.get("only_own_runs") for r in records),
            "wall_seconds": wall, "session_wall_seconds": {"min": min(walls, default=None),
                                                           "median": percentile(walls, 0.5),
                                                           "max": max(walls, default=None)},
            "first_curve_seconds": {"median": percentile(firsts, 0.5), "max": max(firsts, default=None)},
            "page_switch_seconds": {"count": len(switches), "p50": percentile(switches, 0.5),
                                    "p95": percentile(switches, 0.95), "max": max(switches, default=None)},
            "server_page_seconds": pages,
            "cpu_seconds": cpu_seconds,
            "peak_server_rss_bytes": memory.peak, "scheduler_memory_bound_bytes": settings.memory_bytes,
            "scheduler_slots": {"long": settings.long_slots, "short": settings.short_slots,
                                "short_seconds": settings.short_seconds},
            "teacher_rehearsal": teacher, "queue": queue, "records": records,
            "tickets": [json.loads(line) for line in ticket_log],
            "server_log_tail": server_log_tail if not all(r.get("finished") for r in records) else ""}
