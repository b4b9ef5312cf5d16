"""Tests of core.texts, tables, columns, sources, splits and synthetic: loading, checking and splitting labelled texts."""

from __future__ import annotations

import io
import re
import time

import pandas as pd
import pytest

from core.columns import detect_columns, from_frame
from core.errors import DataError
from core.sources import BUNDLED, load_bundled, load_file, load_hub, load_source
from core.splits import describe_splits, make_splits
from core.synthetic import COMMON, RARE, generate_reviews
from core.tables import clean_text, read_table
from core.texts import LabeledTexts, Splits

REVIEWS = {
    "text": ["A wonderful film.", "Dull and long.", "Loved every minute.", "A waste of time.",
             "Sharp, funny, moving.", "I fell asleep."],
    "label": ["pos", "neg", "pos", "neg", "pos", "neg"],
}


def write(tmp_path, name: str, content: str | bytes):
    """A file under tmp_path with `content` (bytes written as is)."""
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def toy(n_per_class: dict[str, int]) -> LabeledTexts:
    """Distinct texts with the given number of examples per class."""
    names = tuple(n_per_class)
    labels = [i for i, name in enumerate(names) for _ in range(n_per_class[name])]
    return LabeledTexts(tuple(f"text {i}" for i in range(len(labels))), tuple(labels), names)


# ---------------------------------------------------------------- bundled data

@pytest.mark.parametrize("name, size, repeated", [("imdb", 25_000, 98), ("rotten_tomatoes", 8_530, 0)])
def test_bundled_sets_are_whole_clean_distinct_and_balanced(name, size, repeated):
    data = load_bundled(name)
    assert len(data) + data.duplicates == size and data.duplicates == repeated and data.dropped == 0
    assert len(set(data.texts)) == len(data)  # IMDb repeats 98 reviews: kept once, so no split can hold one twice
    assert data.label_names == ("negative", "positive")
    assert abs(data.class_counts()["negative"] - data.class_counts()["positive"]) <= repeated
    assert not any("<br" in text.lower() for text in data.texts)
    assert all(text == text.strip() and text for text in data.texts)
    assert load_bundled(name) is data  # cached: the 40 MB CSV is parsed once


def test_unknown_bundled_name_lists_the_choices():
    with pytest.raises(DataError, match="Unknown bundled data set 'sst2'; choose one of: imdb"):
        load_bundled("sst2")


def test_clean_text_removes_line_breaks_and_entities():
    assert clean_text("Good.<br /><br />Very  good.<BR>Yes<br/>\n no &amp; more ") == \
        "Good. Very good. Yes no & more"
    assert clean_text("   ") == ""


def test_make_splits_on_bundled_imdb_is_stratified_disjoint_and_seeded():
    data = load_bundled("imdb")
    splits = make_splits(data, n_train=1000, n_test=1000, seed=0)
    assert isinstance(splits, Splits) and splits.label_names == ("negative", "positive")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1000, 200, 1000)
    for part, size in ((splits.train, 1000), (splits.val, 200), (splits.test, 1000)):
        counts = part.class_counts()  # IMDb without its 98 repeats is 12,431 / 12,471: nearly balanced
        assert abs(counts["negative"] - size / 2) <= 1 and sum(counts.values()) == size
    train, val, test = (set(part.texts) for part in (splits.train, splits.val, splits.test))
    assert not (train & val or train & test or val & test)
    assert make_splits(data, 1000, 1000, seed=0) == splits
    assert set(make_splits(data, 1000, 1000, seed=1).train.texts) != train
    # a seed fixes the test set whatever n_train, and more training data extends the smaller set
    smaller = make_splits(data, n_train=300, n_test=1000, seed=0)
    assert smaller.test == splits.test
    assert set(smaller.train.texts) <= train


# ---------------------------------------------------------------- splitting

def test_make_splits_keeps_class_proportions_of_imbalanced_data():
    data = toy({"a": 600, "b": 300, "c": 100})
    splits = make_splits(data, n_train=500, n_val=100, n_test=200, seed=3)
    assert splits.train.class_counts() == {"a": 300, "b": 150, "c": 50}
    assert splits.val.class_counts() == {"a": 60, "b": 30, "c": 10}
    assert splits.test.class_counts() == {"a": 120, "b": 60, "c": 20}


def test_make_splits_can_use_every_row_with_odd_sizes():
    data = toy({"a": 7, "b": 6})
    splits = make_splits(data, n_train=5, n_val=3, n_test=5, seed=0)
    used = splits.train.texts + splits.val.texts + splits.test.texts
    assert sorted(used) == sorted(data.texts)
    assert all(min(part.class_counts().values()) >= 1
               for part in (splits.train, splits.val, splits.test))


def test_make_splits_refuses_more_rows_than_the_data_has():
    data = toy({"negative": 750, "positive": 750})
    message = re.escape("Asked for 1,000 training + 200 validation + 1,000 test = 2,200 rows "
                        "but the data has 1,500; lower n_train or n_test.")
    with pytest.raises(DataError, match=message):
        make_splits(data, n_train=1000, n_test=1000)


@pytest.mark.parametrize("sizes, message", [
    (dict(n_train=3, n_test=10), "n_train must be at least 4 for 2 classes; got 3"),
    (dict(n_train=10, n_test=1), "n_test must be at least 2 for 2 classes; got 1"),
    (dict(n_train=10, n_test=10, n_val=0), "n_val must be at least 2 for 2 classes; got 0"),
])
def test_make_splits_refuses_splits_too_small_for_every_class(sizes, message):
    with pytest.raises(DataError, match=message):
        make_splits(toy({"a": 50, "b": 50}), **sizes)


def test_describe_splits_is_the_json_record_saved_with_every_run():
    data = toy({"negative": 700, "positive": 700})
    splits = make_splits(data, n_train=1000, n_test=150, seed=0)
    assert describe_splits("rotten_tomatoes", "Rotten Tomatoes", data, splits) == {
        "data": "rotten_tomatoes", "n_train": 1000, "n_val": 200, "n_test": 150,
        "labels": ["negative", "positive"], "dropped": 0, "duplicates": 0, "task": "classification",
        "targets": "classes negative, positive",
        "description": "Rotten Tomatoes · 1,000 train / 200 validation / 150 test"}
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(40)], "score": [str(i / 2) for i in range(40)],
                          "mood": ["calm", "angry"] * 20})
    data = from_frame(frame, label_column="score,mood", task="regression,classification")
    info = describe_splits("reviews.csv", "reviews.csv", data, make_splits(data, n_train=20, n_val=8, n_test=8))
    assert info["data"] == "reviews.csv" and info["task"] == "regression" and info["labels"] == []
    assert info["description"] == ("reviews.csv · 20 train / 8 validation / 8 test · "
                                   "score: a number (regression); mood: classes angry, calm")

# ---------------------------------------------------------------- reading files

@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".txt", ".jsonl", ".json", ".parquet"])
def test_every_format_round_trips_as_strings(tmp_path, suffix):
    frame = pd.DataFrame({"review": ["Great, \"really\" great.", "Bad\tfilm.", "Fine", "Meh"],
                          "stars": [5, 1, 4, 2]})
    path = tmp_path / f"reviews{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix in (".tsv", ".txt"):
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        frame.to_json(path, orient="records")
    else:
        frame.to_parquet(path)
    table = read_table(path)
    assert table.to_dict("list") == {"review": list(frame["review"]), "stars": ["5", "1", "4", "2"]}


def test_uploaded_bytes_and_file_objects_are_read(tmp_path):
    content = pd.DataFrame(REVIEWS).to_csv(index=False).encode()
    upload = io.BytesIO(content)
    upload.name = "upload.csv"  # what Streamlit's UploadedFile carries
    upload.read()  # a page may have read it already; the reader must not care
    assert read_table(upload).equals(read_table(content, filename="upload.csv"))
    assert len(from_frame(read_table(upload))) == 6


def test_unknown_file_type_lists_the_allowed_ones():
    with pytest.raises(DataError, match=r"Cannot read 'reviews.xlsx': the file type must be one "
                                        r"of \.csv, \.tsv"):
        read_table(b"text,label\n", filename="reviews.xlsx")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="File '.*nope.csv' not found"):
        read_table(tmp_path / "nope.csv")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file_is_refused(tmp_path, content):
    with pytest.raises(DataError, match="The file '.*empty.csv' is empty"):
        read_table(write(tmp_path, "empty.csv", content))


@pytest.mark.parametrize("name, content", [("header.csv", "text,label\n"),
                                           ("header.tsv", "text\tlabel\r\n\r\n")])
def test_header_only_file_is_refused(tmp_path, name, content):
    with pytest.raises(DataError, match=f"The file '.*{name}' has column names but no data rows"):
        read_table(write(tmp_path, name, content))


def test_json_without_records_is_empty(tmp_path):
    with pytest.raises(DataError, match="The file '.*none.json' is empty"):
        read_table(write(tmp_path, "none.json", "[]"))


def test_utf8_bom_does_not_leak_into_the_first_column_name(tmp_path):
    content = "\ufefftext,label\ncafé crème,a\nnaïve plot,b\nok,a\nno,b\n".encode()
    path = write(tmp_path, "bom.csv", content)
    assert content.startswith(b"\xef\xbb\xbf")
    assert list(read_table(path).columns) == ["text", "label"]
    assert load_file(path).texts[:2] == ("café crème", "naïve plot")


def test_latin1_file_falls_back_to_windows_1252(tmp_path):
    content = "text,label\ncafé – déjà vu,a\nnaïve,b\nok,a\nno,b\n".encode("cp1252")
    data = load_file(write(tmp_path, "latin1.csv", content))
    assert data.texts[:2] == ("café – déjà vu", "naïve")


def test_utf16_file_from_excel_is_read(tmp_path):
    content = "text\tlabel\nsuperbe\tpos\nnul\tneg\n".encode("utf-16")
    assert read_table(write(tmp_path, "excel.txt", content))["text"].tolist() == ["superbe", "nul"]


@pytest.mark.parametrize("content, line", [
    ("text,label\nfine,pos\ngood, really good,pos\nbad,neg\n", 3),
    ("text,label\ngood, really good,pos\nbad,neg\n", 2),  # pandas would silently eat this one
])
def test_rows_with_too_many_fields_are_refused_naming_the_line(tmp_path, content, line):
    with pytest.raises(DataError, match=f"Line {line} of '.*ragged.csv' has more fields than the "
                                        "2 column names .1 such lines.; put quotes around"):
        read_table(write(tmp_path, "ragged.csv", content))


def test_rows_with_too_few_fields_are_dropped_and_counted(tmp_path):
    content = "text,label\ngood,pos\nno label here\nbad,neg\nfine,pos\nawful,neg\n"
    data = load_file(write(tmp_path, "short.csv", content))
    assert len(data) == 4 and data.dropped == 1


def test_quoted_fields_may_hold_commas_and_newlines(tmp_path):
    content = 'text,label\n"good, really\ngood",pos\nbad,neg\nfine,pos\nawful,neg\n'
    assert load_file(write(tmp_path, "quoted.csv", content)).texts[0] == "good, really good"


def test_repeated_column_names_are_refused(tmp_path):
    with pytest.raises(DataError, match="more than one column named 'text'"):
        read_table(write(tmp_path, "twice.csv", "text,text\na,b\n"))


# ---------------------------------------------------------------- columns and labels

@pytest.mark.parametrize("columns, expected", [
    (["Review", "Sentiment"], ("Review", "Sentiment")),
    (["id", "CONTENT", "Class"], ("CONTENT", "Class")),
    (["sentence", "label", "label_text"], ("sentence", "label")),
])
def test_detect_columns_by_common_names(columns, expected):
    frame = pd.DataFrame([["1"] * len(columns)] * 4, columns=columns)
    assert detect_columns(frame) == expected


def test_detect_columns_by_content_when_names_are_unknown():
    frame = pd.DataFrame({"id": ["1", "2", "3", "4", "5", "6"],
                          "opinion": ["A long, long review text."] * 6,
                          "verdict": ["yes", "no", "yes", "no", "yes", "no"]})
    assert detect_columns(frame) == ("opinion", "verdict")


def test_undetectable_label_column_names_the_columns_found():
    frame = pd.DataFrame({"a": ["x1", "x2", "x3", "x4"], "b": ["y1", "y2", "y3", "y4"]})
    with pytest.raises(DataError, match="Cannot tell which column holds the labels; the file has "
                                        "columns: a, b."):
        detect_columns(frame)


def test_single_column_is_refused():
    with pytest.raises(DataError, match="needs a text column and a label column; it has only: "
                                        "text"):
        detect_columns(pd.DataFrame({"text": ["a", "b"]}))


def test_missing_named_column_lists_the_columns_found():
    frame = pd.DataFrame(REVIEWS)
    with pytest.raises(DataError, match=re.escape("Column 'review' not found; the file has "
                                                  "columns: text, label.")):
        from_frame(frame, text_column="review")
    assert from_frame(frame, text_column="TEXT", label_column="label").label_names == \
        ("neg", "pos")


def test_renamed_columns_in_a_file_are_detected(tmp_path):
    frame = pd.DataFrame(REVIEWS).rename(columns={"text": "Review Text", "label": "Rating"})
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    data = load_file(tmp_path / "renamed.csv")
    assert data.texts == tuple(REVIEWS["text"]) and data.label_names == ("neg", "pos")


def test_one_class_is_refused():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": ["pos", "pos", "pos"]})
    with pytest.raises(DataError, match="The label column 'label' has only one class \\('pos'\\); "
                                        "a classifier needs at least two"):
        from_frame(frame)


def test_class_with_a_single_example_is_named():
    frame = pd.DataFrame({"text": list("abcde"), "label": ["x", "x", "y", "y", "lonely"]})
    with pytest.raises(DataError, match="Class 'lonely' has only one example; stratified "
                                        "splitting needs at least 2 per class"):
        from_frame(frame)


def test_empty_and_missing_texts_are_dropped_and_counted(tmp_path):
    content = "text,label\ngood,pos\n,neg\n   ,pos\n<br />,neg\nbad,neg\nfine,pos\nugh,neg\n"
    data = load_file(write(tmp_path, "gaps.csv", content))
    assert data.texts == ("good", "bad", "fine", "ugh") and data.dropped == 3
    frame = pd.DataFrame({"text": ["good", None, float("nan"), "bad", "ok", "no"],
                          "label": ["p", "n", "p", "n", "p", "n"]})
    assert from_frame(frame).dropped == 2


def test_no_usable_rows_is_refused():
    with pytest.raises(DataError, match="No row has both a text and a label"):
        from_frame(pd.DataFrame({"text": ["", " "], "label": ["a", "b"]}))


def test_labels_that_look_like_missing_values_stay_labels(tmp_path):
    content = "text,label\nreview one,NA\nreview two,None\nreview three,NA\nreview four,None\nreview five,null\nreview six,null\n"
    data = load_file(write(tmp_path, "na.csv", content))
    assert data.label_names == ("NA", "None", "null") and data.dropped == 0


def test_integer_labels_sort_numerically_and_support_three_classes():
    frame = pd.DataFrame({"text": [f"review {i}" for i in range(6)],
                          "label": ["10", "2", "10", "02", "1", "+1"]})
    data = from_frame(frame)
    assert data.label_names == ("1", "2", "10")
    assert data.class_counts() == {"1": 2, "2": 2, "10": 2}
    assert data.labels == (2, 1, 2, 1, 0, 0)


def test_integer_label_column_from_parquet_with_gaps(tmp_path):
    frame = pd.DataFrame({"text": ["a", "b", "c", "d", "e"], "label": [0, 1, None, 1, 0]})
    frame.to_parquet(tmp_path / "gaps.parquet")  # the gap turns the column into floats
    data = load_file(tmp_path / "gaps.parquet")
    assert data.label_names == ("0", "1") and data.dropped == 1


# ---------------------------------------------------------------- the Hub

def test_hub_offline_fails_fast_with_one_sentence(monkeypatch, tmp_path):
    import datasets
    import huggingface_hub

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # datasets reads these at import time, so set its copies too; an empty cache ensures
    # that nothing downloaded earlier on this machine can answer
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path)
    started = time.perf_counter()
    with pytest.raises(DataError, match=r"^Could not load dataset 'imdb' \(split 'train'\) from "
                                        r"the Hugging Face Hub .*; use a bundled set"):
        load_hub("imdb")
    assert time.perf_counter() - started < 15


def fake_hub(monkeypatch, calls: list) -> None:
    """Make datasets.load_dataset return a small in-memory data set with ClassLabel labels."""
    import datasets

    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["sad", "happy", "angry"]),
                                  "idx": datasets.Value("int32")})
    table = {"sentence": ["great<br />day", "so sad", "yay", "boo", "", "unlabelled"],
             "label": [1, 0, 1, 0, 1, -1], "idx": list(range(6))}

    def load_dataset(name, split=None):
        calls.append((name, split))
        return datasets.Dataset.from_dict(table, features=features)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


def test_hub_success_uses_class_label_names(monkeypatch):
    calls = []
    fake_hub(monkeypatch, calls)
    data = load_hub("glue/sst2", split="validation")
    assert calls == [("glue/sst2", "validation")]
    assert data.label_names == ("sad", "happy")  # ClassLabel order; absent 'angry' left out
    assert data.texts == ("great day", "so sad", "yay", "boo")
    assert data.labels == (1, 0, 1, 0) and data.dropped == 2


# ---------------------------------------------------------------- load_source

def test_load_source_dispatches_every_kind(monkeypatch, tmp_path):
    assert load_source("rotten_tomatoes") is load_bundled("rotten_tomatoes")
    synthetic = load_source("synthetic", n_synthetic=40, difficulty="easy", seed=4)
    assert synthetic == generate_reviews(40, difficulty="easy", seed=4)
    calls = []
    fake_hub(monkeypatch, calls)
    load_source("hub:someone/reviews:test")
    load_source("hub:imdb")
    assert calls == [("someone/reviews", "test"), ("imdb", "train")]
    pd.DataFrame(REVIEWS).to_csv(tmp_path / "mine.csv", index=False)
    assert len(load_source(str(tmp_path / "mine.csv"))) == 6


def test_load_source_unknown_spec_lists_the_choices():
    with pytest.raises(DataError, match="Unknown data source 'imbd'; use imdb, rotten_tomatoes, "
                                        "synthetic, hub:NAME\\[:SPLIT\\] or the path"):
        load_source("imbd")


def test_every_bundled_name_loads_in_any_case_from_the_cache():
    for name in BUNDLED:
        assert load_source(f" {name.upper()} ") is load_bundled(name)


# ---------------------------------------------------------------- LabeledTexts

def test_labeled_texts_subset_counts_and_checks():
    data = LabeledTexts(["a", "b", "c"], [0, 1, 1], ["neg", "pos"])
    assert data.texts == ("a", "b", "c") and len(data) == 3
    assert data.subset([2, 0]) == LabeledTexts(("c", "a"), (1, 0), ("neg", "pos"))
    assert data.class_counts() == {"neg": 1, "pos": 2}
    with pytest.raises(DataError, match="Got 2 texts but 1 labels"):
        LabeledTexts(("a", "b"), (0,), ("neg", "pos"))
    with pytest.raises(DataError, match="indices into the 2 label names"):
        LabeledTexts(("a",), (2,), ("neg", "pos"))


# ---------------------------------------------------------------- synthetic reviews

def lexicon_accuracy(data: LabeledTexts) -> float:
    """Accuracy of counting common positive minus negative words: a model with no context."""
    correct = 0
    for text, label in zip(data.texts, data.labels):
        words = re.findall(r"[a-z-]+", text.lower())
        score = sum(word in COMMON[1] for word in words) - sum(word in COMMON[0] for word in words)
        correct += (score > 0) == (label == 1)
    return correct / len(data)


def test_synthetic_size_balance_and_uniqueness():
    data = generate_reviews(2000, seed=0)
    assert len(data) == 2000 and data.label_names == ("negative", "positive")
    assert data.class_counts() == {"negative": 1000, "positive": 1000}
    assert len(set(data.texts)) >= 0.95 * 2000
    skewed = generate_reviews(1000, positive_ratio=0.3, seed=0)
    assert skewed.class_counts() == {"negative": 700, "positive": 300}


def test_synthetic_is_deterministic_per_seed():
    assert generate_reviews(300, seed=7) == generate_reviews(300, seed=7)
    assert generate_reviews(300, seed=7).texts != generate_reviews(300, seed=8).texts


def test_synthetic_label_noise_flips_that_fraction():
    clean = generate_reviews(1000, seed=2)
    noisy = generate_reviews(1000, seed=2, label_noise=0.2)
    assert clean.texts == noisy.texts
    flipped = sum(a != b for a, b in zip(clean.labels, noisy.labels))
    assert flipped == 200


def test_synthetic_difficulties_differ_as_documented():
    rare_words = set(RARE[0]) | set(RARE[1])
    negation = re.compile(r"\b(not|hardly|never|nobody)\b|n't")
    share = {}
    for difficulty in ("easy", "medium", "hard"):
        data = generate_reviews(600, difficulty=difficulty, seed=1)
        words = [set(re.findall(r"[a-z-]+", text.lower())) for text in data.texts]
        share[difficulty] = (sum(bool(negation.search(t)) for t in data.texts) / len(data),
                             sum(bool(w & rare_words) for w in words) / len(data),
                             lexicon_accuracy(data))
    assert share["easy"] == (0.0, 0.0, 1.0)  # clear words only: right by construction
    assert share["medium"][0] > 0.5 and share["medium"][1] == 0.0
    assert share["hard"][1] > 0.9  # rare words in nearly every hard review
    # counting common words solves easy reviews and is at chance on hard ones
    assert share["hard"][2] < 0.6 and share["medium"][2] < share["easy"][2]


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=3), "at least 4; got 3"),
    (dict(n=100, label_noise=0.5), "label_noise must be at least 0 and below 0.5"),
    (dict(n=100, label_noise=-0.1), "label_noise must be at least 0 and below 0.5"),
    (dict(n=100, positive_ratio=1.0), "positive_ratio must be between 0 and 1"),
    (dict(n=100, positive_ratio=0), "positive_ratio must be between 0 and 1"),
    (dict(n=100, difficulty="extreme"), "Unknown difficulty 'extreme'; choose one of: easy, "
                                        "medium, hard"),
])
def test_synthetic_arguments_are_checked(kwargs, message):
    with pytest.raises(DataError, match=message):
        generate_reviews(**kwargs)


def test_synthetic_tiny_sets_still_split():
    data = generate_reviews(8, positive_ratio=0.05, seed=0)
    assert data.class_counts() == {"negative": 6, "positive": 2}
    make_splits(data, n_train=4, n_val=2, n_test=2)


# ---------------------------------------------------------------- data that must not fool it

def test_a_file_without_a_column_of_text_is_refused_with_the_columns_found(tmp_path):
    content = "id,views,label\n" + "".join(f"A-{i:04d},{i * 37},{'pos' if i % 2 else 'neg'}\n" for i in range(20))
    with pytest.raises(DataError, match=r"Column '(id|views)' holds no text to learn from \(20 of its 20 cells are "
                                        r"numbers or ids\); the file has columns: id, views, label"):
        load_file(write(tmp_path, "ids.csv", content))


def test_repeated_texts_are_kept_once_and_counted_before_any_split():
    frame = pd.DataFrame({"text": ["good film", "bad film", "good film", "dull plot", "good film", "fine cast"],
                          "label": ["pos", "neg", "pos", "neg", "neg", "pos"]})
    data = from_frame(frame)
    assert data.texts == ("good film", "bad film", "dull plot", "fine cast") and data.duplicates == 2
    assert "2 rows repeating an earlier text were left out" in " ".join(data.load_report())
    synthetic = load_source("synthetic", n_synthetic=400, difficulty="easy", seed=1)
    assert len(set(synthetic.texts)) == len(synthetic) and len(synthetic) + synthetic.duplicates == 400


def test_labels_differing_only_in_case_or_spaces_are_merged_and_the_map_is_shown():
    frame = pd.DataFrame({"text": [f"review number {i}" for i in range(7)],
                          "label": ["Positive", "positive ", " positive", "NEGATIVE", "negative", "negative", "Negative"]})
    data = from_frame(frame)
    assert data.label_names == ("negative", "positive") and data.class_counts() == {"negative": 4, "positive": 3}
    report = data.load_report()
    assert "In 'label', labels 'NEGATIVE', 'Negative', 'negative' differ only in case and were merged into " \
           "'negative'." in report
    assert "Label map of 'label': 'negative' = 0 (4), 'positive' = 1 (3)." in report
    assert report[0] == "Text column 'text' and label column 'label' (detected; choose others to change them)."


def test_csv_exports_neutralise_cells_a_spreadsheet_would_run_as_formulas():
    from core.tables import safe_csv

    frame = pd.DataFrame({"=name": ["=1+1", "+33 612", "-x", "@me", "\tpad", "plain", "a=b"], "n": range(7)})
    lines = safe_csv(frame).splitlines()
    assert lines[0] == "'=name,n"
    assert [line.rsplit(",", 1)[0] for line in lines[1:]] == ["'=1+1", "'+33 612", "'-x", "'@me", "'\tpad", "plain",
                                                              "a=b"]


def test_unlabelled_texts_never_include_validation_or_test_texts():
    from core.splits import with_unlabelled

    data = load_source("synthetic", n_synthetic=200, difficulty="easy")
    splits = make_splits(data, n_train=100, n_test=50, n_val=20)
    texts = ["a new domain text", splits.test.texts[0], splits.val.texts[0], "", "a new domain text",
             splits.train.texts[0]]
    extended, left_out = with_unlabelled(splits, texts)
    assert extended.unlabelled == ("a new domain text", splits.train.texts[0]) and left_out == 4
    assert extended.pretraining_texts == (*splits.train.texts, "a new domain text", splits.train.texts[0])
