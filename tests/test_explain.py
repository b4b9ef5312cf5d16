"""Explanations: TF-IDF weights add up exactly to the decision value, neural weights (integrated
gradients) point at the words that matter, the CLI prints them, the Playground shows them safely."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import store
from core.cli import main
from core.columns import from_frame
from core.config import RunConfig
from core.errors import ConfigError, DataError
from core.explain import IG_METHOD, TFIDF_METHOD, explain
from core.predict import load_predictor
from core.splits import make_splits
from core.texts import LabeledTexts, Splits
from core.training import train
from tests.support import make_texts, rated_rows
from ui.explain import highlighted_markdown
from ui.safe import plain as escaped

TEXTS = ["A wonderful, moving film -- great acting!", "boring and predictable, a waste of time",
         "Great great plot; awful cast.\nI hated every minute", "!!!"]
HOSTILE = ("great]** :red[x] <script>alert(1)</script> [x](javascript:alert(1)) a dull_film `code` $x$ {a} \\ "
           "&amp; www.example.com http://x.io a@b.io")


def labelled(n_per_class: int, seed: int, neutral: bool) -> LabeledTexts:
    texts, labels = make_texts(n_per_class, seed)
    if neutral:  # a third class of plain statements
        texts += [f"the film runs {minutes} minutes and has a plot" for minutes in range(n_per_class)]
        labels += [2] * n_per_class
    return LabeledTexts(tuple(texts), tuple(labels), ("negative", "positive", "neutral")[: 2 + neutral])


@pytest.fixture(scope="module", params=[False, True], ids=["binary", "three-class"])
def tfidf(request):
    splits = Splits(*(labelled(n, seed, request.param) for n, seed in ((20, 1), (8, 2), (8, 3))))
    return train(RunConfig(strategy="tfidf"), splits).predictor


def against_others(scores: np.ndarray, k: int) -> float:
    return float(scores[k] - np.delete(scores, k).mean())


def decision_scores(model, x, n_classes) -> np.ndarray:
    """The model's class scores from sklearn itself: (0, d) for a binary model, else the decision values."""
    scores = np.atleast_1d(model.decision_function(x)[0])
    return np.array([0.0, scores[0]]) if n_classes == 2 else scores


def test_tfidf_weights_add_up_to_the_decision_value_for_every_class(tfidf):
    model = tfidf.models[0]
    for text in TEXTS:
        x = tfidf.vectorizer.transform([text])
        scores = decision_scores(model, x, len(tfidf.label_names))
        log_probabilities = np.log(model.predict_proba(x)[0])
        for k, name in enumerate(tfidf.label_names):
            explanation = explain(tfidf, text, name)
            assert explanation.method == TFIDF_METHOD and explanation.explained == name
            assert sum(explanation.weights) + explanation.base_value == pytest.approx(against_others(scores, k), abs=1e-6)
            assert explanation.output == pytest.approx(against_others(scores, k), abs=1e-6)
            assert explanation.output == pytest.approx(against_others(log_probabilities, k), abs=1e-6)
        if len(tfidf.label_names) == 2:  # the binary decision function itself, for the second class
            assert explain(tfidf, text, tfidf.label_names[1]).output == pytest.approx(model.decision_function(x)[0])


def test_tfidf_explains_the_predicted_class_with_words_that_point_into_the_text(tfidf):
    for text in TEXTS:
        explanation = explain(tfidf, text)
        assert explanation.explained == tfidf.predict([text])[0].label
        assert [text[start:end] for start, end in explanation.spans] == list(explanation.tokens)
        assert list(explanation.spans) == sorted(explanation.spans)
    explanation = explain(tfidf, "a wonderful film", "positive")
    assert dict(zip(explanation.tokens, explanation.weights))["wonderful"] > 0


def test_tfidf_regression_weights_add_up_to_the_ridge_prediction(tmp_path):
    data = from_frame(pd.DataFrame(rated_rows(200, seed=3)), text_column="review", label_column="score")
    predictor = train(RunConfig(strategy="tfidf"), make_splits(data, n_train=120, n_test=40, n_val=30)).predictor
    predictor.save(tmp_path / "run")
    for loaded in (predictor, load_predictor(tmp_path / "run")):
        text = "great superb film, dull plot"
        explanation = explain(loaded, text)
        value = loaded.predict([text])[0].value
        assert sum(explanation.weights) + explanation.base_value == pytest.approx(value, abs=1e-5)
        assert explanation.output_name == "predicted score" and explanation.explained == "score"
        weights = dict(zip(explanation.tokens, explanation.weights))
        assert weights["superb"] > 0 > weights["dull"]
    with pytest.raises(ConfigError, match="predicts a number"):
        explain(predictor, text, "positive")


def test_a_multitask_model_is_explained_for_its_first_target_and_says_so():
    data = from_frame(pd.DataFrame(rated_rows(200, seed=5)), text_column="review", label_column="sentiment,score")
    predictor = train(RunConfig(strategy="tfidf"), make_splits(data, n_train=100, n_test=40, n_val=30)).predictor
    explanation = explain(predictor, "great superb acting", "neg")
    assert explanation.explained == "neg" and "explains the first, 'sentiment'" in explanation.notes[0]


def test_bad_requests_are_one_sentence(tfidf):
    with pytest.raises(DataError, match="non-empty text"):
        explain(tfidf, "  \n")
    with pytest.raises(ConfigError, match="'maybe' is not one of"):
        explain(tfidf, "good", "maybe")


# ---------------------------------------------------------------- neural: integrated gradients

@pytest.fixture(scope="module")
def tiny_full(tiny_model_dir):
    texts, labels = make_texts(20, 1)
    part = LabeledTexts(tuple(texts), tuple(labels), ("negative", "positive"))
    return train(RunConfig(strategy="full", model=tiny_model_dir, max_length=32, epochs=1), Splits(part, part, part))


def test_integrated_gradients_give_one_weight_per_word_that_add_up(tiny_full):
    predictor = tiny_full.predictor
    text = "An unflinching, darkly funny film!"
    explanation = explain(predictor, text)
    assert explanation.method == IG_METHOD
    assert explanation.tokens == ("An", "unflinching", ",", "darkly", "funny", "film", "!")  # pieces merged
    assert [text[start:end] for start, end in explanation.spans] == list(explanation.tokens)
    total = sum(explanation.weights)
    assert total - (explanation.output - explanation.base_value) == pytest.approx(explanation.convergence_delta,
                                                                                  abs=1e-5)
    assert abs(explanation.convergence_delta) < 0.05 * max(1e-3, abs(explanation.output - explanation.base_value))
    probabilities = predictor.predict_proba([text])[0]
    assert explanation.output == pytest.approx(np.log(probabilities.max() / probabilities.min()), abs=1e-4)
    other = explain(predictor, text, "negative" if explanation.explained == "positive" else "positive")
    np.testing.assert_allclose(other.weights, [-w for w in explanation.weights], atol=1e-6)  # two classes: mirrored


def test_a_truncated_text_says_the_rest_is_not_explained(tiny_full):
    explanation = explain(tiny_full.predictor, "great " * 50)
    assert len(explanation.tokens) == 30  # 32 tokens less [CLS] and [SEP]
    assert any("only the first 32 tokens" in note for note in explanation.notes)


def without_words(text: str, spans) -> str:
    """`text` with the words at `spans` cut out (spaces tidied)."""
    kept, position = [], 0
    for start, end in sorted(spans):
        kept.append(text[position:start])
        position = end
    return " ".join("".join(kept + [text[position:]]).split())


@pytest.mark.integration
def test_removing_the_top_weighted_words_hurts_the_prediction_more_than_random_words():
    """Faithfulness: the bundled MiniLM, frozen, on 300 Rotten Tomatoes sentences; 50 test sentences."""
    from core.sources import load_bundled

    splits = make_splits(load_bundled("rotten_tomatoes"), n_train=300, n_test=50, n_val=60, seed=0)
    predictor = train(RunConfig(strategy="frozen", max_length=64), splits).predictor
    rng, top_drops, random_drops = random.Random(0), [], []
    for text in splits.test.texts:
        explanation = explain(predictor, text)
        k = predictor.label_names.index(explanation.explained)
        top = np.argsort(explanation.weights)[::-1][:3]  # most towards the predicted class
        chosen = rng.sample(range(len(explanation.tokens)), min(3, len(explanation.tokens)))
        variants = [text, without_words(text, [explanation.spans[i] for i in top]),
                    without_words(text, [explanation.spans[i] for i in chosen])]
        before, after_top, after_random = predictor.predict_proba(variants)[:, k]
        top_drops.append(before - after_top)
        random_drops.append(before - after_random)
    print(f"mean drop of P(predicted class): top-3 words {np.mean(top_drops):.3f}, "
          f"3 random words {np.mean(random_drops):.3f}")
    assert np.mean(top_drops) > np.mean(random_drops)


# ---------------------------------------------------------------- command line

@pytest.fixture(scope="module")
def saved_runs(tmp_path_factory, tiny_model_dir):
    out = tmp_path_factory.mktemp("explain-cli")
    code = main(["compare", "--data", "synthetic", "--synthetic-size", "160", "--n-train", "60", "--n-test", "20",
                 "--strategies", "tfidf,frozen,full", "--epochs", "1", "--max-length", "32", "--model", tiny_model_dir,
                 "--out", str(out)])
    assert code == 0
    return {path.name.split("-")[2]: path for path in (out / "runs").iterdir()}


@pytest.mark.parametrize("strategy, method", [("tfidf", TFIDF_METHOD), ("frozen", IG_METHOD), ("full", IG_METHOD)])
def test_cli_prints_the_prediction_method_and_a_weight_per_token(saved_runs, capsys, strategy, method):
    text = "A wonderful film, but the plot is dull."
    assert main(["explain", "--model", str(saved_runs[strategy]), text]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"prediction: \S+ \(\d\.\d{3}\)", lines[0]) and lines[1] == f"method: {method}"
    assert lines[2].startswith("explains: log-odds of ")
    rows = [line.split("\t") for line in lines[3:] if "\t" in line]
    words = [token for token, _ in rows]
    assert "wonderful" in words and words.index("wonderful") < words.index("dull")  # in text order
    assert all(re.fullmatch(r"[+-]\d+\.\d{4}", weight) for _, weight in rows)
    assert any(line.startswith("base value: ") for line in lines)


@pytest.mark.parametrize("args, message", [
    (["--model", "no/such/run", "good"], "does not exist"),
    (["--model", "RUN", " "], "non-empty text"),
    (["--model", "RUN", "good", "--target-class", "maybe"], "'maybe' is not one of"),
])
def test_cli_errors_are_one_line_and_exit_2(saved_runs, capsys, args, message):
    args = [str(saved_runs["tfidf"]) if arg == "RUN" else arg for arg in args]
    assert main(["explain", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


# ---------------------------------------------------------------- Playground

MARKUP = re.compile(r"\\(.)|(:(?:blue|orange)-background\[|\*\*|\])|(.)", re.DOTALL)


def read_back(markdown: str) -> str:
    """The text a highlighted markdown shows, checking that only our own markup is unescaped and that
    nothing reads as a bare link (markdown links www., http:// and a@b.c even when escaped)."""
    shown = []
    for escaped_char, ours, other in MARKUP.findall(markdown):
        assert not re.fullmatch(r"[!-/:-@\[-`{-~]", other), f"unescaped {other!r} in {markdown!r}"
        shown.append(escaped_char or other)
    assert not re.search(r"(?i)www\.|https?:|@\w", "".join(shown)), markdown
    return "".join(shown).replace("\u2060", "")  # the invisible word joiners that break those links


@pytest.mark.parametrize("text", [HOSTILE, "1. - > # heading\n    indented www.example.com a@b.io", TEXTS[2]])
def test_highlighted_text_escapes_everything_the_user_typed(tfidf, text):
    explanation = explain(tfidf, text)
    markdown = highlighted_markdown(text, explanation)
    assert "\n" not in markdown and not markdown.startswith(" ")
    assert read_back(markdown) == " ".join(text.split())
    assert read_back(escaped("a]b:c")) == "a]b:c"


def test_highlighting_marks_words_by_the_sign_of_their_weight(tfidf):
    markdown = highlighted_markdown("wonderful but boring", explain(tfidf, "wonderful but boring", "positive"))
    assert ":blue-background[**wonderful**]" in markdown and ":orange-background[**boring**]" in markdown


def test_playground_explains_hostile_text_on_a_button_press(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(store, "DEFAULT_RUNS_ROOT", tmp_path / "runs")
    texts, labels = make_texts(12, 1)
    part = LabeledTexts(tuple(texts), tuple(labels), ("negative", "positive"))
    outcome = train(RunConfig(strategy="tfidf"), Splits(part, part, part))
    store.save_run(tmp_path / "runs" / "sessions" / "5e5510999999999999" / "20250101-000001-tfidf-ffffff", outcome.result, outcome.predictor)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.session_state["session_id"] = "5e5510999999999999"
    at.session_state["kept_play_text"] = HOSTILE
    at.run()
    at.switch_page("pages/playground.py").run()
    assert not at.exception and not any("Method:" in c.value for c in at.caption)  # nothing computed yet
    at.button(key="play_explain").click().run()
    assert not at.exception, at.exception
    assert any(c.value.startswith(f"Method: {escaped(TFIDF_METHOD)}") for c in at.caption)
    highlighted = [m.value for m in at.markdown if "script" in m.value]
    assert len(highlighted) == 1 and read_back(highlighted[0]) == " ".join(HOSTILE.split())
