"""Which parameters train under each strategy, epoch by epoch (tiny random BERT)."""

from __future__ import annotations

import pytest

from core.config import RunConfig
from core.models import TextClassifier, encoder_layers, load_encoder
from core.strategies import STRATEGIES, gradual_unfreeze, layer_groups
from core.training import train


@pytest.fixture
def model(tiny_model_dir):
    bundle = load_encoder(tiny_model_dir)
    return TextClassifier(bundle.encoder, bundle.pooling, 2)


def trainable_modules(model):
    """Names of the head / layer.N / embeddings groups that have any trainable parameter."""
    names = {"head": model.head, "embeddings": model.encoder.embeddings}
    names.update({f"layer.{i}": layer for i, layer in enumerate(encoder_layers(model.encoder))})
    return {name for name, module in names.items() if any(p.requires_grad for p in module.parameters())}


def prepare(model, strategy, **overrides):
    config = RunConfig(strategy=strategy, **overrides)
    return STRATEGIES[strategy].prepare(model, config), config


def test_full_and_scratch_train_everything(model):
    for strategy in ("full", "scratch"):
        groups, _ = prepare(model, strategy)
        assert trainable_modules(model) == {"head", "embeddings", "layer.0", "layer.1"}
        assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_weight_decay_skips_bias_and_layernorm(model):
    groups, _ = prepare(model, "full")
    no_decay = [g for g in groups if g["weight_decay"] == 0.0][0]["params"]
    named = {id(p): n for n, p in model.named_parameters()}
    assert all(n.endswith("bias") or "LayerNorm" in n for n in (named[id(p)] for p in no_decay))
    assert any("LayerNorm" in named[id(p)] for p in no_decay)


def test_frozen_trains_head_only(model):
    prepare(model, "frozen")
    assert trainable_modules(model) == {"head"}


def test_top_k_trains_top_layers_and_head(model):
    prepare(model, "top_k", top_k=1)
    assert trainable_modules(model) == {"head", "layer.1"}


def test_discriminative_rates_shrink_by_factor_per_layer(model):
    groups, config = prepare(model, "discriminative", lr_finetune=1e-3, lr_decay=2.0)
    rates = sorted({g["lr"] for g in groups}, reverse=True)
    # head, layer.1, layer.0, embeddings: 1e-3, 5e-4, 2.5e-4, 1.25e-4
    assert rates == pytest.approx([1e-3, 5e-4, 2.5e-4, 1.25e-4])


def test_gradual_unfreezing_schedule_epoch_by_epoch(model):
    prepare(model, "gradual")
    expected = {1: {"head"}, 2: {"head", "layer.1"}, 3: {"head", "layer.1", "layer.0"},
                4: {"head", "layer.1", "layer.0", "embeddings"}, 5: {"head", "layer.1", "layer.0", "embeddings"}}
    assert trainable_modules(model) == expected[1]  # prepare leaves epoch 1's state
    for epoch, modules in expected.items():
        gradual_unfreeze(model, epoch, None)
        assert trainable_modules(model) == modules, epoch
    assert len(layer_groups(model)) == 4


def test_head_then_full(model):
    prepare(model, "head_then_full")
    assert trainable_modules(model) == {"head"}
    STRATEGIES["head_then_full"].on_epoch_start(model, 2, None)
    assert trainable_modules(model) == {"head", "embeddings", "layer.0", "layer.1"}


@pytest.mark.parametrize("strategy", ["gradual", "discriminative", "top_k", "head_then_full"])
def test_advanced_strategies_run_end_to_end(tiny_model_dir, tiny_splits, strategy):
    config = RunConfig(strategy=strategy, model=tiny_model_dir, epochs=2, max_length=32, batch_size=8, top_k=1)
    result = train(config, tiny_splits).result
    assert result.status == "finished", result.reason
    assert 0 < result.trainable_params <= result.total_params


def test_gradual_counts_only_parameters_that_trained(tiny_model_dir, tiny_splits):
    two = train(RunConfig(strategy="gradual", model=tiny_model_dir, epochs=2, max_length=32), tiny_splits).result
    full = train(RunConfig(strategy="full", model=tiny_model_dir, epochs=1, max_length=32), tiny_splits).result
    assert two.trainable_params < full.trainable_params
