"""Screenshots of every dashboard page, taken in a real browser: `python docs/screenshots.py`.

Starts the app on a free port (runs saved in a temporary folder), walks through a short
comparison on Rotten Tomatoes (300 training sentences; full fine-tuning, frozen encoder and
TF-IDF, 2 epochs; a few minutes on a laptop CPU), a small data-size sweep (frozen encoder and
TF-IDF at 50, 100 and 200 sentences, 2 seeds; about a minute) and writes docs/screenshots/*.png.
`python docs/screenshots.py --regression` instead uploads a file with a numeric target and shoots
its Data and Results pages (9-*, 10-*).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live_app import (browser_page, go_to, set_number, settle, start_sweep, start_training,  # noqa: E402
                            streamlit_server)

OUT = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT, MAX_HEIGHT = 1400, 900, 3200


def shoot(page, name: str) -> None:
    """The whole page (the viewport grows to the content's height), saved as a 256-colour PNG."""
    from PIL import Image

    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": min(max(HEIGHT, height), MAX_HEIGHT)})
    page.wait_for_timeout(1200)  # charts re-layout to the new size
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    # Screenshots of a flat UI lose nothing visible at 256 colours and shrink about 4x.
    Image.open(path).convert("RGB").quantize(colors=256).save(path, optimize=True)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")


def walk_through(page, url: str) -> None:
    """Every page, in the order a newcomer visits them; each shot waits for the page's last element."""
    page.goto(url)
    page.get_by_text("A first comparison on the default data").wait_for(timeout=60_000)
    shoot(page, "1-home")
    go_to(page, "Data", "of training texts are longer than")
    settle(page)
    shoot(page, "2-data")
    use_300_reviews(page)
    start_training(page, {"Full fine-tuning", "Frozen encoder (last layer only)", "TF-IDF + logistic regression"},
                   epochs=2)
    page.get_by_text("Validation accuracy per epoch").first.wait_for(timeout=300_000)
    page.wait_for_timeout(1500)
    shoot(page, "3-train-running")
    page.get_by_text("Last training: finished").wait_for(timeout=900_000)
    page.get_by_text("Estimated time").wait_for(timeout=120_000)
    settle(page)
    shoot(page, "4-train-finished")
    for title, last_element, name in (("Results", "Comparison figure (PNG, 300 DPI)", "5-results"),
                                      ("Playground", "Predicted label and confidence per model", "6-playground")):
        go_to(page, title, last_element)
        settle(page)
        shoot(page, name)
    sweep_step(page)  # before the Guide, so the Guide shows the advice computed from it
    go_to(page, "Guide", "One run per strategy is one sample")
    settle(page)
    shoot(page, "7-guide")


def use_300_reviews(page) -> None:
    """Data page (open, Rotten Tomatoes): 300 training and 300 test sentences, used for training."""
    set_number(page, "Training examples", 300)
    set_number(page, "Test examples", 300)
    page.get_by_role("button", name="Use this data for training").click()
    page.get_by_text("In use for training").wait_for()


def sweep_step(page) -> None:
    """A small data-size sweep on the data in use, shot once it finished."""
    start_sweep(page, {"Frozen encoder (last layer only)", "TF-IDF + logistic regression"}, "50, 100, 200", seeds=2)
    page.get_by_text("Last sweep: finished").wait_for(timeout=600_000)
    page.get_by_role("button", name="Every run (CSV)").wait_for(timeout=60_000)
    settle(page)
    shoot(page, "8-sweep")


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label`."""
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def regression_walk(page, url: str, multitask: bool = False) -> None:
    """An uploaded file with a numeric column: Data page (regression detected), training, Results.
    `multitask`: the sentiment and topic columns instead, one head each (11-*, 12-*)."""
    from tests.test_pages import rated_csv

    page.goto(url)
    page.get_by_text("A first comparison on the default data").wait_for(timeout=60_000)
    go_to(page, "Data", "Labelled texts")
    page.get_by_text("Your own file").click()
    settle(page)
    csv_path = Path(tempfile.mkdtemp()) / "rated_reviews.csv"
    csv_path.write_bytes(rated_csv(400))
    page.locator('input[type="file"]').set_input_files(str(csv_path))
    page.get_by_text("Text column").wait_for()
    settle(page)
    if multitask:
        choose(page, "Label column", "sentiment")
        page.locator('[data-testid="stMultiSelect"]').filter(has_text="More label columns").click()
        page.get_by_role("option", name="topic", exact=True).click()
        page.keyboard.press("Escape")
        settle(page)
        page.get_by_text("topic: classes").first.wait_for()
    else:
        choose(page, "Label column", "score")
        page.get_by_text("a number (regression)").first.wait_for()
    set_number(page, "Training examples", 200)
    set_number(page, "Test examples", 100)
    page.get_by_role("button", name="Use this data for training").click()
    page.get_by_text("In use for training").wait_for()
    settle(page)
    shoot(page, "11-data-multitask" if multitask else "9-data-regression")
    start_training(page, {"Frozen encoder (last layer only)", "TF-IDF + logistic regression", "Full fine-tuning"},
                   epochs=2)
    page.get_by_text("Last training: finished").wait_for(timeout=900_000)
    go_to(page, "Results", "Comparison figure (PNG, 300 DPI)")
    settle(page)
    shoot(page, "12-results-multitask" if multitask else "10-results-regression")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    walk = {"--regression": regression_walk,
            "--multitask": lambda page, url: regression_walk(page, url, multitask=True)}.get(
        next((arg for arg in sys.argv[1:] if arg.startswith("--")), ""), walk_through)
    with tempfile.TemporaryDirectory() as tmp:
        with streamlit_server(Path(tmp) / "runs", Path(tmp) / "streamlit.log") as url, \
                browser_page(WIDTH, HEIGHT) as page:
            try:
                walk(page, url)
            except Exception:
                page.screenshot(path=str(OUT / "failure.png"))
                print((Path(tmp) / "streamlit.log").read_text()[-3000:])
                raise


if __name__ == "__main__":
    main()
