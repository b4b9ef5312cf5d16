"""The REST service (`python -m core serve`): every endpoint and every refusal through FastAPI's
TestClient on real saved runs (a tiny random BERT and TF-IDF, trained here), batching under
concurrent requests, the started server on loopback, and a schemathesis run over its schema.

Only the overload test swaps the model for a stub that blocks until told, so that the queue fills
deterministically; everything else predicts with the runs' real models (the batching test counts
and slows the real model's calls)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.cli import main
from core.columns import from_frame
from core.config import RunConfig
from core.errors import ConfigError
from core.predict import Predictor, load_predictor
from core.results import RunResult
from core.service import client_snippets
from core.service_app import create_app, prediction_dict
from core.service_batching import BatchWorker
from core.service_models import ModelCatalog, load_model, resolve_backend
from core.service_settings import ServiceSettings
from core.splits import make_splits
from core.store import save_run
from core.tasks import classification_targets
from core.texts import LabeledTexts, Splits
from core.training import train
from tests.support import make_texts, rated_rows

ROOT = Path(__file__).resolve().parents[1]
BERT, TFIDF, MULTI = "20250101-000001-full-aaaaaa", "20250101-000002-tfidf-bbbbbb", "20250101-000003-tfidf-cccccc"
TEXTS = ["a wonderful, moving film", "I hated every minute", "", "ünïcödé 🎬 \"quoted\" and 'single'"]


def toy_splits() -> Splits:
    def part(n, seed):
        texts, labels = make_texts(n, seed)
        return LabeledTexts(tuple(texts), tuple(labels), ("negative", "positive"))

    return Splits(part(20, 1), part(8, 2), part(8, 3))


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory, tiny_model_dir) -> Path:
    """A runs folder in both layouts: CLI runs straight under it, a dashboard session's one folder below;
    plus a failed run and a run without a model, which are not served."""
    root = tmp_path_factory.mktemp("serve") / "runs"
    splits = toy_splits()
    info = {"description": "toy reviews · 40 train / 16 validation / 16 test"}
    bert = train(RunConfig(strategy="full", model=tiny_model_dir, max_length=32, epochs=1, batch_size=16), splits)
    tfidf = train(RunConfig(strategy="tfidf"), splits)
    rated = from_frame(pd.DataFrame(rated_rows(120, seed=3)), text_column="review", label_column="sentiment,score")
    multi = train(RunConfig(strategy="tfidf"), make_splits(rated, n_train=60, n_test=30, n_val=20, seed=0))
    for outcome in (bert, tfidf, multi):
        assert outcome.result.ok, outcome.result.reason
    save_run(root / BERT, bert.result, bert.predictor, info)
    save_run(root / TFIDF, tfidf.result, tfidf.predictor, info)
    save_run(root / "session-1" / MULTI, multi.result, multi.predictor, {"description": "rated reviews"})
    save_run(root / "20250101-000004-full-dddddd", RunResult("full", status="failed", reason="NaN loss"))
    save_run(root / "20250101-000005-tfidf-eeeeee", tfidf.result)  # finished, but no model saved
    return root


def settings_for(root: Path, **changes) -> ServiceSettings:
    return ServiceSettings(runs=root, backend="torch", **changes)


@pytest.fixture(scope="module")
def client(runs_root):
    with TestClient(create_app(settings_for(runs_root))) as test_client:
        yield test_client


def predict(client, model, texts, **kwargs):
    return client.post("/predict", json={"model": model, "texts": texts}, **kwargs)


def assert_same_predictions(got: list[dict], expected: list, tolerance: float = 1e-5) -> None:
    """Same labels; numbers equal up to float32 noise (batches pad differently)."""
    assert len(got) == len(expected)
    for answer, prediction in zip(got, expected):
        want = prediction_dict(prediction)
        assert answer["label"] == want["label"] and set(answer["others"]) == set(want["others"])
        assert answer["probabilities"] == pytest.approx(want["probabilities"], abs=tolerance)
        for key in ("confidence", "value"):
            assert (answer[key] is None) == (want[key] is None)
            assert answer[key] is None or answer[key] == pytest.approx(want[key], abs=tolerance)
        for name in want["others"]:
            assert_same_predictions([answer["others"][name]], [prediction.others[name]], tolerance)


# ---------------------------------------------------------------- endpoints


def test_health_reports_the_queue(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["backend"] == "torch"
    assert body["max_queue"] == 1024 and body["queued_texts"] == 0


def test_models_lists_each_servable_run_in_both_layouts_with_metrics(client, runs_root):
    models = {entry["id"]: entry for entry in client.get("/models").json()["models"]}
    assert set(models) == {BERT, TFIDF, MULTI}  # the failed run and the run without a model are left out
    bert = models[BERT]
    saved = json.loads((runs_root / BERT / "result.json").read_text())
    assert bert["strategy"] == "full" and bert["task"] == "classification"
    assert bert["labels"] == ["negative", "positive"] and bert["max_length"] == 32
    assert bert["targets"][0]["metrics"] == {"accuracy": saved["test_accuracy"], "macro_f1": saved["macro_f1"]}
    assert bert["score"] == saved["test_score"] and bert["data"].startswith("toy reviews")
    multi = models[MULTI]
    assert multi["task"] == "multi-task" and multi["labels"] == ["sentiment", "score"]
    assert [t["kind"] for t in multi["targets"]] == ["classification", "regression"]
    assert set(multi["targets"][1]["metrics"]) == {"r2", "mae", "rmse"}


@pytest.mark.parametrize("run", [BERT, TFIDF])
def test_predict_equals_the_saved_models_own_predictions(client, runs_root, run):
    response = predict(client, run, TEXTS)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == run
    assert_same_predictions(response.json()["predictions"], load_predictor(runs_root / run).predict(TEXTS))


def test_predict_gives_a_value_and_one_entry_per_further_target(client, runs_root):
    texts = ["great superb lovely film acting", "awful dull boring plot music"]
    answers = predict(client, MULTI, texts).json()["predictions"]
    assert_same_predictions(answers, load_predictor(runs_root / "session-1" / MULTI).predict(texts))
    score = answers[0]["others"]["score"]
    assert score["value"] is not None and score["confidence"] is None and score["probabilities"] == {}
    assert answers[0]["label"] in ("neg", "pos") and answers[0]["confidence"] is not None


def test_models_load_on_first_use_into_a_bounded_cache(runs_root):
    with TestClient(create_app(settings_for(runs_root, cache_models=1))) as fresh:
        catalog = fresh.app.state.catalog
        assert fresh.get("/models").status_code == 200 and catalog.loaded == []
        assert predict(fresh, TFIDF, ["fine"]).status_code == 200 and catalog.loaded == [TFIDF]
        assert predict(fresh, BERT, ["fine"]).status_code == 200 and catalog.loaded == [BERT]


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("model", ["20990101-000000-full-ffffff", "../" + BERT, "/etc/passwd", BERT + "/model"])
def test_an_unknown_model_is_404_naming_the_models_there_are(client, model):
    response = predict(client, model, ["fine"])
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail.startswith("Unknown model") and all(run in detail for run in (BERT, TFIDF, MULTI))


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(runs_root):
    with TestClient(create_app(settings_for(runs_root, max_body_bytes=2_000))) as small:
        declared = small.post("/predict", content=b"x" * 2_001, headers={"Content-Type": "application/json"})
        streamed = small.post("/predict", content=(b"x" * 500 for _ in range(5)),  # chunked: no Content-Length
                              headers={"Content-Type": "application/json"})
        fits = predict(small, TFIDF, ["fine"])
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["detail"] == ("The request body is over the limit of 2,000 bytes; "
                                             "send fewer or shorter texts.")
    assert fits.status_code == 200


def test_too_many_texts_is_422_with_the_limit(client):
    response = predict(client, TFIDF, ["fine"] * 65)
    assert response.status_code == 422
    assert response.json()["detail"] == "Too many texts: 65 given, at most 64 per request."


def test_a_text_over_the_character_limit_is_422_with_the_limit(client):
    response = predict(client, TFIDF, ["fine", "x" * 5001])
    assert response.status_code == 422
    assert response.json()["detail"] == "Text 1 has 5,001 characters; at most 5,000 are allowed per text."


@pytest.mark.parametrize("body, message", [
    ({"model": TFIDF, "texts": [1, 2]}, "texts.0: Input should be a valid string (and 1 more problem)."),
    ({"model": TFIDF, "texts": "just one string"}, "texts: Input should be a valid list."),
    ({"model": 7, "texts": ["fine"]}, "model: Input should be a valid string."),
    ({"texts": ["fine"]}, "The body needs the field 'model' (the fields are model and texts)."),
    ({"model": TFIDF, "texts": []}, "texts: List should have at least 1 item after validation, not 0."),
    ({"model": TFIDF, "texts": ["fine"], "temperature": 2}, "Unknown field 'temperature'; the fields are model and texts."),
    ([TFIDF, "fine"], "The body: Input should be a valid dictionary or object to extract fields from."),
])
def test_wrong_types_are_422_in_one_sentence(client, body, message):
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert response.json() == {"detail": message}


def test_malformed_json_is_422(client):
    response = client.post("/predict", content=b'{"model": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"].startswith("The body is not valid JSON")


def test_an_api_key_is_required_when_set(runs_root):
    with TestClient(create_app(settings_for(runs_root, api_key="s3cret-key"))) as guarded:
        assert guarded.get("/health").status_code == 200  # liveness stays open
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-key"}):
            for response in (guarded.get("/models", headers=headers), predict(guarded, TFIDF, ["fine"], headers=headers)):
                assert response.status_code == 401
                assert response.json()["detail"] == ("This service needs an API key: send it as X-API-Key or "
                                                     "Authorization: Bearer.")
                assert response.headers["WWW-Authenticate"] == "Bearer"
        for headers in ({"X-API-Key": "s3cret-key"}, {"Authorization": "Bearer s3cret-key"}):
            assert guarded.get("/models", headers=headers).status_code == 200
            assert predict(guarded, TFIDF, ["fine"], headers=headers).status_code == 200


class BlockedPredictor(Predictor):
    """A stub for the overload test only: answers 50/50, but not before `release` is set."""

    targets = classification_targets(("negative", "positive"))

    def __init__(self, release: threading.Event):
        self.release = release

    def predict_outputs(self, texts) -> np.ndarray:
        self.release.wait(30)
        return np.full((len(texts), 2), 0.5, dtype=np.float32)


def test_a_full_queue_is_503_with_retry_after_and_the_held_work_still_finishes(runs_root):
    release = threading.Event()
    catalog = ModelCatalog(runs_root, 4, loader=lambda folder: BlockedPredictor(release))
    app = create_app(settings_for(runs_root, max_queue=2, max_texts=2), catalog)
    with TestClient(app) as busy, ThreadPoolExecutor(1) as pool:
        held = pool.submit(predict, busy, TFIDF, ["one", "two"])
        deadline = time.monotonic() + 10
        while app.state.batcher.queued < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = predict(busy, TFIDF, ["three"])
        release.set()
        assert held.result(timeout=30).status_code == 200
    assert refused.status_code == 503
    assert refused.headers["Retry-After"].isdigit() and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["detail"] == "The service is busy: 2 texts are waiting (at most 2); retry in 1 s."


# ---------------------------------------------------------------- batching


def test_concurrent_requests_are_merged_into_few_forward_passes(runs_root):
    calls = []

    def counting_loader(folder):
        predictor = load_model(folder, "torch")
        real = predictor.predict_outputs

        def predict_outputs(texts, **kwargs):
            calls.append(len(texts))
            time.sleep(0.05)  # a slower model: concurrent requests pile up meanwhile, as under load
            return real(texts, **kwargs)

        predictor.predict_outputs = predict_outputs
        return predictor

    app = create_app(settings_for(runs_root), ModelCatalog(runs_root, 4, loader=counting_loader))
    texts = [f"review number {i}: {'great' if i % 2 else 'dull'} film" for i in range(20)]
    with TestClient(app) as batched, ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda text: predict(batched, BERT, [text]), texts))
        health = batched.get("/health").json()
    assert all(response.status_code == 200 for response in responses)
    assert sum(calls) == 20 and len(calls) <= 5 and max(calls) >= 10, calls
    assert health["batches"] == len(calls) and health["largest_batch"] == max(calls)
    expected = load_predictor(runs_root / BERT).predict(texts)
    assert_same_predictions([r.json()["predictions"][0] for r in responses], expected)


def test_the_worker_keeps_batches_within_max_batch_and_serves_the_oldest_request_first():
    seen, release = [], threading.Event()

    def run_batch(model, texts):
        release.wait(10)  # the first batch holds the worker while the rest queue up
        seen.append((model, list(texts)))
        return texts

    worker = BatchWorker(run_batch, max_queue=100, max_batch=4, max_wait_s=0.0)
    first = worker.submit("a", ["0"])
    while not first.running():  # taken by the worker
        time.sleep(0.001)
    futures = [worker.submit(model, texts) for model, texts in
               [("a", ["1", "2"]), ("b", ["x"]), ("a", ["3", "4"]), ("a", ["5"])]]
    release.set()
    assert [future.result(timeout=5) for future in [first, *futures]] == [["0"], ["1", "2"], ["x"], ["3", "4"], ["5"]]
    worker.close()
    assert seen == [("a", ["0"]), ("a", ["1", "2", "3", "4"]), ("b", ["x"]), ("a", ["5"])]
    assert worker.queued == 0 and worker.stats.largest == 4


def test_a_request_whose_caller_gave_up_is_dropped_before_it_runs():
    seen, release = [], threading.Event()

    def run_batch(model, texts):
        release.wait(10)
        seen.append(list(texts))
        return texts

    worker = BatchWorker(run_batch, max_queue=10, max_batch=4, max_wait_s=0.0)
    first = worker.submit("a", ["0"])
    while not first.running():
        time.sleep(0.001)
    gone, kept = worker.submit("a", ["1"]), worker.submit("a", ["2"])
    assert gone.cancel()  # what asyncio does to the future when the client disconnects
    release.set()
    assert kept.result(timeout=5) == ["2"]
    worker.close()
    assert seen == [["0"], ["2"]] and worker.queued == 0


# ---------------------------------------------------------------- settings, backend, the real server


def test_settings_refuse_a_public_host_without_a_key_and_impossible_limits():
    with pytest.raises(ConfigError, match="not loopback.*needs an API key"):
        ServiceSettings(host="0.0.0.0")
    assert ServiceSettings(host="0.0.0.0", api_key="k").host == "0.0.0.0"
    for host in ("127.0.0.1", "127.3.4.5", "localhost", "::1"):
        assert ServiceSettings(host=host).api_key is None
    with pytest.raises(ConfigError, match=r"--max-texts \(65\) cannot exceed --max-queue \(64\)"):
        ServiceSettings(max_texts=65, max_queue=64)
    with pytest.raises(ConfigError, match="Unknown backend 'tpu'"):
        ServiceSettings(backend="tpu")


def test_serve_refuses_a_non_loopback_host_without_a_key(runs_root, monkeypatch, capsys):
    monkeypatch.delenv("TL_LAB_API_KEY", raising=False)
    assert main(["serve", "--runs", str(runs_root), "--host", "0.0.0.0"]) == 2
    assert capsys.readouterr().err.strip() == ("error: Serving on 0.0.0.0 (not loopback) needs an API key: "
                                               "pass --api-key or set TL_LAB_API_KEY.")


def test_backend_auto_is_what_core_export_names_and_torch_without_it():
    assert resolve_backend("torch") == "torch"
    try:
        from core import export
        import onnxruntime  # noqa: F401
    except ImportError:
        assert resolve_backend("auto") == "torch"
    else:
        assert resolve_backend("auto") == export.DEFAULT_BACKEND


@pytest.mark.slow
def test_the_onnx_backend_serves_what_the_torch_model_predicts(runs_root, tmp_path):
    """--backend onnx goes through core.export: exported on first use (seconds), then onnxruntime."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    shutil.copytree(runs_root / BERT, tmp_path / "runs" / BERT)  # the export is written into the run folder
    app = create_app(ServiceSettings(runs=tmp_path / "runs", backend="onnx"))
    with TestClient(app) as onnx_client:
        response = predict(onnx_client, BERT, TEXTS)
    assert response.status_code == 200, response.text
    assert type(app.state.catalog.predictor(BERT).inner).__name__ == "OnnxPredictor"
    assert_same_predictions(response.json()["predictions"], load_predictor(runs_root / BERT).predict(TEXTS), 1e-4)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the service did not answer on {url} within {seconds} s")


@pytest.mark.slow  # a subprocess that imports torch and FastAPI: 4 s on an idle machine, 6-9 s under load
def test_the_started_server_answers_the_dashboards_snippets(runs_root):
    """`python -m core serve` on loopback, then the Playground's curl and Python snippets against it."""
    import httpx

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "core", "serve", "--runs", str(runs_root), "--port", str(port),
                                "--backend", "torch"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TL_LAB_API_KEY": ""})
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_health(url, process)
        text = "it's \"not bad\" at all;\n$(touch /tmp/pwned) `id` \\ 🎬"
        expected = load_predictor(runs_root / TFIDF).predict([text])
        posted = httpx.post(url + "/predict", json={"model": TFIDF, "texts": [text]}, timeout=30)
        assert_same_predictions(posted.json()["predictions"], expected)
        snippets = client_snippets(TFIDF, text, runs_root, port=port)
        if shutil.which("curl"):
            curl = subprocess.run(["bash", "-c", snippets["curl"]], capture_output=True, text=True, timeout=30)
            assert_same_predictions(json.loads(curl.stdout)["predictions"], expected)
        python = subprocess.run([sys.executable, "-c", snippets["python"]], capture_output=True, text=True, timeout=60)
        assert_same_predictions([ast.literal_eval(python.stdout.strip())], expected)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    assert process.returncode == 0
    assert not Path("/tmp/pwned").exists()


def test_snippets_name_the_serve_command_and_encode_the_text_as_json():
    snippets = client_snippets("20250101-000001-full-aaaaaa", 'say "hi"', "runs")
    assert snippets["serve"] == "python -m core serve --runs runs"
    assert "-d '{\"model\": \"20250101-000001-full-aaaaaa\", \"texts\": [\"say \\\"hi\\\"\"]}'" in snippets["curl"]
    assert 'payload = {"model": "20250101-000001-full-aaaaaa", "texts": ["say \\"hi\\""]}' in snippets["python"]


# ---------------------------------------------------------------- property-based: schemathesis

SCHEMA_KEY = "schema-test-key"


@pytest.fixture(scope="module")
def api_schema(runs_root):
    import schemathesis

    app = create_app(settings_for(runs_root, max_body_bytes=20_000, api_key=SCHEMA_KEY))
    # A body over the size limit is refused with 413 before it is parsed: a rejection like 422.
    rejections = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": rejections}}})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


def schemathesis_case_test():
    """Every operation with generated valid and invalid inputs, with the API key (schemathesis also
    tries wrong keys): never a 5xx, responses match the schema; each generated /predict body is also
    sent to a real model, so fuzzed texts reach the tokenizer."""
    import schemathesis
    from hypothesis import HealthCheck, settings

    schema = schemathesis.pytest.from_fixture("api_schema")

    @pytest.mark.slow
    @schema.parametrize()
    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
    def test_generated_requests_never_get_a_server_error(case):
        case.call_and_validate(headers={"X-API-Key": SCHEMA_KEY})
        if case.method == "POST" and isinstance(case.body, dict) and "model" in case.body:
            case.body = {**case.body, "model": TFIDF}
            case.call_and_validate(headers={"X-API-Key": SCHEMA_KEY})

    return test_generated_requests_never_get_a_server_error


test_generated_requests_never_get_a_server_error = schemathesis_case_test()


# ---------------------------------------------------------------- the Playground shows how to call it


def test_the_playground_shows_the_serve_command_curl_and_python_for_the_model(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core import store

    monkeypatch.setattr(store, "DEFAULT_RUNS_ROOT", tmp_path / "runs")
    outcome = train(RunConfig(strategy="tfidf"), toy_splits())
    save_run(tmp_path / "runs" / "sessions" / "5e5510999999999999" / TFIDF, outcome.result, outcome.predictor)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["session_id"] = "5e5510999999999999"
    at.run()
    at.switch_page("pages/playground.py").run()
    at.text_area(key="play_text").set_value('say "hi" <b>now</b>').run()
    assert not at.exception, at.exception
    expected = client_snippets(TFIDF, 'say "hi" <b>now</b>', tmp_path / "runs" / "sessions" / "5e5510999999999999")
    assert [code.value for code in at.code] == [expected["serve"], expected["curl"], expected["python"]]
    assert [code.language for code in at.code] == ["bash", "bash", "python"]
    assert '"texts": ["say \\"hi\\" <b>now</b>"]' in at.code[1].value
