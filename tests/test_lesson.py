"""Lessons by link (core/lesson.py): a setup to query parameters and back; every invalid or tampered
value is ignored, said in words, and never raises."""

from __future__ import annotations

import dataclasses

import pytest

from core.cli import HYPERPARAMETERS
from core.config import RunConfig
from core.lesson import (HIDEABLE, MAX_PARAMS, DataChoice, Lesson, from_query, ignored_sentence, model_problem,
                         link_query, to_query, without_unlinkable)
from core.strategies import DEFAULT_STRATEGIES, STRATEGIES

CUSTOM = Lesson(DataChoice("synthetic", n_train=300, n_val=40, n_test=200, synthetic_size=800, difficulty="hard",
                           label_noise=0.15),
                ("frozen", "lora", "tfidf"),
                RunConfig(model="prajjwal1/bert-tiny", epochs=3, lr_finetune=1e-4, lr_head=0.05, dropout=0.1,
                          max_length=64, class_weighted=True, pooling="mean", lora_targets="query,value"),
                ("encoder", "hyperparameters"))


def test_the_default_setup_is_the_bare_mark_and_still_a_lesson():
    assert to_query(Lesson()) == {}
    assert link_query(Lesson()) == "lesson=1"  # so it opens on the Train page like any other lesson
    assert from_query({}) == (Lesson(), []) and from_query({"lesson": "1"}) == (Lesson(), [])
    assert link_query(Lesson(strategies=("frozen", "tfidf"))) == "lesson=1&strategies=frozen,tfidf"


def test_a_custom_setup_round_trips_with_short_readable_names_and_only_what_differs():
    params = to_query(CUSTOM)
    assert params == {"data": "synthetic", "n-train": "300", "n-val": "40", "n-test": "200", "synthetic-size": "800",
                      "difficulty": "hard", "label-noise": "0.15", "strategies": "frozen,lora,tfidf",
                      "model": "prajjwal1/bert-tiny", "max-length": "64", "epochs": "3", "lr": "0.0001",
                      "lr-head": "0.05", "dropout": "0.1", "pooling": "mean", "lora-targets": "query,value",
                      "class-weighted": "true", "hide": "encoder,hyperparameters"}
    assert from_query(params) == (CUSTOM, [])


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(RunConfig) if f.name != "strategy"])
def test_every_setting_the_train_page_sets_round_trips(field):
    value = {bool: True, int: 3, float: 0.123456789, str: "mean"}[type(getattr(RunConfig(), field))]
    value = {"model": "bert-base-uncased", "device": "cpu", "precision": "fp32", "lora_targets": "q_lin,v_lin",
             "max_length": 64, "lr_decay": 3.5, "max_grad_norm": 2.5}.get(field, value)
    lesson = Lesson(config=RunConfig(**{field: value}))
    params = to_query(lesson)
    flag = next(flag for flag, (name, _, _) in HYPERPARAMETERS.items() if name == field)
    assert list(params) == [flag.lstrip("-")]  # the command line's flag: lr, epochs, max-length, ...
    assert from_query(params) == (lesson, [])


@pytest.mark.parametrize("name, value, why", [
    ("lr", "1e9", "must be above 0 and at most 1"),
    ("lr", "0", "must be above 0 and at most 1"),
    ("lr", "nan", "not a number"),
    ("lr", "inf", "not a number"),
    ("lr", "1_000", "not a number"),
    ("lr", "0x10", "not a number"),
    ("epochs", "-3", "must be a whole number between 1 and 200"),
    ("epochs", "2.5", "must be a whole number"),
    ("epochs", "1e3", "must be a whole number"),
    ("epochs", "99999999999999999999", "must be a whole number"),
    ("batch-size", "", "must be a whole number"),
    ("dropout", "1", "must be in [0, 1)"),
    ("warmup-ratio", "0.9", "must be between 0 and 0.5"),
    ("max-grad-norm", "-1", "must be above 0"),
    ("class-weighted", "maybe", "must be true or false"),
    ("pooling", "zzz", "Unknown pooling 'zzz'"),
    ("device", "tpu", "Unknown device 'tpu'"),
    ("lora-targets", "<script>", "may hold only letters, digits"),
    ("model", "/etc/passwd", "a link cannot name a local folder"),
    ("model", "../../models/x", "a link cannot name a local folder"),
    ("model", "~/secret", "a link cannot name a local folder"),
    ("strategies", "../../etc", "not a strategy: ../../etc"),
    ("strategies", "full,bogus", "not a strategy: bogus"),
    ("strategies", ",,", "empty"),
    ("data", "upload", "an uploaded file cannot be in a link"),
    ("data", "/etc/passwd", "an uploaded file cannot be in a link"),
    ("data", "hub:evil/data", "not one of imdb, rotten_tomatoes, synthetic"),
    ("n-train", "99999999999", "must be a whole number from 0 to 100,000"),
    ("n-test", "-5", "must be a whole number from 0 to 100,000"),
    ("hide", "everything", "not a control that can be hidden: everything"),
    ("session_id", "0123456789abcdef", "not a setting of this app"),
    ("strategy", "full", "not a setting of this app"),
])
def test_an_invalid_or_tampered_value_is_ignored_with_the_reason(name, value, why):
    lesson, ignored = from_query({name: value})
    assert lesson == Lesson()
    assert len(ignored) == 1 and ignored[0].startswith(f"{name}={value} (") and why in ignored[0]


@pytest.mark.parametrize("params, why", [
    ({"data": "synthetic", "synthetic-size": "3"}, "must be a whole number from 4 to 100,000"),
    ({"data": "synthetic", "synthetic-size": "100000000"}, "must be a whole number from 4 to 100,000"),
    ({"data": "synthetic", "difficulty": "nightmare"}, "not one of easy, medium, hard"),
    ({"data": "synthetic", "label-noise": "0.5"}, "must be 0 to 0.45 in steps of 0.05"),
    ({"data": "synthetic", "label-noise": "0.123"}, "must be 0 to 0.45 in steps of 0.05"),
    ({"data": "synthetic", "label-noise": "-0.05"}, "must be 0 to 0.45 in steps of 0.05"),
    ({"difficulty": "hard"}, "difficulty (only for data=synthetic)"),
])
def test_synthetic_settings_are_checked_against_the_data_pages_ranges(params, why):
    lesson, ignored = from_query(params)
    assert lesson.data == DataChoice(params.get("data", "rotten_tomatoes"))
    assert len(ignored) == 1 and why in ignored[0]


def test_valid_values_are_kept_next_to_ignored_ones_and_the_sentence_names_each():
    lesson, ignored = from_query({"epochs": "4", "lr": "1e9", "strategies": "tfidf", "foo": "bar"})
    assert lesson == Lesson(strategies=("tfidf",), config=RunConfig(epochs=4))
    sentence = ignored_sentence(ignored)
    assert sentence.startswith("Ignored from this lesson link, the defaults are used instead: lr=1e9 (")
    assert sentence.endswith("; foo=bar (not a setting of this app).") and sentence.count(".") == 1
    assert ignored_sentence([]) == ""


def test_long_values_and_too_many_parameters_are_cut_short_in_the_sentence():
    lesson, ignored = from_query({"strategies": "x" * 10_000, "model": "a" * 150})
    assert lesson == Lesson()
    assert all(len(item) < 150 for item in ignored)
    _, ignored = from_query({f"p{i}": "1" for i in range(MAX_PARAMS + 10)})
    assert ignored[0] == f"10 parameters beyond the first {MAX_PARAMS}" and len(ignored) == MAX_PARAMS + 1


def test_repeated_names_are_kept_once_and_hidden_controls_in_one_order():
    lesson, ignored = from_query({"strategies": "tfidf, frozen,tfidf", "hide": "hyperparameters,data,data"})
    assert ignored == [] and lesson.strategies == ("tfidf", "frozen") and lesson.hidden == ("data", "hyperparameters")
    assert Lesson(hidden=("encoder", "data")).hidden == ("data", "encoder")


def test_every_hideable_control_and_strategy_can_be_in_a_link():
    lesson = Lesson(strategies=tuple(STRATEGIES), hidden=tuple(HIDEABLE))
    assert from_query(to_query(lesson)) == (lesson, [])


def test_the_link_holds_the_setup_only_never_a_session_or_a_path():
    params = to_query(CUSTOM)
    allowed = {"data", "n-train", "n-val", "n-test", "synthetic-size", "difficulty", "label-noise", "strategies",
               "hide"} | {flag.lstrip("-") for flag in HYPERPARAMETERS}
    assert set(params) <= allowed
    assert not any("session" in name or "run" in name for name in params)
    lesson, notes = without_unlinkable(Lesson(DataChoice(source="upload"), config=RunConfig(model="/home/me/model")))
    assert to_query(lesson) == {} and len(notes) == 2
    assert "an uploaded file cannot be in a link" in notes[0] and "local folder" in notes[1]


def test_model_ids_and_local_folders():
    assert model_problem("sentence-transformers/all-MiniLM-L6-v2") is None
    assert model_problem("bert-base-uncased") is None
    for folder in ("/models/x", "./x", "a/b/c", "..", "x/../y", "C:\\models"):
        assert model_problem(folder)


def test_streamlits_own_parameters_are_left_alone():
    assert from_query({"embed": "true", "embed_options": "light_theme"}) == (Lesson(), [])


def test_defaults_come_from_the_app_not_a_copy():
    assert Lesson().strategies == DEFAULT_STRATEGIES and Lesson().config == RunConfig()
