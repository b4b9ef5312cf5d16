"""What one page switch costs the server and the browser, on a quiet machine.

Starts `streamlit run app.py` and one headless Chromium session, trains the lesson (frozen + TF-IDF on
the default data) to the end, then switches between Results and Train (`--switches` times each way,
waiting `--settle` seconds after each) and records per switch:
- the latency in the browser (click -> the page's own title shown);
- CPU seconds the server process used, and the Chromium processes used, from the click to the end of
  the settle window, less what each used in the same time while nobody clicked (measured first).

Run alone: its CPU seconds are only the switch's when nothing else runs. The classroom bench
(bench/classroom.py) puts N browsers on the server's machine; this case says what each page switch
asks of the browsers there, against what it asks of the server.

    python bench/run.py page_cost [--switches 8] [--settle 2]
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

IDLE_SECONDS = 6.0


def add_arguments(p) -> None:
    p.add_argument("--switches", type=int, default=8, help="switches to each page")
    p.add_argument("--settle", type=float, default=2.0, help="seconds after each switch (its CPU counts)")


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


async def measure(url: str, server_pid: int, switches: int, settle: float) -> dict:
    from playwright.async_api import async_playwright

    from tests.live_app import CHROMIUM, CHROMIUM_ARGS

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = await (await browser.new_context(viewport={"width": 1300, "height": 850})).new_page()
        page.set_default_timeout(300_000)
        await page.goto(url)
        await page.get_by_text("Estimated time").wait_for()
        await page.get_by_role("button", name="Start training").click()
        await page.get_by_text("Training finished").wait_for()
        nav, main = page.locator('[data-testid="stSidebarNav"]'), page.locator('[data-testid="stMain"]')

        async def switch(title: str) -> float:
            clicked = time.perf_counter()
            await nav.get_by_role("link", name=title, exact=True).click()
            await main.get_by_role("heading", name=title, exact=True).first.wait_for()
            return time.perf_counter() - clicked

        for title in ("Results", "Train"):  # each page once, before measuring (imports, first figures)
            await switch(title)
            await asyncio.sleep(settle)
        idle_server, idle_browsers = cpu_seconds(server_pid)
        await asyncio.sleep(IDLE_SECONDS)
        server, browsers = cpu_seconds(server_pid)
        idle_rate = ((server - idle_server) / IDLE_SECONDS, (browsers - idle_browsers) / IDLE_SECONDS)
        out = {"idle_cpu_per_second": {"server": idle_rate[0], "browsers": idle_rate[1]}}
        samples: dict[str, dict[str, list[float]]] = {
            title: {"latency": [], "server": [], "browsers": []} for title in ("Results", "Train")}
        for _ in range(switches):
            for title in ("Results", "Train"):
                before, began = cpu_seconds(server_pid), time.perf_counter()
                samples[title]["latency"].append(await switch(title))
                await asyncio.sleep(settle)
                after, window = cpu_seconds(server_pid), time.perf_counter() - began
                samples[title]["server"].append(after[0] - before[0] - idle_rate[0] * window)
                samples[title]["browsers"].append(after[1] - before[1] - idle_rate[1] * window)
        await browser.close()
    for title, values in samples.items():
        out[title] = {name: {"median": statistics.median(v), "max": max(v)} for name, v in values.items()}
        out[title]["browser_over_server"] = (out[title]["browsers"]["median"]
                                             / max(out[title]["server"]["median"], 1e-3))
    return out


def run(args) -> dict:
    from classroom import lesson_query

    from tests.live_app import streamlit_server

    switches = 2 if args.quick else args.switches
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        processes: list = []
        with streamlit_server(tmp / "runs", tmp / "server.log", processes=processes) as base:
            url = f"{base}/?{lesson_query(['frozen', 'tfidf'])}"
            result = asyncio.run(measure(url, processes[0].pid, switches, args.settle))
    return {"lesson": "frozen,tfidf on the default data, trained to the end", "switches_each_way": switches,
            "settle_seconds": args.settle, **result}
