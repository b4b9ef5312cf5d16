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
    saved = list((tmp_path / "runs").glob("*/*/result.json"))
    assert len(saved) == 2  # both runs saved in this session's folder

    go_to(page, "Playground", "Examples worth trying")
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=60_000)
    axis_labels = chart.locator("g.ytick text").all_text_contents()
    assert sorted(axis_labels) == ["frozen", "tfidf"]
    assert chart.locator("text.bartext").count() == 2  # one label and confidence per model
