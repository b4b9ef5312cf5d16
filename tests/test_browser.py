"""The whole path in a real browser: data -> train (frozen + TF-IDF, real MiniLM) -> results -> playground."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live_app import CHROMIUM, browser_page, choose_synthetic_data, go_to, start_training, streamlit_server

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")]


def test_train_two_strategies_compare_and_predict_in_the_browser(tmp_path):
    pytest.importorskip("playwright")
    with streamlit_server(tmp_path / "runs", tmp_path / "streamlit.log") as url, browser_page() as page:
        try:
            walk_through(page, url, tmp_path)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))  # what the browser showed, for the report
            raise


def walk_through(page, url, tmp_path) -> None:
    """Home -> Data (synthetic) -> Train -> Results -> Playground, checking what each step shows."""
    page.goto(url)
    page.get_by_text("Where to start").wait_for(timeout=60_000)
    choose_synthetic_data(page, n_reviews=300)
    start_training(page, {"Frozen encoder (last layer only)", "TF-IDF + logistic regression"}, epochs=1)
    page.get_by_text("Last training: finished").wait_for(timeout=180_000)
    assert page.get_by_text("failed").count() == 0

    go_to(page, "Results", "Scores are on the held-out test split")
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    with page.expect_download(timeout=120_000) as download:  # matplotlib loads on this click, not with the page
        page.get_by_role("button", name="Comparison figure (PNG, 300 DPI)").click()
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")
    with page.expect_download(timeout=60_000) as download:  # made on the click, not on every run of the page
        page.get_by_role("button", name="Results table (CSV)").click()
    table = Path(download.value.path()).read_text().splitlines()
    assert table[0].startswith("Run,") and len(table) == 3, table  # a header and the two runs
    saved = list((tmp_path / "runs" / "sessions").glob("*/*/result.json"))
    assert len(saved) == 2  # both runs saved in this session's folder

    go_to(page, "Playground", "Examples worth trying")
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=60_000)
    axis_labels = chart.locator("g.ytick text").all_text_contents()
    assert sorted(axis_labels) == ["frozen", "tfidf"]
    assert chart.locator("text.bartext").count() == 2  # one label and confidence per model


def test_finished_runs_and_interrupted_work_survive_a_server_restart(tmp_path):
    """The browser keeps its session id in a cookie: after the server restarts (same address), the
    reconnected page finds its finished run, and the job that was training is offered again."""
    pytest.importorskip("playwright")
    from tests.live_app import free_port, settle

    port, runs = free_port(), tmp_path / "runs"
    with browser_page() as page:
        with streamlit_server(runs, tmp_path / "first.log", port=port) as url:
            page.goto(url)
            page.get_by_text("Where to start").wait_for(timeout=60_000)
            start_training(page, {"TF-IDF + logistic regression"}, epochs=1)
            page.get_by_text("Last training: finished").wait_for(timeout=120_000)
            picker = page.get_by_role("combobox").first  # the strategies of the next comparison
            picker.scroll_into_view_if_needed()
            picker.click()
            page.keyboard.press("Backspace")  # TF-IDF out: it trains in a fraction of a second, and the
            page.keyboard.type("Full fine")  # job must still be training when the server stops
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            settle(page)
            page.get_by_role("button", name="Start training").click()
            page.get_by_text("Run 1 of 1").first.wait_for(timeout=60_000)
        # The server stopped while that job trained.
        assert len(list((runs / "sessions").glob("*/*/result.json"))) == 1
        with streamlit_server(runs, tmp_path / "second.log", port=port) as url:
            page.goto(url)  # a new browser session of the same browser, after the restart
            page.get_by_text("Interrupted when the server stopped: full on Rotten Tomatoes").wait_for(
                timeout=60_000)
            go_to(page, "Results", "Showing 1 of your own runs")
            page.get_by_role("button", name="Queue again").click()
            page.get_by_text("Run 1 of 1").first.wait_for(timeout=60_000)  # in the sidebar
            go_to(page, "Train", "Set up the next comparison")  # folded while the job runs
            page.get_by_role("button", name="Cancel training").wait_for(timeout=60_000)
            page.get_by_role("button", name="Cancel training").click()
            page.get_by_text("Training cancelled").wait_for(timeout=60_000)
            assert page.get_by_text("Interrupted when the server stopped").count() == 0


def quick_bench(case: str, results: Path) -> dict:
    """`python bench/run.py CASE --quick` into `results` (it must succeed); what it wrote."""
    import json
    import subprocess
    import sys

    pytest.importorskip("playwright")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "bench/run.py", case, "--quick", "--results", str(results)],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads((results / f"{case}.quick.json").read_text())


def test_a_short_class_three_browser_sessions_start_a_lesson_at_once(tmp_path):
    """bench/classroom.py in quick mode: three Chromium sessions open a TF-IDF lesson link and press
    Start together on one server; every one finishes and sees only its own run."""
    result = quick_bench("classroom", tmp_path)
    assert result["sessions"] == 3 and result["all_finished"], result["records"]
    assert result["all_saw_only_their_own_runs"], [r.get("results_caption") for r in result["records"]]
    assert result["queue"]["tickets"] == 3 and all(r["wall_seconds"] > 0 for r in result["records"])


def test_page_cost_says_what_a_page_switch_costs_the_browser_and_the_server(tmp_path):
    """bench/page_cost.py in quick mode: after a lesson trained, and while a session waits for its turn,
    what a switch to each page costs the browser (its page's main thread) and, after training, the
    server; the browser's share is what makes twenty browsers on the server's machine a load."""
    result = quick_bench("page_cost", tmp_path)["this commit"]
    finished, waiting = result["finished"], result["waiting"]
    for page in ("Results", "Train", "Home"):
        assert 0 < finished[page]["latency"]["median"] < 30 and 0 < waiting[page]["latency"]["median"] < 30
        assert finished[page]["TaskDuration"]["median"] > finished[page]["ScriptDuration"]["median"] > 0
    for page in ("Results", "Train"):
        assert finished[page]["browsers"]["median"] > finished[page]["server"]["median"], finished[page]
    assert waiting["still_waiting_at_the_end"]  # the second session waited all along