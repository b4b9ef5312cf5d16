"""Training loop, strategies, evaluation and save/load on a tiny random BERT (seconds)."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch

from core import events as ev
from core import features, tasks, trainers
from core.config import RunConfig
from core.errors import ConfigError, ModelLoadError
from core.predict import load_predictor
from core.store import save_run
from core.loop import warmup_then_linear_decay
from core.mistakes import prediction_table
from core.estimate import LOAD_SECONDS
from core.models import TextClassifier, load_encoder
from core.training import estimate_run_seconds, estimate_shared_seconds, train


def config_for(model_dir, strategy, **overrides):
    base = dict(strategy=strategy, model=model_dir, max_length=32, batch_size=8, epochs=2,
                lr_finetune=1e-3, lr_scratch=1e-3, lr_head=1e-2, patience=0)
    base.update(overrides)
    return RunConfig(**base)


@pytest.mark.parametrize("strategy", ["full", "frozen", "scratch", "tfidf"])
def test_each_strategy_trains_and_reports(tiny_model_dir, tiny_splits, strategy):
    seen = []
    outcome = train(config_for(tiny_model_dir, strategy), tiny_splits, seen.append)
    result = outcome.result
    assert result.status == "finished", result.reason
    assert 0.0 <= result.test_accuracy <= 1.0
    assert np.asarray(result.confusion_matrix).sum() == len(tiny_splits.test)
    assert result.labels == ["negative", "positive"]
    assert [h["epoch"] for h in result.history] == ([1] if strategy == "tfidf" else [1, 2])
    assert isinstance(seen[-1], ev.RunFinished)
    assert any(isinstance(e, ev.EpochEvaluated) for e in seen)
    assert 0 < result.trainable_params <= result.total_params


def test_parameter_counts_follow_strategy(tiny_model_dir, tiny_splits):
    full = train(config_for(tiny_model_dir, "full", epochs=1), tiny_splits).result
    frozen = train(config_for(tiny_model_dir, "frozen", epochs=1), tiny_splits).result
    assert full.trainable_params == full.total_params
    assert frozen.total_params == full.total_params
    assert frozen.trainable_params == 32 * 2 + 2  # hidden x classes + bias: the head only


def test_frozen_encoder_weights_do_not_change(tiny_model_dir, tiny_splits):
    outcome = train(config_for(tiny_model_dir, "frozen"), tiny_splits)
    from transformers import AutoModel

    original = AutoModel.from_pretrained(tiny_model_dir)
    trained = outcome.predictor.model.encoder
    for (name, before), after in zip(original.state_dict().items(), trained.state_dict().values()):
        assert torch.equal(before, after), name


def test_a_frozen_run_predicts_held_out_texts_from_vectors_another_run_encoded(tiny_model_dir, tiny_splits,
                                                                               monkeypatch):
    features.clear_memory_cache()
    encoded = []
    compute = features.compute_features
    monkeypatch.setattr(features, "compute_features", lambda *a, **k: encoded.append(len(a[2])) or compute(*a, **k))
    first = train(config_for(tiny_model_dir, "frozen", epochs=1), tiny_splits)
    n = (len(tiny_splits.train), len(tiny_splits.val), len(tiny_splits.test))
    assert encoded == list(n)  # train and validation for the head, then the held-out texts at full precision
    second = train(config_for(tiny_model_dir, "frozen", epochs=1, seed=7), tiny_splits)  # another student
    assert encoded == list(n)  # nothing encoded again
    texts = tiny_splits.test.texts
    y = tasks.target_matrix(tiny_splits.test).numpy()
    for outcome in (first, second):  # the numbers shown are what the saved model predicts, to the bit
        predictor = outcome.predictor
        table = prediction_table(texts, y, predictor.predict_outputs(texts), predictor.targets)
        assert outcome.predictions.equals(table)
    # its prediction time: the encoder's, measured when the vectors were computed, plus its own head's
    encoder_seconds = features.cached_features(first.predictor.model, first.predictor.tokenizer, texts,
                                               model_id=tiny_model_dir, max_length=32, precision="fp32")[2]
    assert encoder_seconds <= second.result.predict_seconds < encoder_seconds + 1.0
    features.clear_memory_cache()


def test_vectors_cached_without_their_timing_are_timed_by_predicting_again(tiny_model_dir, tiny_splits,
                                                                            monkeypatch):
    cached = trainers.cached_features
    monkeypatch.setattr(trainers, "cached_features", lambda *a, **k: (*cached(*a, **k)[:2], float("nan")))
    outcome = train(config_for(tiny_model_dir, "frozen", epochs=1), tiny_splits)  # as from an older disk cache
    assert outcome.result.status == "finished" and 0 < outcome.result.predict_seconds < 60
    features.clear_memory_cache()


def test_the_scheduler_is_told_which_encoder_passes_a_frozen_run_shares(tiny_model_dir, tiny_splits):
    features.clear_memory_cache()
    config = config_for(tiny_model_dir, "frozen", epochs=1)
    parts = estimate_shared_seconds(config, tiny_splits)
    assert len(parts) == 3 and all(seconds > 0 for seconds in parts.values())  # train, validation, test
    assert estimate_run_seconds(config, tiny_splits) == pytest.approx(LOAD_SECONDS + sum(parts.values()))
    train(config, tiny_splits)
    assert set(parts) <= set(features._MEMORY)  # the keys it was told are those the run's vectors are kept by
    assert estimate_shared_seconds(config_for(tiny_model_dir, "full"), tiny_splits) == {}
    features.clear_memory_cache()


def test_two_runs_encoding_the_same_texts_at_once_share_one_encoder_pass(tiny_model_dir, tiny_splits, monkeypatch):
    features.clear_memory_cache()
    calls, release = [], threading.Event()
    compute = features.compute_features

    def slow_compute(*args, **kwargs):
        calls.append(1)
        release.wait(10)  # still encoding when the second run asks
        return compute(*args, **kwargs)

    monkeypatch.setattr(features, "compute_features", slow_compute)
    bundle = load_encoder(tiny_model_dir)
    classifier = TextClassifier(bundle.encoder, bundle.pooling, 2)
    texts = tiny_splits.test.texts
    out = []
    ask = lambda: out.append(features.cached_features(classifier, bundle.tokenizer, texts, model_id="m",  # noqa: E731
                                                      max_length=32))
    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1 and len(out) == 2
    assert torch.equal(out[0][0], out[1][0]) and sorted(hit for _, hit, _ in out) == [False, True]
    features.clear_memory_cache()


def test_token_counts_are_remembered_for_the_same_texts(tiny_model_dir, tiny_splits, monkeypatch):
    from core import estimate

    calls = []
    tokenize = estimate.tokenize
    monkeypatch.setattr(estimate, "tokenize", lambda *args: calls.append(1) or tokenize(*args))
    texts = [f"{text} (counted in this test)" for text in tiny_splits.test.texts]
    first = estimate.count_tokens(tiny_model_dir, texts, 32)
    assert first > len(texts)
    assert estimate.count_tokens(tiny_model_dir, list(texts), 32) == first and len(calls) == 1  # remembered
    assert estimate.count_tokens(tiny_model_dir, texts, 8) < first and len(calls) == 2  # another length: counted


def test_full_finetune_learns_toy_task(tiny_model_dir, tiny_splits):
    # The tiny encoder is random (seeded), so "full" here is close to learning from scratch.
    config = config_for(tiny_model_dir, "full", epochs=6, lr_finetune=3e-3, lr_head_finetune=1e-2)
    result = train(config, tiny_splits).result
    assert result.history[-1]["train_loss"] < 0.8 * result.history[0]["train_loss"]
    assert result.test_accuracy >= 0.7  # chance is 0.5


def test_same_seed_same_result(tiny_model_dir, tiny_splits):
    a = train(config_for(tiny_model_dir, "full", epochs=1), tiny_splits).result
    b = train(config_for(tiny_model_dir, "full", epochs=1), tiny_splits).result
    assert a.history[0]["train_loss"] == pytest.approx(b.history[0]["train_loss"], abs=1e-6)
    assert a.confusion_matrix == b.confusion_matrix


@pytest.mark.parametrize("strategy", ["full", "frozen", "tfidf"])
def test_saved_run_reloads_with_same_probabilities(tiny_model_dir, tiny_splits, tmp_path, strategy):
    outcome = train(config_for(tiny_model_dir, strategy, epochs=1), tiny_splits)
    before = outcome.predictor.predict_proba(tiny_splits.test.texts)
    save_run(tmp_path / "run", outcome.result, outcome.predictor)
    assert not list((tmp_path / "run").rglob("*.bin")) and not list((tmp_path / "run").rglob("*.pkl"))
    after = load_predictor(tmp_path / "run").predict_proba(tiny_splits.test.texts)
    np.testing.assert_allclose(before, after, atol=1e-6)


def test_run_folder_without_weights_is_refused(tiny_model_dir, tiny_splits, tmp_path):
    outcome = train(config_for(tiny_model_dir, "full", epochs=1), tiny_splits)
    save_run(tmp_path / "run", outcome.result, outcome.predictor)
    (tmp_path / "run" / "model" / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="model.safetensors"):
        load_predictor(tmp_path / "run")
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_predictor(tmp_path / "nowhere")


def test_cancel_stops_within_a_batch(tiny_model_dir, tiny_splits):
    stop = threading.Event()
    steps = []

    def on_event(event):
        if isinstance(event, ev.StepLogged):
            steps.append(event)
            stop.set()

    outcome = train(config_for(tiny_model_dir, "full", epochs=3), tiny_splits, on_event, stop)
    assert outcome.result.status == "cancelled"
    assert len(steps) == 1
    assert outcome.predictor is None


def test_nan_loss_fails_with_reason(tiny_model_dir, tiny_splits, monkeypatch):
    import core.training as training

    monkeypatch.setattr(training.tasks, "loss", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    result = train(config_for(tiny_model_dir, "full", epochs=1), tiny_splits).result
    assert result.status == "failed"
    assert "loss became nan" in result.reason and "lower the learning rate" in result.reason


def test_max_length_above_model_limit_fails_clearly(tiny_model_dir, tiny_splits):
    result = train(config_for(tiny_model_dir, "full", max_length=4096), tiny_splits).result
    assert result.status == "failed"
    assert "above what" in result.reason and "128 tokens" in result.reason


def test_unknown_model_offline_fails_in_one_sentence(tiny_splits):
    result = train(RunConfig(strategy="full", model="no-such-org/no-such-model", epochs=1), tiny_splits).result
    assert result.status == "failed"
    assert "cannot be reached" in result.reason


@pytest.mark.parametrize("changes, message", [
    ({"strategy": "magic"}, "Unknown strategy 'magic'"),
    ({"lr_finetune": 0.0}, "must be above 0"),
    ({"lr_scratch": -1e-3}, "must be above 0"),
    ({"lr_head": 50.0}, "at most 1"),
    ({"batch_size": 0}, "batch_size"),
    ({"epochs": 10_000}, "epochs"),
    ({"dropout": 1.0}, "Dropout"),
    ({"max_length": 2}, "max_length"),
])
def test_absurd_hyperparameters_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**changes)


def test_warmup_then_linear_decay_schedule():
    factor = warmup_then_linear_decay(total_steps=10, warmup_steps=2)
    values = [factor(s) for s in range(11)]
    assert values[0] < values[1] < values[2] == 1.0
    assert values[10] == 0.0
    assert all(a >= b for a, b in zip(values[2:], values[3:]))


def test_early_stopping_restores_the_best_epochs_weights(monkeypatch):
    from torch import nn

    from core import loop, tasks
    from core.trainers import FeatureBatches

    # Validation scores are scripted (epoch 2 is best, then two worse epochs end the run with
    # patience 2); the weights after each epoch are recorded as the loop reports the epoch.
    scores = iter([0.5, 0.9, 0.6, 0.55, 0.99])
    monkeypatch.setattr(loop, "evaluate_batches", lambda model, batches, targets: (0.1, next(scores)))
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 2)

        def forward(self, features):  # (batch, 4) -> (batch, 2)
            return self.linear(features)

    torch.manual_seed(0)
    model = Head()
    head = model.linear
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32, 1)).float()
    batches = FeatureBatches(x, y, x, y, batch_size=8, device=torch.device("cpu"), seed=0)
    weights_after = {}

    def record(event):
        if isinstance(event, ev.EpochEvaluated):
            weights_after[event.epoch] = head.weight.detach().clone()

    config = RunConfig(strategy="frozen", epochs=5, patience=2, lr_head=0.5)
    fitted = loop.fit(model, [{"params": list(head.parameters()), "lr": 0.5}], batches,
                      tasks.classification_targets(("a", "b")), config, record, None, torch.device("cpu"))
    assert [h["epoch"] for h in fitted.history] == [1, 2, 3, 4] and fitted.best_epoch == 2
    assert not torch.equal(weights_after[2], weights_after[4])  # training moved the weights after epoch 2
    assert torch.equal(head.weight, weights_after[2])


def test_three_class_task_end_to_end(tiny_model_dir, tmp_path):
    from core.cli import main
    from core.sources import load_file

    rows = ["text,label"]
    words = {"negative": "awful dull boring", "neutral": "okay average fine", "positive": "great superb lovely"}
    for i in range(30):
        for label, text in words.items():
            rows.append(f'"{text.split()[i % 3]} film number {i}",{label}')
    path = tmp_path / "three.csv"
    path.write_text("\n".join(rows), encoding="utf-8")
    assert load_file(path).label_names == ("negative", "neutral", "positive")
    out = tmp_path / "out"
    assert main(["compare", "--data", str(path), "--n-train", "45", "--n-test", "21", "--strategies", "full,tfidf",
                 "--epochs", "2", "--model", tiny_model_dir, "--max-length", "16", "--out", str(out)]) == 0
    import json

    runs = json.loads((out / "results.json").read_text())["runs"]
    for run in runs:
        assert run["status"] == "finished"
        assert len(run["confusion_matrix"]) == 3 and len(run["per_class"]) == 3
        assert sum(map(sum, run["confusion_matrix"])) == 21


@pytest.fixture
def fresh_cpu_check(monkeypatch):
    """cpu_has_bf16 without the tests' TL_LAB_FP32 pin and with its cache cleared before and after."""
    from core import precision

    monkeypatch.delenv("TL_LAB_FP32", raising=False)
    precision.cpu_has_bf16.cache_clear()
    yield precision
    precision.cpu_has_bf16.cache_clear()


@pytest.mark.parametrize("flags, pinned, expected", [
    ("fpu avx2 avx512f avx512_bf16 amx_tile", None, torch.bfloat16),
    ("fpu avx2 amx_bf16", None, torch.bfloat16),
    ("fpu avx2 avx512f", None, torch.float32),  # bf16 emulated in software would be slower
    ("fpu avx2 amx_bf16", "1", torch.float32),  # TL_LAB_FP32=1 turns it off
])
def test_auto_precision_is_bf16_only_on_cpus_that_do_it_natively(fresh_cpu_check, monkeypatch, flags, pinned,
                                                                 expected):
    monkeypatch.setattr(fresh_cpu_check, "cpu_flags", lambda: flags)
    if pinned:
        monkeypatch.setenv("TL_LAB_FP32", pinned)
    assert fresh_cpu_check.compute_dtype(torch.device("cpu"), "auto") == expected


@pytest.mark.parametrize("bf16_supported, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_auto_precision_on_a_gpu_is_bf16_or_else_fp16(fresh_cpu_check, monkeypatch, bf16_supported, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16_supported)
    assert fresh_cpu_check.compute_dtype(torch.device("cuda"), "auto") == expected


def test_precision_choices_give_the_autocast_they_name():
    import torch

    from core.errors import ConfigError
    from core.precision import autocast_for

    cpu = torch.device("cpu")
    amp, scaler = autocast_for(cpu, "fp32")
    with amp():
        assert not torch.is_autocast_enabled("cpu")
    amp, scaler = autocast_for(cpu, "bf16")
    with amp():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert scaler is None
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        autocast_for(cpu, "fp16")
    with pytest.raises(ConfigError, match="Unknown precision 'fp8'"):
        RunConfig(precision="fp8")


def test_bf16_training_keeps_fp32_weights_and_learns(tiny_model_dir, tiny_splits):
    config = config_for(tiny_model_dir, "full", epochs=6, lr_finetune=3e-3, lr_head_finetune=1e-2).replace(
        precision="bf16")
    outcome = train(config, tiny_splits)
    result = outcome.result
    assert result.status == "finished", result.reason
    assert all(p.dtype == torch.float32 for p in outcome.predictor.model.parameters())
    assert result.history[-1]["train_loss"] < 0.8 * result.history[0]["train_loss"]
    assert result.test_accuracy >= 0.7


def test_time_estimate_is_measured_and_orders_the_strategies(tiny_model_dir, tiny_splits):
    from core import estimate

    costs = estimate.measure_token_costs(tiny_model_dir)
    assert 0 < costs.feature_seconds_per_token and 0 < costs.infer_seconds_per_token < costs.train_seconds_per_token
    seconds = {s: estimate_run_seconds(RunConfig(strategy=s, model=tiny_model_dir, max_length=16), tiny_splits)
               for s in ("full", "frozen", "tfidf")}
    assert seconds["full"] > seconds["frozen"] > 0 and seconds["tfidf"] > estimate.TFIDF_SECONDS
    checkpointed = estimate_run_seconds(RunConfig(model=tiny_model_dir, max_length=16, gradient_checkpointing=True),
                                        tiny_splits)
    assert checkpointed > seconds["full"]  # every training step runs the forward pass twice


def _runs_out_of_memory_above(batch_size: int, error: BaseException, monkeypatch) -> list[int]:
    """Make `full` training raise `error` at batch sizes above `batch_size`; returns the sizes tried."""
    from core import training

    real = training.KINDS["encoder"]
    tried = []

    def train_or_run_out(strategy, config, splits, emit, stop):
        tried.append(config.batch_size)
        if config.batch_size > batch_size:
            emit(ev.RunStarted(config.strategy, config.epochs, 10))
            raise error
        return real.train(strategy, config, splits, emit, stop)

    monkeypatch.setitem(training.KINDS, "encoder", dataclasses.replace(real, train=train_or_run_out))
    return tried


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                   RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate"),
                                   MemoryError()])
def test_out_of_memory_retries_with_a_smaller_batch_and_the_same_effective_batch(tiny_model_dir, tiny_splits,
                                                                                 monkeypatch, error):
    tried = _runs_out_of_memory_above(4, error, monkeypatch)
    result = train(config_for(tiny_model_dir, "full", batch_size=16, epochs=1), tiny_splits).result
    assert tried == [16, 8, 4] and result.status == "finished"
    assert result.config["batch_size"] == 4 and result.config["grad_accum_steps"] == 4  # 16 texts per update
    assert result.reason == ("Out of memory at batch size 16: trained with batch size 4 and 4 accumulation steps "
                             "(the same effective batch).")


def test_out_of_memory_at_batch_size_one_stops_with_a_sentence_and_the_next_run_starts(tiny_model_dir, tiny_splits,
                                                                                       monkeypatch):
    from core.compare import run_queue

    _runs_out_of_memory_above(0, torch.OutOfMemoryError("CUDA out of memory"), monkeypatch)
    results = run_queue([config_for(tiny_model_dir, "full", batch_size=2), config_for(tiny_model_dir, "tfidf")],
                        tiny_splits, None)
    assert [r.status for r in results] == ["failed", "finished"]
    assert results[0].reason == ("Out of memory even with batch size 1 at max length 32; lower the max length or "
                                 "turn on gradient checkpointing.")


def test_an_error_that_is_not_about_memory_is_not_retried(tiny_model_dir, tiny_splits, monkeypatch):
    tried = _runs_out_of_memory_above(0, RuntimeError("shape mismatch"), monkeypatch)
    result = train(config_for(tiny_model_dir, "full", batch_size=8), tiny_splits).result
    assert tried == [8] and result.status == "failed" and result.reason == "RuntimeError: shape mismatch"


def test_the_tfidf_estimate_grows_with_the_text_it_reads():
    """Measured here: 0.28 s for Rotten Tomatoes 1,000, 6.1 s for IMDb 4,000 (core.estimate)."""
    from core.sources import load_bundled
    from core.splits import make_splits

    short = estimate_run_seconds(RunConfig(strategy="tfidf"),
                                 make_splits(load_bundled("rotten_tomatoes"), n_train=1000, n_test=500, seed=0))
    long = estimate_run_seconds(RunConfig(strategy="tfidf"),
                                make_splits(load_bundled("imdb"), n_train=4000, n_test=500, seed=0))
    assert 0.15 < short < 0.6 and 4.0 < long < 9.0

