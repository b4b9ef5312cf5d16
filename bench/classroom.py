"""A class on one server, measured with real browsers: N sessions open a lesson link and press Start
at the same moment.

Starts one `streamlit run app.py` (its own empty runs folder, the scheduler logging every ticket) and
one headless Chromium with N browser contexts (N separate sessions: own cookies, own websocket). Each
session opens the lesson link on the Train page, all press "Start training" together, then switch
pages (Results <-> Train) until their training has finished. Recorded:
- every session finished, with its wall time from Start to "Training finished";
- time to the first live curve on the Train page (a chart drawn by the live view);
- page-switch latency (click in the menu -> the page's own title shown) p50 / p95 while they train;
- peak server memory (RSS of the server and its training workers, polled every 0.25 s) and the memory
  bound the scheduler enforces;
- the queue: each session's place in line at Start against the runs that started before it, and the
  forecasts against what happened, from the scheduler's log: the one made at submission, and those
  shown while the work waited (kept every 5 s);
- privacy: each session's Results page says it shows exactly its own runs and no others.

The browsers run on the same machine as the server (2 cores here), where in a classroom they run on
the students' laptops, and a page switch costs the browser 10-20x the CPU it costs the server
(bench/page_cost.py). Chromium runs at the lowest priority (`--browser-nice 19`), but Linux's
autogroup shares the CPU between sessions first and applies nice only inside a session, and
Playwright starts Chromium in a session of its own: so by default the browsers weigh as much as the
whole server (with 20 sessions they took 70% of the CPU). `--browser-group-nice 19` lowers their
session's weight once every Start has reached the server, so the server trains as if the browsers
were elsewhere; they then get only what the server leaves, and render late. `--split-cpus` pins the
server to the first core and the browsers to the others (on 2 cores twenty pages then took minutes
only to load). So the page-switch times in the browser include the browsers' own work on the
server's machine; the server's part is recorded beside them, from the websocket (the rerun request
for the other page -> the end of the server's run of it, `SocketTimes`) and from the server (its
own time per full page run, `TL_LAB_PAGE_LOG`, see ui/page_log.py). Each student switches pages
every few seconds (`--switch-every`), as people do.

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
    p.add_argument("--browser-group-nice", type=int, default=None,
                   help="CPU weight of the browsers' session against the server's once every Start has "
                        "reached the server (Linux autogroup nice, 19: lowest; default: left equal)")
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
    visible page, so the nice wrapper alone does not hold) until stopped, and, with `group_niceness`,
    the scheduler group they run in.

    Linux's autogroup (on where /proc/sys/kernel/sched_autogroup_enabled is 1) shares the CPU fairly
    between sessions first and applies a process's nice only inside its own session; Playwright starts
    Chromium in a session of its own, so with their nice alone the browsers weigh as much as the whole
    server. `group_niceness` sets that session's weight (/proc/PID/autogroup)."""

    every = 0.5

    def __init__(self, niceness: int, group_niceness: int | None = None):
        super().__init__()
        self.niceness, self.group_niceness = niceness, group_niceness
        self.groups: set[str] = set()

    def poll(self) -> None:
        for pid, name, _ in processes():
            if "chrom" in name:
                try:
                    os.setpriority(os.PRIO_PROCESS, pid, self.niceness)
                    if self.group_niceness is not None:
                        self.groups.add(set_group_niceness(pid, self.group_niceness))
                except OSError:
                    continue


def autogroup_enabled() -> bool | None:
    """Whether Linux shares the CPU between sessions first (None: not Linux, or unknown)."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return None


def set_group_niceness(pid: int, niceness: int) -> str:
    """Set the nice of `pid`'s autogroup (its session's share of the CPU); returns the group's name."""
    path = Path(f"/proc/{pid}/autogroup")
    path.write_text(str(niceness))
    return path.read_text().split()[0]


def family(pid: int) -> list:
    """The process `pid` and every process it started (the server's training workers), as psutil objects."""
    import psutil

    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return []


class MemoryPeak(Polling):
    """Polls the resident memory of a process and its children (the server and its training workers)
    until stopped; `peak` in bytes (pages shared between them count once per process: an upper bound)."""

    every = 0.25

    def __init__(self, pid: int):
        super().__init__()
        self.pid, self.peak, self.most_workers = pid, 0, 0

    def poll(self) -> bool:
        import psutil

        processes_now = family(self.pid)
        if not processes_now:
            return False
        total = 0
        for proc in processes_now:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        self.peak, self.most_workers = max(self.peak, total), max(self.most_workers, len(processes_now) - 1)
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
        server = {proc.pid for proc in family(self.server_pid)}  # with its training workers
        for pid, name, seconds in processes():
            kind = "server" if pid in server else "browsers" if "chrom" in name else "other"
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


class SocketTimes:
    """Page switches as the page's websocket saw them, on the browser's own clock (CDP Network events):
    from the rerun request for another page to the first element of the answer, and to the end of the
    server's run of that page. This is the server's part of a switch, queueing included, without the
    browser's work before sending the click and after receiving the page."""

    def __init__(self):
        self.page, self.sent_at, self.first_element = "", None, None
        self.timing = False  # switches are recorded while this is True (the student's switches while training)
        self.to_first_element: list[float] = []
        self.to_complete: list[float] = []

    @classmethod
    async def listening(cls, context, page) -> "SocketTimes":
        """One that hears `page`'s websocket frames (CDP Network events) from now on."""
        times = cls()
        cdp = await context.new_cdp_session(page)
        cdp.on("Network.webSocketFrameSent", times.on_sent)
        cdp.on("Network.webSocketFrameReceived", times.on_received)
        await cdp.send("Network.enable")
        return times

    def on_sent(self, event: dict) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        message = decoded(event, BackMsg)
        if message is None or message.WhichOneof("type") != "rerun_script" or message.rerun_script.fragment_id:
            return
        page, self.page = self.page, message.rerun_script.page_script_hash
        if page and page != self.page and self.timing:  # another page than the last full run's: a page switch
            self.sent_at, self.first_element = event["timestamp"], None

    def on_received(self, event: dict) -> None:
        if self.sent_at is None:
            return
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        message = decoded(event, ForwardMsg)
        kind = message.WhichOneof("type") if message is not None else None
        if kind in ("delta", "ref_hash") and self.first_element is None:
            self.first_element = event["timestamp"] - self.sent_at
        elif kind == "script_finished" and message.script_finished in (
                ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
            self.to_complete.append(event["timestamp"] - self.sent_at)
            self.to_first_element.append(self.first_element if self.first_element is not None
                                         else self.to_complete[-1])
            self.sent_at = None


def decoded(event: dict, message_type):
    """The protobuf message of a binary websocket frame event, or None."""
    import base64

    frame = event.get("response", {})
    if frame.get("opcode") != 2:
        return None
    try:
        return message_type.FromString(base64.b64decode(frame["payloadData"]))
    except Exception:  # noqa: BLE001 - not one of Streamlit's messages
        return None


async def screenshot(page, name: str) -> str | None:
    """What the student saw, saved for the report outside the repository (it is not a result); its
    path, or None when the page is gone."""
    path = Path(tempfile.gettempdir()) / f"{name}-{int(time.time())}.png"
    try:
        await page.screenshot(path=str(path), full_page=True, timeout=30_000)
    except Exception:  # noqa: BLE001 - a closed or crashed page
        return None
    return str(path)


class Starts:
    """Counts the sessions whose Start has reached the server (or that failed before); `every` is set
    when all have."""

    def __init__(self, sessions: int):
        self.left, self.every = sessions, asyncio.Event()

    def one(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.every.set()


async def switch_pages(page, finished_text, deadline: float, switch_every: float, seconds: list[float]) -> None:
    """Results <-> Train every `switch_every` s until `finished_text` shows (or `deadline`), adding the
    seconds of each switch (click in the menu -> the page's own title shown) to `seconds` as it goes."""
    nav, main = page.locator('[data-testid="stSidebarNav"]'), page.locator('[data-testid="stMain"]')
    while await finished_text.count() == 0 and time.perf_counter() < deadline:
        for link, title in SWITCHES:
            clicked = time.perf_counter()
            await nav.get_by_role("link", name=link, exact=True).click()
            await main.get_by_role("heading", name=title, exact=True).first.wait_for()
            seconds.append(time.perf_counter() - clicked)
            await page.wait_for_timeout(switch_every * 1000)


async def results_caption(page) -> str:
    """Open Results through the menu; its 'Showing N of your own runs and M published runs' line."""
    await page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Results", exact=True).click()
    shows = page.locator('[data-testid="stMain"]').get_by_text("Showing ")
    await shows.first.wait_for()
    return (await shows.first.inner_text()).strip()


async def watch_the_start(page, record: dict, finished_text, started: float, timeout: float,
                          starts: Starts | None) -> None:
    """After Start: whether the session waited in line (and the words it was shown), then the seconds to
    its first live curve."""
    main = page.locator('[data-testid="stMain"]')
    queue = main.get_by_text("Waiting for its turn")
    first_step = main.locator(".js-plotly-plot, [data-testid='stPlotlyChart']")
    await page.get_by_text("Run 1 of").or_(queue).first.wait_for()
    record["waited_in_line"] = await queue.count() > 0
    record["stage"] = "started"
    if starts is not None:
        starts.one()
    if record["waited_in_line"]:
        try:  # the line may have moved on since: its turn came and the page redrew
            record["queue_words"] = (await queue.first.inner_text(timeout=5_000)).strip()
        except Exception:  # noqa: BLE001 - the words are a detail of the record
            record["queue_words"] = None
    try:
        await first_step.or_(finished_text).first.wait_for(timeout=timeout * 1000)
        record["first_curve_seconds"] = time.perf_counter() - started
    except Exception:  # noqa: BLE001 - recorded as missing, not fatal
        record["first_curve_seconds"] = None


async def one_session(browser, url: str, ready: asyncio.Barrier, go: asyncio.Event, index: int,
                      n_runs: int, timeout: float, switch_every: float, starts: Starts | None = None) -> dict:
    """One student: open the link, wait for everyone, Start, switch pages until finished, check Results."""
    context = await browser.new_context(viewport={"width": 1300, "height": 850})
    page = await context.new_page()
    page.set_default_timeout(120_000)  # one step (a page, a click); the whole session has `timeout`
    record: dict = {"session": index, "switch_seconds": []}
    socket = await SocketTimes.listening(context, page)
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
        finished_text = page.get_by_text("Training finished")
        await watch_the_start(page, record, finished_text, started, timeout, starts)
        record["stage"] = "switching"
        socket.timing = True
        await switch_pages(page, finished_text, started + timeout, switch_every, record["switch_seconds"])
        socket.timing = False
        record["finished"] = await finished_text.count() > 0
        record["stage"] = "results"
        record["wall_seconds"] = time.perf_counter() - started
        record["sidebar"] = (await page.get_by_text("runs finished").first.inner_text()).strip() \
            if record["finished"] else ""
        record["results_caption"] = await results_caption(page)
        record["only_own_runs"] = record["results_caption"].startswith(
            f"Showing {n_runs} of your own runs and 0 published runs")
    except Exception as exc:  # noqa: BLE001 - one failing session is recorded, the others go on
        record["error"] = f"{type(exc).__name__}: {exc}"[:500]
        record["screenshot"] = await screenshot(page, f"classroom-session{index}")
        record.setdefault("finished", False)
        if "stage" not in record:  # it never reached the start line: nobody would start (the barrier is broken)
            await ready.abort()
        if starts is not None and record.get("stage") in (None, "ready"):
            starts.one()  # it will not start: the others need not wait for it
    finally:
        record["server_switch_seconds"] = socket.to_complete
        record["server_first_element_seconds"] = socket.to_first_element
        await context.close()
    return record


async def classroom(url: str, sessions: int, n_runs: int, timeout: float, switch_every: float,
                    browser_path: str, rehearsal: bool, on_started=None) -> tuple[list[dict], dict | None]:
    """The class; `on_started()` is called once every session's Start has reached the server."""
    from playwright.async_api import async_playwright

    from tests.live_app import CHROMIUM_ARGS

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        teacher = None
        if rehearsal:  # the teacher tries the lesson once before class: the server calibrates its estimates
            teacher_ready, teacher_go = asyncio.Barrier(1), asyncio.Event()
            teacher_go.set()
            teacher = await one_session(browser, url, teacher_ready, teacher_go, -1, n_runs, timeout, switch_every)
        ready, go, starts = asyncio.Barrier(sessions + 1), asyncio.Event(), Starts(sessions)
        tasks = [asyncio.create_task(one_session(browser, url, ready, go, i, n_runs, timeout, switch_every, starts))
                 for i in range(sessions)]

        async def when_started() -> None:
            await starts.every.wait()
            if on_started is not None:
                on_started()

        watcher = asyncio.create_task(when_started())
        try:
            await ready.wait()  # everyone has the lesson open and ready to start
        except asyncio.BrokenBarrierError:  # a session could not open it: each records why, none starts
            pass
        go.set()
        records = await asyncio.gather(*tasks)
        watcher.cancel()
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


def spread(values: list) -> dict:
    return {"count": len(values), "p50": percentile(values, 0.5), "p95": percentile(values, 0.95),
            "max": max(values, default=None)}


def session_times(records: list[dict]) -> dict:
    """The sessions' wall times, first curves and page switches (in the browser and as the server answered),
    summarized; each record keeps only its number of switches."""
    switches = [s for r in records for s in r["switch_seconds"]]
    answered = [s for r in records for s in r.pop("server_switch_seconds", [])]
    first_elements = [s for r in records for s in r.pop("server_first_element_seconds", [])]
    for r in records:
        r["switches"] = len(r.pop("switch_seconds"))
    walls = [r["wall_seconds"] for r in records if r.get("finished")]
    firsts = [r["first_curve_seconds"] for r in records if r.get("first_curve_seconds") is not None]
    return {"session_wall_seconds": {"min": min(walls, default=None), "median": percentile(walls, 0.5),
                                     "max": max(walls, default=None)},
            "first_curve_seconds": {"median": percentile(firsts, 0.5), "max": max(firsts, default=None)},
            "page_switch_seconds": spread(switches),
            "server_answer_seconds": {**spread(answered), "first_element_p50": percentile(first_elements, 0.5),
                                      "first_element_p95": percentile(first_elements, 0.95)}}


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
            # The browsers' session yields to the server only once every Start has reached it: on the
            # students' own laptops the clicks would not wait for the server's cores.
            memory, renicer = MemoryPeak(processes[0].pid), Renicer(args.browser_nice)
            cpu = CpuShare(processes[0].pid)
            memory.start(), renicer.start(), cpu.start()
            url = f"{base}/?{lesson_query(strategies)}"  # a lesson link opens the app at its address
            records, teacher = asyncio.run(classroom(
                url, sessions, len(strategies), args.timeout, args.switch_every, str(browser_path),
                not args.no_rehearsal, on_started=lambda: setattr(renicer, "group_niceness", args.browser_group_nice)))
            wall = time.perf_counter() - start_of_class(records)
            memory.stop(), renicer.stop()
            cpu_seconds = cpu.stop()
        server_log_tail = (tmp / "server.log").read_text()[-3000:]
        queue = forecast_accuracy(log_path, skip_sessions=1 if teacher else 0)
        pages = server_page_times(page_log)
        ticket_log = log_path.read_text().splitlines() if log_path.exists() else []
        if server_cpus:
            os.sched_setaffinity(0, set(cores))
    return {"sessions": sessions, "strategies": strategies, "lesson_url": url.split("?", 1)[1],
            "settings": {"switch_every_seconds": args.switch_every, "browser_nice": args.browser_nice,
                         "browser_group_nice": args.browser_group_nice, "autogroup": autogroup_enabled(),
                         "browser_groups": sorted(renicer.groups),
                         "server_cpus": sorted(server_cpus) if server_cpus else "shared"},
            "all_finished": all(r.get("finished") for r in records),
            "all_saw_only_their_own_runs": all(r.get("only_own_runs") for r in records),
            "wall_seconds": wall, **session_times(records),
            "server_page_seconds": pages,
            "cpu_seconds": cpu_seconds,
            "peak_server_rss_bytes": memory.peak, "server_processes_most": 1 + memory.most_workers,
            "scheduler_memory_bound_bytes": settings.memory_bytes, "executor": settings.executor,
            "scheduler_slots": {"long": settings.long_slots, "short": settings.short_slots,
                                "short_seconds": settings.short_seconds},
            "teacher_rehearsal": teacher, "queue": queue, "records": records,
            "tickets": [json.loads(line) for line in ticket_log],
            "server_log_tail": server_log_tail if not all(r.get("finished") for r in records) else ""}
