"""ONNX export: the exported model predicts what the PyTorch model predicts (within 1e-4), runs with
onnxruntime and a tokenizer alone, and the CLI and loaders fail in one sentence (tiny random BERT)."""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.columns import from_frame
from core.config import RunConfig
from core.errors import ModelLoadError
from core.export import (DEFAULT_BACKEND, OnnxPredictor, ensure_onnx, load_onnx_predictor, load_serving_predictor,
                         manifest_path, onnx_path_for, tokenizer_path)
from core.predict import EncoderPredictor, TfidfPredictor, load_predictor
from core.splits import make_splits
from core.store import save_run
from core.texts import LabeledTexts, Splits
from core.training import train
from tests.support import make_texts, rated_rows

pytestmark = pytest.mark.slow  # every test exports a model first (3-6 s each); the suite still runs them

# One word, ordinary sentences, and one far longer than max_length (truncated): a batch of these
# is padded, so a mishandled attention mask or sequence axis shows up as different probabilities.
TEXTS = ["great", "a wonderful, moving film", "I hated every minute of this dull, lifeless film",
         "boring", "touching and beautifully shot " * 20, "a joy to watch, brilliant and funny, superb cast"]


def saved(tmp_path_factory, name, config, splits):
    """Train `config` on `splits` and save it like `compare` does; returns the run folder."""
    outcome = train(config, splits)
    assert outcome.result.status == "finished", outcome.result.reason
    return save_run(tmp_path_factory.mktemp(name) / "run", outcome.result, outcome.predictor)


@pytest.fixture(scope="module")
def sentiment_splits():
    def part(n, seed):
        texts, labels = make_texts(n, seed)
        return LabeledTexts(tuple(texts), tuple(labels), ("negative", "positive"))

    return Splits(part(20, 1), part(8, 2), part(8, 3))


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory, tiny_model_dir, sentiment_splits):
    config = RunConfig(strategy="full", model=tiny_model_dir, max_length=32, batch_size=8, epochs=1,
                       lr_finetune=1e-3, pooling="mean")
    return saved(tmp_path_factory, "classifier", config, sentiment_splits)


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory, classifier_run):
    """`python -m core export` of the classifier run: (exit code, stdout, the .onnx file)."""
    out = tmp_path_factory.mktemp("export") / "sentiment.onnx"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["export", "--model", str(classifier_run), "--format", "onnx", "--out", str(out)])
    return code, stdout.getvalue(), out


@pytest.fixture(scope="module", params=["regression", "multitask"])
def numeric_run(request, tmp_path_factory, tiny_model_dir):
    """A frozen regression run (score) and a full multi-task run (sentiment + score), each exported by ensure_onnx."""
    columns = "score" if request.param == "regression" else "sentiment,score"
    data = from_frame(pd.DataFrame(rated_rows(200, seed=5)), text_column="review", label_column=columns)
    splits = make_splits(data, n_train=100, n_test=30, n_val=30, seed=0)
    strategy = "frozen" if request.param == "regression" else "full"
    config = RunConfig(strategy=strategy, model=tiny_model_dir, max_length=16, epochs=1, pooling="mean", lr_head=5e-2)
    run = saved(tmp_path_factory, request.param, config, splits)
    return run, ensure_onnx(run)


def test_cli_writes_model_tokenizer_and_manifest(cli_export):
    code, stdout, out = cli_export
    assert code == 0
    for path in (out, tokenizer_path(out), manifest_path(out)):
        assert str(path) in stdout
    assert out.stat().st_size > 100_000 and (tokenizer_path(out) / "tokenizer.json").is_file()
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["targets"][0]["label_names"] == ["negative", "positive"]
    assert manifest["max_length"] == 32 and manifest["model"] == "sentiment.onnx"
    assert not list(out.parent.glob(".export-*"))  # the staging folder is gone


def test_onnx_probabilities_match_pytorch_within_1e4(cli_export, classifier_run):
    torch_predictor = load_predictor(classifier_run)
    onnx_predictor = load_onnx_predictor(cli_export[2])
    expected = torch_predictor.predict_proba(TEXTS)
    assert np.ptp(expected[:, 1]) > 1e-3  # the texts get different probabilities, so a wrong export shows
    for batch_size in (64, 4, 1):  # one padded batch, length groups, no padding
        got = onnx_predictor.predict_outputs(TEXTS, batch_size=batch_size)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert [p.label for p in onnx_predictor.predict(TEXTS)] == [p.label for p in torch_predictor.predict(TEXTS)]


def numbers(prediction) -> list:
    """Every number a prediction carries: its value or class probabilities, then its further targets'."""
    own = [prediction.value] if prediction.value is not None else list(prediction.probabilities.values())
    return own + [x for other in prediction.others.values() for x in numbers(other)]


def test_regression_and_multitask_exports_decode_like_pytorch(numeric_run):
    run, onnx_file = numeric_run
    expected = load_predictor(run).predict(TEXTS)
    got = load_onnx_predictor(onnx_file).predict(TEXTS)
    values = [p.value if p.value is not None else p.others["score"].value for p in expected]
    assert np.ptp(values) > 1e-3  # the texts get different scores, so a wrong export shows
    np.testing.assert_allclose([numbers(p) for p in got], [numbers(p) for p in expected], atol=1e-4, rtol=1e-5)
    if expected[0].value is None:  # multi-task: the first target is the sentiment class
        assert [p.label for p in got] == [p.label for p in expected]


def run_standalone(onnx_file: str, texts: list) -> list:
    """Predict with an export using only numpy, onnxruntime and tokenizers, as a user without this project would."""
    import json
    from pathlib import Path

    import numpy as np
    import onnxruntime
    from tokenizers import Tokenizer

    path = Path(onnx_file)
    manifest = json.loads(path.with_suffix(".json").read_text())
    tokenizer = Tokenizer.from_file(str(path.parent / manifest["tokenizer"] / "tokenizer.json"))
    tokenizer.enable_truncation(manifest["max_length"])
    tokenizer.no_padding()
    ids = [encoding.ids for encoding in tokenizer.encode_batch(texts)]
    input_ids = np.full((len(ids), max(map(len, ids))), manifest["pad_token_id"], dtype=np.int64)
    attention_mask = np.zeros_like(input_ids)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)], attention_mask[row, : len(seq)] = seq, 1
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run([manifest["output"]], {"input_ids": input_ids, "attention_mask": attention_mask})[0]
    out, start = out.astype(np.float64), 0
    for target in manifest["targets"]:  # the manifest's "decoding" sentence, in code
        width = len(target["label_names"]) if target["kind"] == "classification" else 1
        block = out[:, start:start + width]
        if target["kind"] == "classification":
            exp = np.exp(block - block.max(axis=1, keepdims=True))
            out[:, start:start + width] = exp / exp.sum(axis=1, keepdims=True)
        else:
            out[:, start:start + width] = block * target["std"] + target["mean"]
        start += width
    return out.tolist()


def standalone_outputs(onnx_files, texts, cwd) -> list:
    """run_standalone on each export in a fresh, isolated interpreter (-I) where `import core` fails."""
    script = "\n".join([
        inspect.getsource(run_standalone),
        "import importlib.util, json, sys",
        "assert importlib.util.find_spec('core') is None, 'core is importable'",
        f"print(json.dumps([run_standalone(f, {texts!r}) for f in {[str(f) for f in onnx_files]!r}]))",
        "assert not any(name == 'core' or name.startswith('core.') for name in sys.modules)",
    ])
    done = subprocess.run([sys.executable, "-I", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [np.array(outputs) for outputs in json.loads(done.stdout)]


def test_export_runs_without_this_project(cli_export, classifier_run, numeric_run, tmp_path):
    runs, onnx_files = (classifier_run, numeric_run[0]), (cli_export[2], numeric_run[1])
    for run, got in zip(runs, standalone_outputs(onnx_files, TEXTS, tmp_path)):
        np.testing.assert_allclose(got, load_predictor(run).predict_outputs(TEXTS), atol=1e-4, rtol=1e-5)


def test_cli_refuses_tfidf_and_unknown_format_in_one_line(tmp_path_factory, classifier_run, sentiment_splits,
                                                          capsys):
    tfidf_run = saved(tmp_path_factory, "tfidf", RunConfig(strategy="tfidf"), sentiment_splits)
    out = tmp_path_factory.mktemp("refused") / "model.onnx"
    refusals = [(["--model", str(tfidf_run)], "ONNX export covers neural runs only"),
                (["--model", str(classifier_run), "--format", "tflite"], "Unknown export format 'tflite'"),
                (["--model", str(classifier_run), "--out", str(out.with_suffix(".bin"))], "must end in .onnx"),
                (["--model", str(classifier_run), "--out", str(classifier_run / "result.json" / "m.onnx")],
                 "Cannot write an export into")]
    for argv, message in refusals:
        assert main(["export", "--out", str(out), *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not out.exists()
    assert isinstance(load_serving_predictor(tfidf_run), TfidfPredictor)  # the service serves it as saved


def test_missing_or_corrupted_onnx_gives_a_clear_error(cli_export, tmp_path):
    source = cli_export[2]
    copy = tmp_path / source.name
    copy.write_bytes(b"not a protobuf, just a truncated download")
    manifest_path(copy).write_text(manifest_path(source).read_text())
    (tokenizer_path(copy)).mkdir()
    with pytest.raises(ModelLoadError, match="is not a readable ONNX model.*export the run again"):
        load_onnx_predictor(copy)
    copy.unlink()
    with pytest.raises(ModelLoadError, match="model.onnx' is missing; export the run"):
        load_onnx_predictor(tmp_path / "model.onnx")


def test_ensure_onnx_exports_once_and_the_service_gets_the_default_backend(numeric_run):
    run, onnx_file = numeric_run
    assert onnx_file == onnx_path_for(run) == run / "model" / "model.onnx"
    written = onnx_file.stat().st_mtime_ns
    assert ensure_onnx(run) == onnx_file and onnx_file.stat().st_mtime_ns == written  # reused, not re-exported
    expected = OnnxPredictor if DEFAULT_BACKEND == "onnx" else EncoderPredictor
    assert isinstance(load_serving_predictor(run), expected)
    assert isinstance(load_serving_predictor(run, backend="torch"), EncoderPredictor)
    assert isinstance(load_serving_predictor(run, backend="onnx"), OnnxPredictor)
