"""core.sweep: the run plan, the sweep on given splits, and the results in numbers and in words."""

from __future__ import annotations

import csv
import io

import pytest

from core.config import RunConfig
from core.errors import LabError
from core.sweep import (PlannedRun, SweepRecord, is_tie, parse_sizes, records_csv, run_sweep_on_splits,
                        summarize, sweep_advice, sweep_plan, winner_sentence, winners)
from core.training import train


def row(strategy, n_train, mean, std=0.01, runs=3):
    return {"strategy": strategy, "n_train": n_train, "mean_accuracy": mean, "std_accuracy": std, "runs": runs}


def test_parse_sizes_sorts_and_explains_bad_input():
    assert parse_sizes("300, 100,1000, 100") == [100, 300, 1000]
    with pytest.raises(LabError, match="whole numbers separated by commas"):
        parse_sizes("100, lots")
    with pytest.raises(LabError, match="at least one training size"):
        parse_sizes(" , ")


def test_plan_trains_every_strategy_on_each_sample_smallest_size_first():
    plan = sweep_plan(["frozen", "tfidf"], [300, 100], seeds=2)
    assert len(plan) == 8
    assert plan[:3] == [PlannedRun(100, 0, "frozen"), PlannedRun(100, 0, "tfidf"), PlannedRun(100, 1, "frozen")]


def test_sweep_on_splits_samples_the_training_split_and_keeps_the_test_split(tiny_splits, monkeypatch):
    seen = []

    def recording_train(config, splits, on_event=None, stop=None):
        seen.append((config.strategy, config.seed, splits.train.texts, splits.test))
        return train(config, splits, on_event, stop)

    monkeypatch.setattr("core.sweep.train", recording_train)
    records = run_sweep_on_splits(tiny_splits, RunConfig(strategy="tfidf"), ["tfidf"], [10, 20], seeds=2)
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
    records = [SweepRecord("tfidf", 100, 0, "finished", 0.7, 0.69, 1.5),
               SweepRecord("full", 100, 0, "failed", None, None, 0.1, "Model 'x' not found.")]
    rows = list(csv.DictReader(io.StringIO(records_csv(records))))
    assert [r["status"] for r in rows] == ["finished", "failed"]
    assert rows[1]["reason"] == "Model 'x' not found." and rows[1]["test_accuracy"] == ""
    assert summarize(records) == [{"strategy": "tfidf", "n_train": 100, "mean_accuracy": 0.7, "std_accuracy": 0.0,
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
    run_sweep(data, RunConfig(strategy="tfidf"), ["tfidf"], [50, 100], seeds=2, n_test=60)
    largest = [texts for texts, _ in seen[2:]]
    assert len(largest[0]) == len(largest[1]) == 100 and set(largest[0]) != set(largest[1])
    assert len({test for _, test in seen}) == 1  # one test split for every run


def test_advice_says_led_not_won_when_every_lead_is_within_the_spread():
    from core.sweep import sweep_advice

    summary = [row("frozen", 100, 0.640, 0.030), row("full", 100, 0.630, 0.030)]
    assert sweep_advice(summary) == ("On your data, with 100 training examples, frozen led (0.640 ± 0.030). "
                                     "With 100 training examples the lead is within the spread between seeds: "
                                     "a tie, not a win.")


def test_the_runs_csv_is_safe_to_open_in_a_spreadsheet():
    from core.sweep import SweepRecord, records_csv

    record = SweepRecord("full", 100, 0, "failed", None, None, 1.5, reason="=cmd|' /C calc'!A0 broke it")
    text = records_csv([record])
    assert "'=cmd|' /C calc'!A0 broke it" in text and ",1.5," in text
