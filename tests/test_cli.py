"""The command-line contract: `python -m core compare` and `python -m core predict`."""

from __future__ import annotations

import csv
import json

import pytest

from core.cli import main


def compare_args(tmp_path, model_dir, strategies="full,tfidf", *extra):
    return ["compare", "--data", "synthetic", "--synthetic-size", "240", "--n-train", "80", "--n-test", "60",
            "--strategies", strategies, "--epochs", "1", "--max-length", "32", "--batch-size", "16",
            "--model", model_dir, "--seed", "0", "--out", str(tmp_path / "out"), *extra]


@pytest.fixture(scope="module")
def compared(tmp_path_factory, tiny_model_dir):
    tmp_path = tmp_path_factory.mktemp("cli")
    code = main(compare_args(tmp_path, tiny_model_dir, "full,tfidf,frozen"))
    return code, tmp_path / "out"


def test_compare_writes_results_and_figure(compared, capsys):
    code, out = compared
    assert code == 0
    payload = json.loads((out / "results.json").read_text())
    assert payload["config"]["n_train"] == 80 and payload["config"]["n_test"] == 60
    runs = {r["strategy"]: r for r in payload["runs"]}
    assert set(runs) == {"full", "tfidf", "frozen"}
    for run in runs.values():
        assert run["status"] == "finished"
        for key in ("test_accuracy", "macro_f1", "train_seconds", "trainable_params", "total_params",
                    "history", "confusion_matrix", "labels", "model_dir"):
            assert key in run, key
        assert sum(map(sum, run["confusion_matrix"])) == 60
        assert {"epoch", "train_loss", "val_accuracy"} <= set(run["history"][0])
    assert (out / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_run_keeps_its_test_predictions_consistent_with_its_confusion_matrix(compared):
    from core.mistakes import mistakes, read_predictions

    _, out = compared
    for run in json.loads((out / "results.json").read_text())["runs"]:
        table = read_predictions(run["model_dir"])
        matrix, labels = run["confusion_matrix"], run["labels"]
        assert len(table) == 60 and table["correct"].mean() == pytest.approx(run["test_accuracy"])
        for i, true in enumerate(labels):
            for j, predicted in enumerate(labels):
                if i != j:  # every off-diagonal cell is exactly the mistakes listed for it
                    assert len(mistakes(table, true, predicted)) == matrix[i][j], (run["strategy"], true, predicted)
        assert len(mistakes(table)) == sum(map(sum, matrix)) - sum(matrix[k][k] for k in range(len(labels)))
        probabilities = table[[f"P({label})" for label in labels]]
        assert (probabilities.sum(axis=1) - 1).abs().max() < 1e-5
        assert (table["confidence"] == probabilities.max(axis=1)).all()


def test_failed_run_is_recorded_and_others_finish(tmp_path, tiny_model_dir, capsys):
    code = main(compare_args(tmp_path, tiny_model_dir, "full,tfidf", "--max-length", "4096"))
    assert code == 0
    runs = {r["strategy"]: r for r in json.loads((tmp_path / "out" / "results.json").read_text())["runs"]}
    assert runs["full"]["status"] == "failed" and "4096" in runs["full"]["reason"]
    assert runs["tfidf"]["status"] == "finished"
    assert "failed" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--strategies", "full,warp_drive"], "Unknown strategy 'warp_drive'"),
    (["--lr", "0"], "must be above 0"),
    (["--lr", "-0.01"], "must be above 0"),
    (["--n-train", "100000"], "but the data has 240"),
    (["--data", "no_such_file.csv"], "no_such_file.csv"),
])
def test_bad_arguments_give_one_clear_line(tmp_path, tiny_model_dir, capsys, extra, message):
    code = main(compare_args(tmp_path, tiny_model_dir, "tfidf") + extra)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("error: ")


def test_predict_text_and_file(compared, tmp_path, capsys):
    _, out = compared
    run_dir = json.loads((out / "results.json").read_text())["runs"][0]["model_dir"]
    assert main(["predict", "--model", run_dir, "a wonderful, moving film"]) == 0
    label, confidence, text = capsys.readouterr().out.strip().split("\t")
    assert label in ("negative", "positive") and 0.5 <= float(confidence) <= 1.0
    table = tmp_path / "texts.csv"
    table.write_text('id,review\n1,loved it\n2,hated it\n3,"=HYPERLINK(""http://x"",""see"") great"\n'
                     "4,@SUM(A1) awful\n5,-2 stars and boring\n", encoding="utf-8")
    assert main(["predict", "--model", run_dir, "--file", str(table), "--output", str(tmp_path / "p.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "p.csv", encoding="utf-8")))
    # a spreadsheet would run a cell starting with = + - @ as a formula: those get an apostrophe
    assert [r["text"] for r in rows] == ["loved it", "hated it", "'=HYPERLINK(\"http://x\",\"see\") great",
                                         "'@SUM(A1) awful", "'-2 stars and boring"]
    assert float(rows[0]["confidence"]) >= 0.5  # numbers stay numbers
    assert all(r["label"] in ("negative", "positive") for r in rows)


def test_predict_refuses_folder_without_weights(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["predict", "--model", str(tmp_path / "run"), "text"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "only runs saved by this tool" in err


def test_sweep_writes_records_summary_and_plot(tmp_path, tiny_model_dir):
    args = ["sweep", "--data", "synthetic", "--synthetic-size", "300", "--sizes", "20,60", "--seeds", "2",
            "--strategies", "tfidf,frozen", "--n-test", "60", "--epochs", "1", "--max-length", "32",
            "--model", tiny_model_dir, "--out", str(tmp_path / "sweep")]
    assert main(args) == 0
    payload = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert len(payload["records"]) == 2 * 2 * 2
    assert payload["config"]["vary"] == "n_train" and payload["config"]["values"] == [20, 60]
    assert {(r["strategy"], r["value"]) for r in payload["summary"]} == {
        ("tfidf", 20), ("tfidf", 60), ("frozen", 20), ("frozen", 60)}
    assert all(r["runs"] == 2 for r in payload["summary"])
    assert [r["n_train"] for r in payload["records"]] == [20] * 4 + [60] * 4
    assert set(payload["winners"]) == {"20", "60"}
    assert (tmp_path / "sweep" / "sweep.png").stat().st_size > 1000


def test_sweep_uses_one_test_set_and_nested_sizes():
    from core.splits import stratified_subset
    from core.texts import LabeledTexts

    data = LabeledTexts(tuple(f"t{i}" for i in range(100)), tuple([0] * 70 + [1] * 30), ("a", "b"))
    part = stratified_subset(data, 20, seed=1)
    assert len(part) == 20 and part.class_counts() == {"a": 14, "b": 6}
    assert stratified_subset(data, 20, seed=1).texts == part.texts
    assert stratified_subset(data, 20, seed=2).texts != part.texts


def test_compare_announces_the_data_and_domain_adapt_reads_the_unlabelled_file(tmp_path, tiny_model_dir, capsys,
                                                                              monkeypatch):
    import core.mlm

    read = []
    real_tokenize = core.mlm.tokenize
    monkeypatch.setattr(core.mlm, "tokenize", lambda tokenizer, texts, n: read.extend(texts) or
                        real_tokenize(tokenizer, texts, n))
    rows = "".join(f"{'great' if i % 2 else 'awful'} film number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(80))
    labelled = tmp_path / "reviews.csv"
    labelled.write_text("comment,verdict\n" + rows + "great film number 1,pos\n", encoding="utf-8")
    unlabelled = tmp_path / "more.csv"
    unlabelled.write_text("text\nan unseen domain sentence\nanother one about the plot\n\n", encoding="utf-8")
    code = main(["compare", "--data", str(labelled), "--n-train", "40", "--n-test", "20", "--strategies",
                 "domain_adapt", "--epochs", "1", "--mlm-steps", "2", "--max-length", "16", "--batch-size", "64",
                 "--model", tiny_model_dir, "--unlabelled", str(unlabelled), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0
    assert "data: Text column 'comment' and label column 'verdict' (detected; choose others to change them)." in err
    assert "data: 1 row repeating an earlier text was left out" in err
    assert "data: Label map of 'verdict': 'neg' = 0 (40), 'pos' = 1 (40)." in err
    assert "data: 2 unlabelled texts for continued pre-training" in err
    assert "% of training texts are longer than 16 tokens and will be cut" in err
    assert {"an unseen domain sentence", "another one about the plot"} <= set(read)  # masked-LM read them
