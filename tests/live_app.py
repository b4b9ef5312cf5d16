"""Drive the real dashboard in a real browser: a `streamlit run` subprocess and headless Chromium
(Playwright). Shared by the browser test and docs/screenshots.py.

Playwright cannot download browsers here, so it drives the system's Chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
NAV_MENU = '[data-testid="stSidebarNav"]'
MAIN = '[data-testid="stMain"]'  # the page itself, without the sidebar (its menu repeats page titles)
DEFAULT_TITLES = ("Full fine-tuning", "Frozen encoder (last layer only)", "From scratch", "TF-IDF + logistic regression")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(runs_dir: Path, log_path: Path, env: dict | None = None,
                     processes: list | None = None, port: int | None = None,
                     cpus: set[int] | None = None, app_dir: Path | None = None) -> Iterator[str]:
    """`streamlit run app.py` on a free port, saving runs in `runs_dir`; yields the app's URL.
    `env` adds environment variables; the server's Popen is appended to `processes` when given;
    `cpus` pins the server to those CPU cores; `app_dir` is a checkout other than this one to serve.
    The server trains in its default worker processes (core.process_executor) unless `env` says otherwise.

    The file watcher is off: an edit to any project file while the server runs would make
    Streamlit unload every project module (losing loaded data and caches) at the next rerun.
    """
    port = port or free_port()
    inherited = {k: v for k, v in os.environ.items() if k != "TL_LAB_EXECUTOR"}  # it trains as a class server does
    env = {**inherited, "TL_LAB_RUNS": str(runs_dir), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           **(env or {})}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    with open(log_path, "w") as log:
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        server = subprocess.Popen(command, cwd=app_dir or ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pin)
        if processes is not None:
            processes.append(server)
        try:
            _wait_until_healthy(f"http://127.0.0.1:{port}/_stcore/health", server)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_until_healthy(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout} s")


@contextmanager
def browser_page(width: int = 1400, height: int = 900):
    """A Playwright page in headless system Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def go_to(page, title: str, wait_for: str, timeout: float = 60_000) -> None:
    """Open a page through the sidebar menu (a URL change would start a new session) and wait for a
    text of the page itself (outside the sidebar)."""
    # Exact: "Data" must not match a longer page title that contains it.
    page.locator(NAV_MENU).get_by_role("link", name=title, exact=True).click()
    page.locator(MAIN).get_by_text(wait_for).first.wait_for(timeout=timeout)


def settle(page, timeout: float = 60_000) -> None:
    """Wait until the script run is over: no running indicator and no stale (greyed) element, twice in a row."""
    busy = '[data-testid="stStatusWidget"], [data-stale="true"]'
    deadline = time.time() + timeout / 1000
    quiet_checks = 0
    while quiet_checks < 2:
        if time.time() > deadline:
            raise TimeoutError("the app kept running")
        page.wait_for_timeout(400)
        quiet_checks = quiet_checks + 1 if page.locator(busy).count() == 0 else 0


def set_number(page, label: str, value: int | str) -> None:
    """Type into a number (or text) input and commit it (Streamlit reads it on Enter)."""
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    settle(page)


def choose_synthetic_data(page, n_reviews: int = 300) -> None:
    """Data page: synthetic reviews of the given size, used for training."""
    go_to(page, "Data", "Labelled texts")
    page.get_by_text("Synthetic reviews: generated").click()
    settle(page)
    set_number(page, "Number of reviews", n_reviews)
    page.get_by_text(f"{n_reviews:,} labelled texts").wait_for()
    page.get_by_role("button", name="Use this data for training").click()
    page.get_by_text("In use for training").wait_for()


def keep_strategies(page, strategies: set[str]) -> None:
    """Remove every default strategy not in `strategies` (titles as shown) from the page's multiselect."""
    for title in DEFAULT_TITLES:
        if title not in strategies:
            page.get_by_role("button", name=f"Remove {title}").click()
            settle(page)


def start_training(page, strategies: set[str], epochs: int) -> None:
    """Train page: keep only `strategies` (titles as shown), set the epochs, start."""
    go_to(page, "Train", "Strategies to compare")
    keep_strategies(page, strategies)
    set_number(page, "Epochs", epochs)
    # Timing the machine for the estimate takes seconds; a click now would interrupt it.
    page.get_by_text("Estimated time").wait_for(timeout=120_000)
    page.get_by_role("button", name="Start training").click()


def start_sweep(page, strategies: set[str], sizes: str, seeds: int) -> None:
    """Sweep page (training sizes): keep only `strategies`, type the sizes ("50, 100") and seeds, start."""
    go_to(page, "Sweep", "Training sizes")
    keep_strategies(page, strategies)
    set_number(page, "Training sizes (comma-separated)", sizes)
    set_number(page, "Seeds per size", seeds)
    page.get_by_text("estimated time").wait_for(timeout=120_000)  # a click while timing would interrupt it
    page.get_by_role("button", name="Start sweep").click()
