"""Task types beyond binary classification: numeric targets (regression) and several label columns
(multi-task), from the file through splitting, training, metrics, saving, loading and the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import torch

from core import tasks
from core.cli import main
from core.config import RunConfig
from core.columns import from_frame
from core.errors import DataError
from core.evaluate import regression_metrics
from core.predict import load_predictor, prediction_fields
from core.sources import load_file
from core.splits import make_splits
from core.texts import LabeledTexts
from core.training import train
from tests.support import rated_rows

def write_csv(path, rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


# ---------------------------------------------------------------- data


def test_numeric_column_with_fractions_becomes_regression():
    data = from_frame(pd.DataFrame(rated_rows(60)), text_column="review", label_column="score")
    assert data.task == "regression" and data.is_regression and data.label_names == ()
    assert data.target == "score" and all(isinstance(v, float) for v in data.labels)
    assert data.class_counts() == {}


def test_small_integer_column_stays_classes_unless_asked():
    frame = pd.DataFrame({"text": [f"review {i}" for i in range(40)], "stars": [str(1 + i % 5) for i in range(40)]})
    assert from_frame(frame).task == "classification"
    forced = from_frame(frame, label_column="stars", task="regression")
    assert forced.is_regression and sorted(set(forced.labels)) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_regression_refuses_words_and_a_single_value():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "score": ["1.5", "high", "2"]})
    with pytest.raises(DataError, match="row 2 .*'high'"):
        from_frame(frame, label_column="score", task="regression")
    with pytest.raises(DataError, match="single value"):
        from_frame(pd.DataFrame({"text": ["a", "b"], "score": ["3", "3"]}), task="regression")
    with pytest.raises(DataError, match="Unknown task"):
        from_frame(frame, label_column="score", task="ranking")


def test_two_label_columns_become_two_targets_and_survive_splitting():
    rows = rated_rows(120)
    rows[3]["topic"] = ""  # a row with one label missing is dropped, counted
    data = from_frame(pd.DataFrame(rows), text_column="review", label_column="sentiment, topic")
    assert [c.target for c in data.columns] == ["sentiment", "topic"] and data.dropped == 1
    assert data.others[0].label_names == ("acting", "music")
    splits = make_splits(data, n_train=60, n_test=30, n_val=20, seed=1)
    for part in (splits.train, splits.val, splits.test):
        assert len(part.others) == 1 and len(part.others[0]) == len(part)
        # the topic word is in every text: each row keeps its own second label
        assert all(part.others[0].label_names[y] in t for t, y in zip(part.texts, part.others[0].labels))
    with pytest.raises(DataError, match="2 tasks for 3 label columns"):
        from_frame(pd.DataFrame(rows), text_column="review", label_column="sentiment,topic,score",
                   task="auto,auto")


def test_regression_splits_are_stratified_by_value_range():
    data = from_frame(pd.DataFrame(rated_rows(400)), text_column="review", label_column="score")
    splits = make_splits(data, n_train=200, n_test=100, seed=0)
    means = [np.mean(part.labels) for part in (splits.train, splits.val, splits.test)]
    assert max(means) - min(means) < 0.3  # every split covers low and high scores alike
    assert len(set(splits.test.texts) & set(splits.train.texts)) <= 2  # disjoint rows (texts may repeat)


# ---------------------------------------------------------------- loss and metrics


def test_regression_loss_is_mse_of_standardised_values_and_decode_undoes_it():
    target = tasks.Target("score", "regression", (), mean=5.0, std=2.0)
    outputs = torch.tensor([[0.0], [1.0]])
    y = torch.tensor([[5.0], [9.0]])  # standardised: 0 and 2
    assert tasks.loss(outputs, y, (target,)).item() == pytest.approx((0 + 1) / 2)
    np.testing.assert_allclose(tasks.decode(outputs.numpy(), (target,)), [[5.0], [7.0]])


def test_multitask_loss_adds_one_term_per_head():
    cls = tasks.Target("sentiment", "classification", ("neg", "pos"))
    reg = tasks.Target("score", "regression", (), 0.0, 1.0)
    outputs = torch.tensor([[2.0, 0.0, 0.5]])
    y = torch.tensor([[0.0, 1.5]])
    expected = torch.nn.functional.cross_entropy(outputs[:, :2], torch.tensor([0])) + (0.5 - 1.5) ** 2
    assert tasks.loss(outputs, y, (cls, reg)).item() == pytest.approx(expected.item())
    assert tasks.total_width((cls, reg)) == 3


def test_regression_metrics_known_values():
    m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
    assert m["mae"] == pytest.approx(0.5) and m["rmse"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 4 / 5)


# ---------------------------------------------------------------- training end to end


@pytest.fixture(scope="module")
def rated_splits():
    data = from_frame(pd.DataFrame(rated_rows(300, seed=3)), text_column="review", label_column="score")
    return make_splits(data, n_train=160, n_test=60, n_val=40, seed=0)


def test_tfidf_regression_learns_the_score(rated_splits, tmp_path):
    outcome = train(RunConfig(strategy="tfidf"), rated_splits)
    result = outcome.result
    assert result.status == "finished", result.reason
    assert result.task == "regression" and result.test_accuracy is None and result.score_name == "R²"
    assert result.test_r2 > 0.6 and result.test_mae < 1.2 and result.test_score == result.test_r2
    val_values = outcome.predictor.predict_outputs(rated_splits.val.texts)[:, 0]
    assert result.history[0]["val_score"] == pytest.approx(
        regression_metrics(rated_splits.val.labels, val_values)["r2"], rel=1e-6)  # the epoch's R² is validation's
    outcome.predictor.save(tmp_path / "run")
    texts = list(rated_splits.test.texts[:5])
    before = [p.value for p in outcome.predictor.predict(texts)]
    after = [p.value for p in load_predictor(tmp_path / "run").predict(texts)]
    np.testing.assert_allclose(before, after, rtol=1e-6)


def test_frozen_regression_head_trains_with_mse(rated_splits, tiny_model_dir, tmp_path):
    # mean pooling: a random encoder's [CLS] vector hardly differs between texts (std ~0.003)
    config = RunConfig(strategy="frozen", model=tiny_model_dir, max_length=16, epochs=8, lr_head=5e-2, patience=0,
                       pooling="mean")
    outcome = train(config, rated_splits)
    result = outcome.result
    assert result.status == "finished", result.reason
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]  # the MSE head learns
    assert np.isfinite([result.test_mae, result.test_rmse, result.test_r2]).all() and result.test_r2 > 0.3
    prediction = outcome.predictor.predict(["great superb lovely film"])[0]
    assert prediction.confidence is None and prediction.value is not None
    assert prediction.label == f"{prediction.value:.3g}"
    outcome.predictor.save(tmp_path / "run")
    assert load_predictor(tmp_path / "run").predict(["great superb lovely film"])[0].value == \
        pytest.approx(prediction.value, rel=1e-5)


def test_multitask_full_fine_tune_has_one_head_per_column(tiny_model_dir, tmp_path):
    data = from_frame(pd.DataFrame(rated_rows(200, seed=5)), text_column="review", label_column="sentiment,score")
    splits = make_splits(data, n_train=100, n_test=40, n_val=30, seed=0)
    outcome = train(RunConfig(strategy="full", model=tiny_model_dir, max_length=16, epochs=2), splits)
    result = outcome.result
    assert result.status == "finished", result.reason
    assert [(m["name"], m["kind"]) for m in result.targets] == [("sentiment", "classification"),
                                                                 ("score", "regression")]
    assert outcome.predictor.model.head.out_features == 3  # 2 classes + 1 number
    assert result.test_accuracy == result.targets[0]["accuracy"] and result.test_r2 is None
    assert result.test_score == pytest.approx((result.targets[0]["accuracy"] + result.targets[1]["r2"]) / 2)
    prediction = outcome.predictor.predict(["great film"])[0]
    assert prediction.label in ("neg", "pos") and prediction.others["score"].value is not None
    assert set(prediction_fields(prediction)) == {"label", "confidence", "score value"}
    outcome.predictor.save(tmp_path / "run")
    loaded = load_predictor(tmp_path / "run").predict(["great film"])[0]
    assert loaded.label == prediction.label
    assert loaded.others["score"].value == pytest.approx(prediction.others["score"].value, rel=1e-4)


def compare_file(tmp_path, model_dir, rows, label_column, strategies, n_train, n_test) -> dict:
    """`python -m core compare` on `rows` written as a CSV (1 epoch); {strategy: run} from results.json."""
    path = write_csv(tmp_path / "data.csv", rows)
    out = tmp_path / "out"
    assert main(["compare", "--data", path, "--text-column", "review", "--label-column", label_column,
                 "--n-train", str(n_train), "--n-test", str(n_test), "--strategies", strategies, "--epochs", "1",
                 "--max-length", "16", "--model", model_dir, "--out", str(out)]) == 0
    return {r["strategy"]: r for r in json.loads((out / "results.json").read_text())["runs"]}


def test_regression_end_to_end_from_the_cli(tmp_path, tiny_model_dir, capsys):
    runs = compare_file(tmp_path, tiny_model_dir, rated_rows(240, seed=7), "score", "tfidf,full", 120, 60)
    table = capsys.readouterr().out
    assert "R2" in table and "MAE" in table
    for run in runs.values():
        assert run["status"] == "finished" and run["task"] == "regression"
        assert {"mae", "rmse", "r2"} <= set(run["targets"][0])
    assert runs["tfidf"]["test_r2"] > 0.5
    assert (tmp_path / "out" / "comparison.png").stat().st_size > 10_000
    texts = tmp_path / "texts.csv"
    texts.write_text("review\ngreat superb film\nawful dull boring plot\n", encoding="utf-8")
    assert main(["predict", "--model", runs["tfidf"]["model_dir"], "--file", str(texts),
                 "--output", str(tmp_path / "p.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert list(predicted.columns) == ["text", "value"]
    assert predicted["value"][0] > predicted["value"][1]


def test_multitask_end_to_end_from_the_cli(tmp_path, tiny_model_dir, capsys):
    runs = compare_file(tmp_path, tiny_model_dir, rated_rows(200, seed=8), "sentiment,topic", "tfidf,frozen", 100, 40)
    for run in runs.values():
        assert run["status"] == "finished"
        assert [m["name"] for m in run["targets"]] == ["sentiment", "topic"]
    assert runs["tfidf"]["targets"][1]["accuracy"] > 0.9  # the topic word is in the text
    assert "topic accuracy" in capsys.readouterr().out


def test_sweep_refuses_regression_with_a_reason(tmp_path):
    path = write_csv(tmp_path / "rated.csv", rated_rows(200))
    data = load_file(path, text_column="review", label_column="score")
    from core.sweep import run_sweep
    from core.vary import SIZE, Vary

    with pytest.raises(DataError, match="single-label classification"):
        run_sweep(data, RunConfig(strategy="tfidf"), ["tfidf"], Vary(SIZE, (50,)), 1, n_test=40)


def test_labeled_texts_checks_its_targets():
    with pytest.raises(DataError, match="not finite"):
        LabeledTexts(("a", "b"), (1.0, float("nan")), (), task="regression")
    extra = LabeledTexts(("a",), (0,), ("x", "y"), target="extra")
    with pytest.raises(DataError, match="one value per text"):
        LabeledTexts(("a", "b"), (0, 1), ("n", "p"), others=(extra,))


def test_predictions_of_numbers_and_several_targets_are_kept_per_target(rated_splits):
    from core.mistakes import mistakes

    outcome = train(RunConfig(strategy="tfidf"), rated_splits)
    table = outcome.predictions
    assert list(table.columns) == ["text", "true", "predicted", "error"] and len(table) == len(rated_splits.test)
    assert np.abs(table["error"]).mean() == pytest.approx(outcome.result.test_mae)
    ordered = mistakes(table)["error"].abs().tolist()
    assert ordered == sorted(ordered, reverse=True)  # largest errors first
    data = from_frame(pd.DataFrame(rated_rows(200, seed=5)), text_column="review", label_column="sentiment,score")
    multi = train(RunConfig(strategy="tfidf"), make_splits(data, n_train=100, n_test=40, seed=0))
    assert {"true", "predicted", "correct", "P(neg)", "score: true", "score: predicted", "score: error"} <= \
        set(multi.predictions.columns)


def test_class_weighted_loss_gives_a_rare_class_weight_and_recall():
    from core.sources import load_source

    data = load_source("synthetic", n_synthetic=800, positive_ratio=0.1, difficulty="hard", seed=3)
    targets = tasks.targets_of(make_splits(data, n_train=300, n_test=300, seed=0).train, class_weighted=True)
    assert targets[0].class_weights == pytest.approx((300 / (2 * 270), 300 / (2 * 30)))
    splits = make_splits(data, n_train=300, n_test=300, seed=0)
    plain = train(RunConfig(strategy="tfidf"), splits).result
    weighted = train(RunConfig(strategy="tfidf", class_weighted=True), splits).result
    recall = {run: {c["label"]: c["recall"] for c in result.per_class} for run, result in
              (("plain", plain), ("weighted", weighted))}
    assert recall["plain"]["positive"] == 0.0 < recall["weighted"]["positive"]  # 1 in 10: ignored without weights
    assert weighted.macro_f1 > plain.macro_f1
    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0]])  # both say "negative": right for the first, wrong for the second
    y = torch.tensor([[0.0], [1.0]])
    assert tasks.loss(logits, y, targets) > tasks.loss(logits, y, tasks.targets_of(splits.train))  # rare-class errors cost more
