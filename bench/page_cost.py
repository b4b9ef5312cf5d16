"""What one page switch costs the server and the browser.

Starts `streamlit run app.py` and headless Chromium, and measures page switches in two states a class
lives in:
- **finished**: one session trained the lesson (frozen + TF-IDF on the default data) to the end, then
  switches Results -> Train -> Home (`--switches` rounds, waiting `--settle` seconds after each);
- **waiting**: one session fine-tunes (`full`) and a second one's fine-tune waits for its turn; the
  second switches the same way while it waits (most of a class's pages are in this state).

Per switch it records:
- the latency in the browser (click -> the page's own title shown);
- the page's own work in the browser: the seconds its renderer's main thread spent on tasks
  (Chrome's `Performance.getMetrics` TaskDuration, of which ScriptDuration ran JavaScript). This is
  the cleanest measure of what the page asks of a browser; Home is the floor every switch costs;
- CPU seconds of the server process and of all Chromium processes, from the click to the end of the
  settle window, less what each used in the same time while nobody clicked (finished state only:
  while a fine-tune trains, the server's CPU is the training's).

In the waiting state the server runs on the machine's last core and the browsers on the others (where
there are 2 or more), so that the training does not slow the browser's work it measures; after
training the machine is quiet and both use every core.

`--against COMMIT` measures that commit's app too (a git worktree), in the same run, each state of it
right after this checkout's: the ratio between the two is what a change to the pages saved.

    python bench/run.py page_cost [--switches 8] [--settle 2] [--against COMMIT]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

IDLE_SECONDS = 6.0
PAGES = ("Results", "Train", "Home")
HEADINGS = {"Home": "Transfer Learning Lab"}  # each page's own title, where it is not the menu's
RENDERER_METRICS = ("TaskDuration", "ScriptDuration")
ROOT = Path(__file__).resolve().parents[1]


def add_arguments(p) -> None:
    p.add_argument("--switches", type=int, default=8, help="rounds of switches (Results, Train, Home)")
    p.add_argument("--settle", type=float, default=2.0, help="seconds after each switch (its CPU counts)")
    p.add_argument("--against", default="", help="also measure the app as of this git commit")


def cpu_seconds(server_pid: int) -> tuple[float, float]:
    """(server's, Chromium's) CPU seconds so far."""
    from classroom import processes

    server = browsers = 0.0
    for pid, name, seconds in processes():
        if pid == server_pid:
            server += seconds
        elif "chrom" in name:
            browsers += seconds
    return server, browsers


class Session:
    """One student's browser context on the app, with Chrome's performance metrics of its page."""

    def __init__(self, page, cdp):
        self.page, self.cdp = page, cdp
        self.nav = page.locator('[data-testid="stSidebarNav"]')
        self.main = page.locator('[data-testid="stMain"]')

    @classmethod
    async def open(cls, browser, url: str) -> "Session":
        page = await (await browser.new_context(viewport={"width": 1300, "height": 850})).new_page()
        page.set_default_timeout(300_000)
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        await page.goto(url)
        await page.get_by_text("Estimated time").wait_for()
        await page.get_by_role("button", name="Start training").click()
        return cls(page, cdp)

    async def renderer(self) -> dict[str, float]:
        metrics = {m["name"]: m["value"] for m in (await self.cdp.send("Performance.getMetrics"))["metrics"]}
        return {name: metrics[name] for name in RENDERER_METRICS}

    async def switch(self, title: str) -> float:
        clicked = time.perf_counter()
        await self.nav.get_by_role("link", name=title, exact=True).click()
        await self.main.get_by_role("heading", name=HEADINGS.get(title, title), exact=True).first.wait_for()
        return time.perf_counter() - clicked


async def switches(session: Session, rounds: int, settle: float, server_pid: int | None) -> dict:
    """`rounds` x (Results, Train, Home), each followed by `settle` s: per page, the median latency,
    renderer seconds and (with `server_pid`) CPU seconds less the idle rate (see `idle_rates`)."""
    for title in PAGES:  # each page once, before measuring (imports, first figures)
        await session.switch(title)
        await asyncio.sleep(settle)
    idle_before = await idle_rates(server_pid) if server_pid is not None else None
    samples: dict[str, dict[str, list[float]]] = {title: {} for title in PAGES}
    windows: dict[str, list[tuple[float, float, float]]] = {title: [] for title in PAGES}
    for _ in range(rounds):
        for title in PAGES:
            began, renderer = time.perf_counter(), await session.renderer()
            cpu = cpu_seconds(server_pid) if server_pid is not None else None
            seen = {"latency": await session.switch(title)}
            await asyncio.sleep(settle)
            window, renderer_after = time.perf_counter() - began, await session.renderer()
            seen.update({name: renderer_after[name] - renderer[name] for name in RENDERER_METRICS})
            if server_pid is not None:
                cpu_after = cpu_seconds(server_pid)
                windows[title].append((window, cpu_after[0] - cpu[0], cpu_after[1] - cpu[1]))
            for name, value in seen.items():
                samples[title].setdefault(name, []).append(value)
    if server_pid is not None:
        # Idle before and after the switches: the lower rate of each process is its idle; the other
        # one caught work left over (a run's last writes, a garbage collection) that is no switch's.
        idle_after = await idle_rates(server_pid)
        idle = tuple(min(a, b) for a, b in zip(idle_before, idle_after))
        for title, seen in windows.items():
            samples[title]["server"] = [server - idle[0] * window for window, server, _ in seen]
            samples[title]["browsers"] = [browsers - idle[1] * window for window, _, browsers in seen]
    out: dict = {title: {name: {"median": statistics.median(v), "max": max(v)} for name, v in values.items()}
                 for title, values in samples.items()}
    if server_pid is not None:
        out["idle_cpu_per_second"] = {"server": idle[0], "browsers": idle[1], "before": idle_before,
                                      "after": idle_after}
        for title in PAGES:  # None where the server's part is below what its idle noise lets one see
            server = out[title]["server"]["median"]
            out[title]["browser_over_server"] = out[title]["browsers"]["median"] / server if server >= 0.005 else None
    return out


async def idle_rates(server_pid: int) -> tuple[float, float]:
    """CPU seconds per second of the server and of the browsers while nobody clicks."""
    before = cpu_seconds(server_pid)
    await asyncio.sleep(IDLE_SECONDS)
    after = cpu_seconds(server_pid)
    return (after[0] - before[0]) / IDLE_SECONDS, (after[1] - before[1]) / IDLE_SECONDS


async def finished_state(base: str, server_pid: int, rounds: int, settle: float) -> dict:
    from classroom import lesson_query
    from playwright.async_api import async_playwright

    from tests.live_app import CHROMIUM, CHROMIUM_ARGS

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        session = await Session.open(browser, f"{base}/?{lesson_query(['frozen', 'tfidf'])}")
        await session.page.get_by_text("Training finished").wait_for()
        out = await switches(session, rounds, settle, server_pid)
        await browser.close()
    return out


async def waiting_state(base: str, rounds: int, settle: float) -> dict:
    from classroom import lesson_query
    from playwright.async_api import TimeoutError as PlaywrightTimeout, async_playwright

    from tests.live_app import CHROMIUM, CHROMIUM_ARGS

    from core.config import RunConfig
    from core.lesson import Lesson, link_query

    url = f"{base}/?{lesson_query(['full'])}"
    long = f"{base}/?{link_query(Lesson(strategies=('full',), config=RunConfig(epochs=20)))}"  # outlasts the switches
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        first = await Session.open(browser, long)
        await first.page.get_by_text("Run 1 of 1").first.wait_for()  # the first fine-tune holds the turn
        await first.switch("Home")  # off its live curves, which would share the browsers' cores
        second = await Session.open(browser, url)
        await second.page.get_by_text("Waiting for its turn").first.wait_for()
        out = await switches(second, rounds, settle, None)
        await second.switch("Train")
        try:
            await second.page.get_by_text("Waiting for its turn").first.wait_for(timeout=10_000)
            out["still_waiting_at_the_end"] = True
        except PlaywrightTimeout:
            out["still_waiting_at_the_end"] = False
        await browser.close()
    return out


@contextlib.contextmanager
def checkout_of(commit: str):
    """A temporary git worktree of `commit` (its app and core), removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "app"
        subprocess.run(["git", "worktree", "add", "--detach", str(folder), commit], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            yield folder
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, capture_output=True)


def measure_app(app: Path, state: str, rounds: int, settle: float) -> dict:
    """One state (`finished` or `waiting`) of the app in folder `app`, on a server of its own."""
    from tests.live_app import streamlit_server

    cores = sorted(os.sched_getaffinity(0))
    split = state == "waiting" and len(cores) > 1
    server_cores, browser_cores = ({cores[-1]}, set(cores[:-1])) if split else (None, set(cores))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        processes: list = []
        with streamlit_server(tmp / "runs", tmp / "server.log", processes=processes, cpus=server_cores,
                              app_dir=app) as base:
            os.sched_setaffinity(0, browser_cores)  # the browsers Playwright starts inherit it
            try:
                if state == "finished":
                    return asyncio.run(finished_state(base, processes[0].pid, rounds, settle))
                return asyncio.run(waiting_state(base, rounds, settle))
            finally:
                os.sched_setaffinity(0, set(cores))


def run(args) -> dict:
    # Quick (the test suite's): one round, short waits; the numbers are then only a check of the path.
    rounds, settle = (1, min(args.settle, 0.5)) if args.quick else (args.switches, args.settle)
    out: dict = {"lessons": {"finished": "frozen,tfidf on the default data, trained to the end",
                             "waiting": "full on the default data, waiting behind another session's full"},
                 "settings": {"switches_each_way": rounds, "settle_seconds": settle,
                              "against": args.against or None, "cores": len(os.sched_getaffinity(0))}}
    with checkout_of(args.against) if args.against else contextlib.nullcontext() as other:
        apps = {"this commit": ROOT, **({args.against: other} if other else {})}
        for state in ("finished", "waiting"):
            for name, folder in apps.items():
                out.setdefault(name, {})[state] = measure_app(folder, state, rounds, settle)
    return out
