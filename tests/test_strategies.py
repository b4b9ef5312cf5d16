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
    no_decay = [p for g in groups if g["weight_decay"] == 0.0 for p in g["params"]]
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
    groups, config = prepare(model, "discriminative", lr_finetune=1e-3, lr_head_finetune=1e-2, lr_decay=2.0)
    rate_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    # the new head at the head rate; layer.1 (top), layer.0, embeddings: 1e-3, 5e-4, 2.5e-4
    expected = {"head.": 1e-2, "encoder.encoder.layer.1.": 1e-3, "encoder.encoder.layer.0.": 5e-4,
                "encoder.embeddings.": 2.5e-4}
    checked = 0
    for name, param in model.named_parameters():
        prefix = next((p for p in expected if name.startswith(p)), None)
        if prefix is not None:  # (BERT's unused pooler is in no group)
            assert rate_of[id(param)] == pytest.approx(expected[prefix]), name
            checked += 1
    assert checked == len(rate_of)


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


def test_lora_trains_adapters_and_head_then_merges(tiny_model_dir, tiny_splits, tmp_path):
    import numpy as np

    from core.predict import load_predictor
    from core.store import save_run

    config = RunConfig(strategy="lora", model=tiny_model_dir, epochs=1, max_length=32, lora_r=4)
    outcome = train(config, tiny_splits)
    result = outcome.result
    assert result.status == "finished", result.reason
    # 2 layers x (query, value) x (A: r x 32 + B: 32 x r) + head (32 x 2 + 2)
    assert result.trainable_params == 2 * 2 * (4 * 32 + 32 * 4) + 66
    assert result.trainable_params < result.total_params / 10
    assert not any("lora" in n for n, _ in outcome.predictor.model.named_parameters())  # merged
    save_run(tmp_path / "run", result, outcome.predictor)
    texts = list(tiny_splits.test.texts)
    np.testing.assert_allclose(outcome.predictor.predict_proba(texts),
                               load_predictor(tmp_path / "run").predict_proba(texts), atol=1e-5)


def test_lora_with_wrong_targets_fails_clearly(tiny_model_dir, tiny_splits):
    config = RunConfig(strategy="lora", model=tiny_model_dir, epochs=1, max_length=32, lora_targets="q_proj")
    result = train(config, tiny_splits).result
    assert result.status == "failed" and "LoRA target modules" in result.reason


def test_domain_adapt_changes_encoder_before_fine_tuning(tiny_model_dir, tiny_splits, model):
    import torch

    from core.mlm import continue_pretraining

    before = {n: p.detach().clone() for n, p in model.encoder.named_parameters()}
    config = RunConfig(strategy="domain_adapt", model=tiny_model_dir, mlm_steps=3, max_length=32, batch_size=8)
    assert continue_pretraining(model, model_tokenizer(tiny_model_dir), tiny_splits.train.texts, config) == 3
    changed = [n for n, p in model.encoder.named_parameters() if not torch.equal(before[n], p)]
    assert any("layer.0" in n for n in changed) and any("word_embeddings" in n for n in changed)
    result = train(config.replace(epochs=1), tiny_splits).result
    assert result.status == "finished", result.reason


def test_mask_tokens_masks_only_real_tokens():
    import torch

    from core.mlm import mask_tokens
    from core.models import load_tokenizer

    tokenizer = load_tokenizer()
    ids = torch.tensor([tokenizer("a fine film indeed, truly a fine film")["input_ids"]] * 50)
    mask = torch.ones_like(ids)
    masked, labels = mask_tokens(ids, mask, tokenizer, torch.Generator().manual_seed(0))
    chosen = labels != -100
    assert 0.05 < chosen.float().mean() < 0.3
    assert not chosen[:, 0].any() and not chosen[:, -1].any()  # [CLS] and [SEP] never predicted
    assert (masked[chosen] == tokenizer.mask_token_id).float().mean() > 0.6


def model_tokenizer(model_dir):
    from core.models import load_tokenizer

    return load_tokenizer(model_dir)


def test_registry_entries_read_real_settings_and_set_only_hooks_their_trainer_calls():
    import dataclasses

    from core.training import KINDS, kind_of

    fields = {field.name for field in dataclasses.fields(RunConfig)}
    for strategy in STRATEGIES.values():
        assert strategy.kind in KINDS
        assert strategy.lr_field is None or strategy.lr_field in fields, strategy.id
        assert set(strategy.settings) <= fields, strategy.id
        assert kind_of(strategy) is KINDS[strategy.kind]
    assert [s.id for s in STRATEGIES.values() if s.lr_field is None] == ["tfidf"]
    frozen_with_an_epoch_hook = dataclasses.replace(STRATEGIES["frozen"], on_epoch_start=lambda *args: None)
    with pytest.raises(ValueError, match="sets on_epoch_start, which 'features' training never calls"):
        kind_of(frozen_with_an_epoch_hook)


def test_the_form_shows_what_each_chosen_strategy_reads_first(tiny_splits):
    from streamlit.testing.v1 import AppTest

    def main_fields(strategies):
        def page(strategies):
            from ui.hyperparams import hyperparameter_inputs

            hyperparameter_inputs(strategies)

        at = AppTest.from_function(page, args=(strategies,)).run()
        outside = [w.key for w in at.main if getattr(w, "key", None)]
        in_expander = {w.key for w in at.expander[0] if getattr(w, "key", None)}
        return [key for key in outside if key not in in_expander]

    assert "hp_top_k" in main_fields(["top_k"]) and "hp_top_k" not in main_fields(["full"])
    assert {"hp_lora_r", "hp_lr_lora"} <= set(main_fields(["lora"]))
    assert "hp_lr_head" not in main_fields(["tfidf"])
