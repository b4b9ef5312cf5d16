"""Is the dashboard usable while a full fine-tune trains? Measured in a real browser.

Starts `streamlit run app.py`, chooses Rotten Tomatoes (the default data), starts `full`, then
measures while it trains:
- page switch time: click a sidebar link -> a text of the page itself (not the sidebar menu, which
  repeats the titles) is visible (target < 1 s);
- live refresh interval: time between changes of the "step X of Y" line (target <= 2 s);
- cancel latency: click Cancel -> the job reports "cancelled", compared with one step's time
  (target: within one batch).

Needs Streamlit, Playwright and /usr/bin/chromium, and takes minutes (--quick: one round of switches and
5 s of refresh intervals, still about a minute).

    python bench/run.py ui_responsiveness [--quick] [--tag TAG]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

# tests.live_app (Playwright) is imported where it is used, so the runner can import every case without it.

PAGES = [("Results", "Results"), ("Guide", "Guide: which strategy when"), ("Data", "Labelled texts"),
         ("Playground", "Playground"), ("Train", "Set up the next comparison")]  # folded while a job trains
STEP_LINE = "training, epoch"


def choose_default_data(page) -> None:
    """Data page with its defaults (Rotten Tomatoes, 1,000 training sentences), in use for training."""
    from tests.live_app import go_to, settle

    go_to(page, "Data", "Labelled texts")
    settle(page)
    page.get_by_text("In use for training").wait_for()  # the defaults are in use from the first visit


def time_page_switches(page, rounds: int = 2) -> list[dict]:
    """Seconds from a sidebar click to the page's own text, for every page, `rounds` times."""
    from tests.live_app import go_to

    timings = []
    for _ in range(rounds):
        for title, marker in PAGES:
            started = time.perf_counter()
            go_to(page, title, marker, timeout=30_000)
            timings.append({"page": title, "seconds": time.perf_counter() - started})
    return timings


def refresh_intervals(page, seconds: float = 20.0) -> list[float]:
    """Intervals between visible changes of the live step line on the Train page."""
    line = page.get_by_text(STEP_LINE).first
    last_text, last_change, intervals = line.inner_text(), time.perf_counter(), []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        page.wait_for_timeout(100)
        text = line.inner_text()
        if text != last_text:
            now = time.perf_counter()
            intervals.append(now - last_change)
            last_text, last_change = text, now
    return intervals


def cancel_latency(page) -> float:
    """Seconds from clicking Cancel to the page saying the training was cancelled."""
    started = time.perf_counter()
    page.get_by_role("button", name="Cancel training").click()
    page.get_by_text("Last training: cancelled").wait_for(timeout=120_000)
    return time.perf_counter() - started


def measure_while_training(rounds: int, refresh_seconds: float) -> dict:
    """Start the app and a `full` run from the browser; page switches, refresh intervals, cancel."""
    from tests.live_app import browser_page, go_to, start_training, streamlit_server

    with tempfile.TemporaryDirectory() as tmp, \
            streamlit_server(Path(tmp) / "runs", Path(tmp) / "streamlit.log") as url, browser_page() as page:
        page.goto(url)
        page.get_by_text("Where to start").wait_for(timeout=60_000)
        choose_default_data(page)
        start_training(page, {"Full fine-tuning"}, epochs=2)
        page.get_by_text(STEP_LINE).first.wait_for(timeout=180_000)
        switches = time_page_switches(page, rounds)
        go_to(page, "Train", STEP_LINE, timeout=30_000)
        intervals = refresh_intervals(page, refresh_seconds)
        return {"page_switch_seconds": switches, "step_line_change_intervals": intervals,
                "cancel_seconds": cancel_latency(page)}


def run(args) -> dict:
    """Measure, then the medians, maxima and verdicts; quick: one round, 5 s of refreshes."""
    measured = measure_while_training(1 if args.quick else 2, 5.0 if args.quick else 20.0)
    switches, intervals = measured["page_switch_seconds"], measured["step_line_change_intervals"]
    step_seconds = statistics.median(intervals) if intervals else None
    print(f"page switch median {statistics.median(s['seconds'] for s in switches):.2f} s, "
          f"max {max(s['seconds'] for s in switches):.2f} s; cancel {measured['cancel_seconds']:.2f} s")
    return {
        "settings": {"rounds": 1 if args.quick else 2, "data": "rotten_tomatoes", "strategy": "full", "epochs": 2},
        **measured,
        "page_switch_max_seconds": max(s["seconds"] for s in switches),
        "page_switch_median_seconds": statistics.median(s["seconds"] for s in switches),
        "targets": {"page_switch_max_under_1s": max(s["seconds"] for s in switches) < 1.0,
                    "refresh_within_2s_or_step": bool(intervals) and all(
                        i <= max(2.0, (step_seconds or 0) * 1.5) for i in intervals)},
    }


if __name__ == "__main__":  # the same as `python bench/run.py ui_responsiveness ARGS`
    import run as runner

    runner.main_as_script(__file__)
