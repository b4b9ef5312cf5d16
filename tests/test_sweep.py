"""core.sweep: the run plan, the sweep on given splits, and the results in numbers and in words."""

from __future__ import annotations

import csv
import io

import pytest

from core.config import RunConfig
from core.errors import LabError
from core.sweep import (PlannedRun, SweepRecord, parse_sizes, records_csv, run_sweep_on_splits, summarize,
                        sweep_plan, winners)
from core.sweep_words import is_tie, sweep_advice, winner_sentence
from core.training import train
from core.vary import SIZE, Vary, parse_vary


def row(strategy, value, mean, std=0.01, runs=3):
    return {"strategy": strategy, "value": value, "mean_accuracy": mean, "std_accuracy": std, "runs": runs}


def sizes(*values):
    return Vary(SIZE, values)


def record(strategy, value, status="finished", accuracy=0.7, reason="", setting=SIZE):
    return SweepRecord(strategy, setting, value, 100, 0, status, accuracy, accuracy and accuracy - 0.01, 1.5, reason)


def test_parse_sizes_sorts_and_explains_bad_input():
    assert parse_sizes("300, 100,1000, 100") == [100, 300, 1000]
    with pytest.raises(LabError, match="whole numbers separated by commas"):
        parse_sizes("100, lots")
    with pytest.raises(LabError, match="at least one training size"):
        parse_sizes(" , ")


def test_plan_trains_every_strategy_on_each_sample_smallest_size_first():
    plan = sweep_plan(["frozen", "tfidf"], sizes(300, 100), seeds=2)
    assert len(plan) == 8
    assert plan[:3] == [PlannedRun(100, 0, "frozen"), PlannedRun(100, 0, "tfidf"), PlannedRun(100, 1, "frozen")]


def test_sweep_on_splits_samples_the_training_split_and_keeps_the_test_split(tiny_splits, monkeypatch):
    seen = []

    def recording_train(config, splits, on_event=None, stop=None):
        seen.append((config.strategy, config.seed, splits.train.texts, splits.test))
        return train(config, splits, on_event, stop)

    monkeypatch.setattr("core.sweep.train", recording_train)
    records = run_sweep_on_splits(tiny_splits, RunConfig(strategy="tfidf"), ["tfidf"], sizes(10, 20), seeds=2)
    assert [(r.n_train, r.seed, r.status) for r in records] == [(10, 0, "finished"), (10, 1, "finished"),
                                                                (20, 0, "finished"), (20, 1, "finished")]
    assert all(test is tiny_splits.test for *_, test in seen)
    assert all(set(texts) <= set(tiny_splits.train.texts) for _, _, texts, _ in seen)
    assert seen[0][2] != seen[1][2]  # another seed, another sample


def test_winners_and_sentences_say_who_won_by_how_much_or_that_it_is_a_tie():
    summary = [row("frozen", 100, 0.71, 0.02), row("full", 100, 0.65, 0.04), row("tfidf", 100, 0.66),
               row("frozen", 300, 0.74, 0.03), row("full", 300, 0.76, 0.03)]
    assert winners(summary) == {100: "frozen", 300: "full"}
    assert winner_sentence(summary[0], summary[2]) == (
        "With 100 training examples, frozen won with 0.710 ± 0.020, 0.050 ahead of tfidf (0.660 ± 0.010).")
    assert is_tie(summary[4], summary[3]) and not is_tie(summary[0], summary[2]) and not is_tie(summary[0], None)
    assert winner_sentence(summary[4], summary[3], name=str.upper) == (
        "With 300 training examples, FULL and FROZEN are tied: 0.760 ± 0.030 against 0.740 ± 0.030, "
        "a gap of 0.020, within the spread between seeds.")
    assert winner_sentence(row("tfidf", 50, 0.6), None).endswith("was the only strategy that finished: 0.600 ± 0.010.")


def test_advice_groups_consecutive_sizes_with_the_same_winner_and_names_ties():
    summary = [row("frozen", 100, 0.71), row("full", 100, 0.6), row("frozen", 300, 0.7), row("full", 300, 0.8),
               row("frozen", 1000, 0.72), row("full", 1000, 0.85)]
    assert sweep_advice(summary) == ("On your data, with 100 training examples, frozen won (0.710 ± 0.010); "
                                     "from 300 training examples on, full won (0.800 ± 0.010 at 300, "
                                     "0.850 ± 0.010 at 1,000).")
    assert sweep_advice(summary[2:]) == ("On your data, at every size tried (300 to 1,000 training examples), "
                                         "full won (0.800 ± 0.010 at 300, 0.850 ± 0.010 at 1,000).")
    close = [row("frozen", 50, 0.58, 0.06), row("tfidf", 50, 0.54), row("frozen", 100, 0.605, 0.02),
             row("tfidf", 100, 0.60), row("frozen", 200, 0.67), row("tfidf", 200, 0.64)]
    assert sweep_advice(close).endswith("With 50 and 100 training examples the lead is within the spread "
                                        "between seeds: a tie, not a win.")
    assert sweep_advice([]) == ""


def test_records_csv_keeps_failed_runs_with_their_reason():
    records = [record("tfidf", 100), record("full", 100, "failed", None, "Model 'x' not found.")]
    rows = list(csv.DictReader(io.StringIO(records_csv(records))))
    assert [r["status"] for r in rows] == ["finished", "failed"]
    assert rows[1]["reason"] == "Model 'x' not found." and rows[1]["test_accuracy"] == ""
    assert summarize(records) == [{"strategy": "tfidf", "value": 100, "mean_accuracy": 0.7, "std_accuracy": 0.0,
                                   "runs": 1}]


def test_seeds_of_the_largest_size_train_on_different_texts_too(monkeypatch):
    from core.sources import load_source
    from core.sweep import run_sweep

    seen = []

    def recording_train(config, splits, on_event=None, stop=None):
        seen.append((splits.train.texts, splits.test.texts))
        return train(config, splits, on_event, stop)

    monkeypatch.setattr("core.sweep.train", recording_train)
    data = load_source("synthetic", n_synthetic=400, difficulty="easy")
    run_sweep(data, RunConfig(strategy="tfidf"), ["tfidf"], sizes(50, 100), seeds=2, n_test=60)
    largest = [texts for texts, _ in seen[2:]]
    assert len(largest[0]) == len(largest[1]) == 100 and set(largest[0]) != set(largest[1])
    assert len({test for _, test in seen}) == 1  # one test split for every run


def test_advice_says_led_not_won_when_every_lead_is_within_the_spread():
    summary = [row("frozen", 100, 0.640, 0.030), row("full", 100, 0.630, 0.030)]
    assert sweep_advice(summary) == ("On your data, with 100 training examples, frozen led (0.640 ± 0.030). "
                                     "With 100 training examples the lead is within the spread between seeds: "
                                     "a tie, not a win.")


def test_the_runs_csv_is_safe_to_open_in_a_spreadsheet():
    text = records_csv([record("full", 100, "failed", None, reason="=cmd|' /C calc'!A0 broke it")])
    assert "'=cmd|' /C calc'!A0 broke it" in text and ",1.5," in text


def test_vary_parses_checks_and_describes_any_setting():
    assert parse_vary("lr=1e-4, 1e-5,5e-5") == Vary("lr", (1e-5, 5e-5, 1e-4))
    assert parse_vary("epochs=1,2,4").values == (1, 2, 4) and isinstance(parse_vary("epochs=1").values[0], int)
    assert parse_vary("label_noise=0,0.2").words(0.2) == "20% flipped labels"
    assert sizes(1000).words(1000) == "1,000 training examples" and parse_vary("lr=5e-5").words(5e-5) == \
        "learning rate (each strategy's own) 5e-05"
    for text, message in [("lr", "SETTING=V1,V2"), ("colour=1,2", "cannot vary 'colour'"),
                          ("epochs=1.5", "whole numbers"), ("label_noise=0.6", "below 0.5"),
                          ("dropout=1.2", "Dropout 1.2 must be in"), ("top_k=0", "top_k=0 must be a whole number"),
                          ("lr=fast", "must be numbers")]:
        with pytest.raises(LabError, match=message):
            parse_vary(text)


@pytest.mark.parametrize("text, field, strategy", [
    ("lr=0.001,0.01", "lr_head", "frozen"), ("epochs=1,2", "epochs", "frozen"), ("dropout=0,0.5", "dropout", "frozen"),
    ("max_length=16,32", "max_length", "frozen"), ("top_k=1,2", "top_k", "top_k"), ("lora_r=2,4", "lora_r", "lora")])
def test_a_sweep_over_a_setting_gives_each_run_that_value_on_the_same_sample(tiny_splits, tiny_model_dir, monkeypatch,
                                                                             text, field, strategy):
    seen = []

    def recording_train(config, splits, on_event=None, stop=None):
        seen.append((getattr(config, field), config.seed, splits.train.texts))
        return train(config, splits, on_event, stop)

    monkeypatch.setattr("core.sweep.train", recording_train)
    vary = parse_vary(text)
    base = RunConfig(strategy=strategy, model=tiny_model_dir, max_length=32, epochs=1)
    records = run_sweep_on_splits(tiny_splits, base, [strategy], vary, seeds=2, n_train=30)
    assert all(r.status == "finished" for r in records), [r.reason for r in records]
    assert [(r.setting, r.value, r.seed) for r in records] == [(vary.setting, v, s) for v in vary.values
                                                               for s in (0, 1)]
    assert [value for value, *_ in seen] == [v for v in vary.values for _ in (0, 1)]
    assert seen[0][2] == seen[2][2] != seen[1][2] and len(seen[0][2]) == 30  # per seed one sample, for every value


def test_label_noise_flips_that_share_of_training_labels_and_leaves_test_clean(tiny_splits, monkeypatch):
    seen = []

    def recording_train(config, splits, on_event=None, stop=None):
        seen.append(splits)
        return train(config, splits, on_event, stop)

    monkeypatch.setattr("core.sweep.train", recording_train)
    run_sweep_on_splits(tiny_splits, RunConfig(strategy="tfidf"), ["tfidf"], parse_vary("label_noise=0,0.3"), 1,
                        n_train=40)
    clean, noisy = seen
    assert clean.train.texts == noisy.train.texts and noisy.test is tiny_splits.test
    flipped = sum(a != b for a, b in zip(clean.train.labels, noisy.train.labels))
    assert flipped == 12  # 30% of 40


def test_sweep_vary_lr_from_the_cli_writes_a_chart_with_one_point_per_value(tmp_path, tiny_model_dir):
    import json

    from core.cli import main

    args = ["sweep", "--data", "synthetic", "--synthetic-size", "300", "--vary", "lr=1e-3,1e-2", "--seeds", "2",
            "--strategies", "frozen,tfidf", "--n-train", "60", "--n-test", "60", "--epochs", "1",
            "--max-length", "32", "--model", tiny_model_dir, "--out", str(tmp_path / "sweep")]
    assert main(args) == 0
    payload = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert payload["config"]["vary"] == "lr" and payload["config"]["values"] == [1e-3, 1e-2]
    assert {(r["strategy"], r["value"]) for r in payload["summary"]} == {
        ("frozen", 1e-3), ("frozen", 1e-2), ("tfidf", 1e-3), ("tfidf", 1e-2)}
    assert all(r["n_train"] == 60 for r in payload["records"])
    assert (tmp_path / "sweep" / "sweep.png").stat().st_size > 10_000
