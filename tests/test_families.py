"""Every strategy on every encoder family: tiny random BERT, DistilBERT, RoBERTa, ALBERT, ELECTRA and
DeBERTa-v2 models built from their configs (no hub), saved like real checkpoints with the bundled
WordPiece tokenizer. Layer discovery, LoRA targets, the masked-LM head and gradient checkpointing
must follow each family; ALBERT, whose depths share one layer's weights, refuses the per-layer strategies."""

from __future__ import annotations

import json

import pytest
import torch

from core.config import RunConfig
from core.errors import ConfigError
from core.models import TextClassifier, encoder_layers, load_encoder, lora_target_modules
from core.strategies import STRATEGIES, gradual_unfreeze, layer_groups
from core.training import train

MAX_LENGTH = 130  # the longest input every tiny model takes
SIZE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
# family -> (transformers config class, its own settings); each mirrors its released checkpoints'
# shape: ELECTRA and ALBERT embed narrower than their hidden size, DeBERTa-v2 (v3 checkpoints) uses
# relative positions only, RoBERTa counts positions after the padding id.
FAMILIES = {
    "bert": ("BertConfig", {**SIZE, "max_position_embeddings": MAX_LENGTH}),
    "distilbert": ("DistilBertConfig", {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64,
                                        "max_position_embeddings": MAX_LENGTH}),
    "roberta": ("RobertaConfig", {**SIZE, "max_position_embeddings": MAX_LENGTH + 2}),
    "albert": ("AlbertConfig", {**SIZE, "embedding_size": 16, "max_position_embeddings": MAX_LENGTH}),
    "electra": ("ElectraConfig", {**SIZE, "embedding_size": 16, "max_position_embeddings": MAX_LENGTH}),
    "deberta-v2": ("DebertaV2Config", {**SIZE, "max_position_embeddings": MAX_LENGTH, "relative_attention": True,
                                       "pos_att_type": ["p2c", "c2p"], "position_biased_input": False,
                                       "norm_rel_ebd": "layer_norm", "position_buckets": 16}),
}
NEURAL = [s for s in STRATEGIES if s != "tfidf"]
# Where a strategy cannot apply, the reason it gives; every other family x strategy pair finishes.
REFUSALS = {
    ("albert", "gradual"): "ALBERT shares one set of layer weights across its depth, so gradual has no separate "
                           "layers to unfreeze one at a time; use head_then_full.",
    ("albert", "discriminative"): "ALBERT shares one set of layer weights across its depth, so discriminative has "
                                  "no separate layers to give their own learning rates; use full.",
    ("albert", "top_k"): "ALBERT shares one set of layer weights across its depth, so top_k has no separate top "
                         "layers to train alone; use full or lora.",
}


def family_config(family: str, vocab_size: int, pad_id: int):
    """The tiny config of one family, sized to the bundled tokenizer."""
    import transformers

    class_name, settings = FAMILIES[family]
    return getattr(transformers, class_name)(vocab_size=vocab_size, pad_token_id=pad_id, **settings)


@pytest.fixture(scope="session")
def family_dirs(tmp_path_factory) -> dict[str, str]:
    """family -> a folder holding its tiny random model (safetensors) and the bundled tokenizer."""
    from transformers import AutoModel, AutoTokenizer

    from core.models import bundled_model_path

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    assert tokenizer.pad_token_id is not None and tokenizer.mask_token_id is not None
    folders = {}
    for family in FAMILIES:
        folder = tmp_path_factory.mktemp(f"tiny-{family}")
        torch.manual_seed(0)
        model = AutoModel.from_config(family_config(family, len(tokenizer), tokenizer.pad_token_id))
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        folders[family] = str(folder)
    return folders


def classifier(folder: str, pooling: str = "auto") -> TextClassifier:
    """A two-class classifier on the encoder saved in `folder`."""
    bundle = load_encoder(folder, pooling=pooling)
    return TextClassifier(bundle.encoder, bundle.pooling, 2)


def matrix():
    """Every family x strategy pair; the refusals run in the fast suite, the rest (covered there by
    the per-family tests of layers, LoRA and the masked-LM head below) are marked slow."""
    for family in FAMILIES:
        for strategy in NEURAL:
            marks = () if (family, strategy) in REFUSALS else (pytest.mark.slow,)
            yield pytest.param(family, strategy, marks=marks, id=f"{family}-{strategy}")


@pytest.mark.parametrize("family, strategy", list(matrix()))
def test_every_strategy_trains_or_refuses_on_every_family(family_dirs, tiny_splits, family, strategy):
    config = RunConfig(strategy=strategy, model=family_dirs[family], epochs=2, max_length=32, batch_size=8,
                       top_k=1, mlm_steps=2)
    result = train(config, tiny_splits).result
    if (family, strategy) in REFUSALS:
        assert (result.status, result.reason) == ("failed", REFUSALS[family, strategy])
    else:
        assert result.status == "finished", result.reason
        assert 0 < result.trainable_params <= result.total_params


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_takes_its_longest_input(family_dirs, family):
    bundle = load_encoder(family_dirs[family])
    assert bundle.max_positions == MAX_LENGTH  # RoBERTa: two positions fewer than its table
    ids = torch.full((1, MAX_LENGTH), 1000)
    out = bundle.encoder(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert out.last_hidden_state.shape == (1, MAX_LENGTH, 32)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "albert"])
def test_layer_stages_cover_every_encoder_weight_once(family_dirs, family):
    """Gradual unfreezing and layer-wise rates reach ELECTRA's embedding projection and DeBERTa's
    relative positions too: head, 2 blocks and the input stage hold every weight but the unused pooler."""
    model = classifier(family_dirs[family])
    stages = layer_groups(model)
    assert len(stages) == 4 and len(encoder_layers(model.encoder)) == 2
    staged = [id(p) for stage in stages for p in stage.parameters()]
    assert len(staged) == len(set(staged))
    pooler = getattr(model.encoder, "pooler", None)
    unused = {id(p) for p in pooler.parameters()} if pooler is not None else set()
    assert set(staged) == {id(p) for p in model.parameters()} - unused
    groups = STRATEGIES["discriminative"].prepare(model, RunConfig(strategy="discriminative"))
    assert sorted(id(p) for g in groups for p in g["params"]) == sorted(staged)


def test_a_model_pooling_with_its_pooler_trains_it_with_the_top_block(family_dirs):
    model = classifier(family_dirs["bert"], pooling="pooler")
    config = RunConfig(strategy="discriminative", lr_finetune=1e-3, lr_head_finetune=1e-2, lr_decay=2.0)
    rate_of = {id(p): g["lr"] for g in STRATEGIES["discriminative"].prepare(model, config) for p in g["params"]}
    assert {rate_of[id(p)] for p in model.encoder.pooler.parameters()} == {1e-3}
    gradual_unfreeze(model, 1, config)
    assert not any(p.requires_grad for p in model.encoder.pooler.parameters())
    gradual_unfreeze(model, 2, config)
    assert all(p.requires_grad for p in model.encoder.pooler.parameters())


def test_albert_with_separate_layer_groups_has_layers_to_unfreeze():
    from transformers import AlbertConfig, AlbertModel

    encoder = AlbertModel(AlbertConfig(vocab_size=100, embedding_size=16, num_hidden_groups=2, **SIZE))
    model = TextClassifier(encoder, "cls", 2)
    STRATEGIES["gradual"].prepare(model, RunConfig(strategy="gradual"))
    assert len(layer_groups(model)) == 4
    assert [p.requires_grad for p in model.parameters()].count(True) == 2  # the head only, at epoch 1


LORA_TARGETS = {"bert": ["query", "value"], "distilbert": ["q_lin", "v_lin"], "roberta": ["query", "value"],
                "albert": ["query", "value"], "electra": ["query", "value"],
                "deberta-v2": ["query_proj", "value_proj"]}


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_auto_targets_each_familys_query_and_value(family_dirs, tiny_splits, family):
    assert lora_target_modules(load_encoder(family_dirs[family]).encoder) == LORA_TARGETS[family]
    config = RunConfig(strategy="lora", model=family_dirs[family], epochs=1, max_length=32, lora_r=4)
    result = train(config, tiny_splits).result
    assert result.status == "finished", result.reason
    weight_sets = 1 if family == "albert" else 2  # ALBERT's layers are one shared set of weights
    # per layer: (query, value) x (A: r x 32 + B: 32 x r); the head: 32 x 2 + 2
    assert result.trainable_params == weight_sets * 2 * (4 * 32 + 32 * 4) + 66


def test_lora_honours_explicit_targets(family_dirs, tiny_splits):
    config = RunConfig(strategy="lora", model=family_dirs["bert"], epochs=1, max_length=32, lora_r=4,
                       lora_targets="query")
    result = train(config, tiny_splits).result
    assert result.status == "finished", result.reason
    assert result.trainable_params == 2 * (4 * 32 + 32 * 4) + 66
    with pytest.raises(ConfigError, match="LoRA targets must be 'auto' or comma-separated"):
        RunConfig(lora_targets=" , ")


def test_lora_targets_of_an_unlisted_family_are_found_by_name():
    from transformers import DistilBertConfig, DistilBertModel, GPT2Config, GPT2Model

    encoder = DistilBertModel(DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=2, hidden_dim=64))
    encoder.config.model_type = "my-distilbert"
    assert lora_target_modules(encoder) == ["q_lin", "v_lin"]
    gpt2 = GPT2Model(GPT2Config(vocab_size=100, n_embd=32, n_layer=1, n_head=2))
    with pytest.raises(ConfigError, match="Cannot tell which layers of GPT2Model are the attention query"):
        lora_target_modules(gpt2)


@pytest.mark.parametrize("family", FAMILIES)
def test_masked_lm_head_shares_the_encoder_and_its_embeddings(family_dirs, family):
    from core.mlm import continue_pretraining, masked_lm_for

    bundle = load_encoder(family_dirs[family])
    mlm = masked_lm_for(bundle.encoder)
    assert getattr(mlm, mlm.base_model_prefix) is bundle.encoder
    assert mlm.get_output_embeddings().weight is bundle.encoder.get_input_embeddings().weight
    model = TextClassifier(bundle.encoder, bundle.pooling, 2)
    before = bundle.encoder.get_input_embeddings().weight.detach().clone()
    config = RunConfig(strategy="domain_adapt", mlm_steps=2, max_length=32, batch_size=8)
    assert continue_pretraining(model, bundle.tokenizer, ["a fine film indeed"] * 8, config) == 2
    assert not torch.equal(before, bundle.encoder.get_input_embeddings().weight)


def test_domain_adapt_refuses_an_encoder_without_a_masked_lm_head_or_mask_token(family_dirs):
    from types import SimpleNamespace

    from transformers import GPT2Config, GPT2Model

    from core.mlm import continue_pretraining, masked_lm_for

    with pytest.raises(ConfigError, match="GPT2 encoders have no masked-language-model head, so domain_adapt"):
        masked_lm_for(GPT2Model(GPT2Config(vocab_size=100, n_embd=32, n_layer=1, n_head=2)))
    no_mask = SimpleNamespace(mask_token_id=None)
    with pytest.raises(ConfigError, match="tokenizer has no mask token, so domain_adapt"):
        continue_pretraining(classifier(family_dirs["bert"]), no_mask, ["a film"], RunConfig(mlm_steps=1))


def one_full_step(folder: str, splits, checkpointing: bool):
    """Train `full` for exactly one optimizer step (one batch of all 40 texts, no dropout)."""
    config = RunConfig(strategy="full", model=folder, epochs=1, max_length=32, batch_size=64, dropout=0.0,
                       gradient_checkpointing=checkpointing, warmup_ratio=0.0)
    outcome = train(config, splits)
    assert outcome.result.status == "finished", outcome.result.reason
    return outcome


def test_gradient_checkpointing_trains_the_same(family_dirs, tiny_splits):
    plain = one_full_step(family_dirs["bert"], tiny_splits, False)
    checkpointed = one_full_step(family_dirs["bert"], tiny_splits, True)
    assert any(getattr(m, "gradient_checkpointing", False) for m in checkpointed.predictor.model.encoder.modules())
    assert checkpointed.result.history[0]["train_loss"] == pytest.approx(plain.result.history[0]["train_loss"])
    weights = zip(plain.predictor.model.state_dict().items(), checkpointed.predictor.model.state_dict().values())
    for (name, before), after in weights:
        torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6, msg=name)


def test_gradient_checkpointing_runs_each_block_again_in_backward(family_dirs):
    from core.models import enable_gradient_checkpointing

    forwards = []
    for checkpointing in (False, True):
        model = classifier(family_dirs["bert"]).train()
        if checkpointing:
            enable_gradient_checkpointing(model.encoder)
        calls = []  # the block's first part (its attention) runs inside the block's checkpointed forward
        next(encoder_layers(model.encoder)[0].children()).register_forward_hook(lambda *args: calls.append(1))
        ids = torch.full((2, 8), 1000)
        model(ids, torch.ones_like(ids)).sum().backward()
        forwards.append(len(calls))
    assert forwards == [1, 2]  # checkpointing kept no activations and recomputed them for the backward pass


def test_gradient_checkpointing_refuses_a_family_without_it(family_dirs, tiny_splits):
    config = RunConfig(strategy="full", model=family_dirs["albert"], epochs=1, max_length=32,
                       gradient_checkpointing=True)
    result = train(config, tiny_splits).result
    assert (result.status, result.reason) == (
        "failed", "ALBERT encoders (AlbertModel) do not support gradient checkpointing; turn it off for this model.")
    with pytest.raises(ConfigError, match="must be true or false"):
        RunConfig(gradient_checkpointing="yes")


def test_cli_gradient_checkpointing_flag():
    from core.cli import build_parser

    def parsed(*flags):
        return build_parser().parse_args(["compare", *flags]).gradient_checkpointing

    assert (parsed(), parsed("--gradient-checkpointing"), parsed("--no-gradient-checkpointing")) == (False, True, False)


def compare_family(family_dirs, family, tmp_path, strategies, *extra):
    from core.cli import main

    code = main(["compare", "--model", family_dirs[family], "--data", "synthetic", "--synthetic-size", "120",
                 "--n-train", "40", "--n-test", "20", "--strategies", ",".join(strategies), "--epochs", "1",
                 "--max-length", "32", "--batch-size", "8", "--mlm-steps", "2", "--top-k", "1",
                 "--out", str(tmp_path / "out"), *extra])
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    return code, {run["strategy"]: run for run in runs}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_cli_compares_every_strategy_on_every_family(family_dirs, tmp_path, capsys, family):
    code, runs = compare_family(family_dirs, family, tmp_path, list(STRATEGIES))
    assert code == 0 and set(runs) == set(STRATEGIES)
    for strategy, run in runs.items():
        expected = REFUSALS.get((family, strategy))
        assert (run["status"], run.get("reason")) == (("failed", expected) if expected else ("finished", "")), strategy
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.slow
def test_cli_trains_with_gradient_checkpointing_and_saves_a_loadable_run(family_dirs, tmp_path, capsys):
    from core.predict import load_predictor

    code, runs = compare_family(family_dirs, "electra", tmp_path, ["full", "lora"], "--gradient-checkpointing")
    assert code == 0 and {run["status"] for run in runs.values()} == {"finished"}
    assert all(run["config"]["gradient_checkpointing"] for run in runs.values())
    predictor = load_predictor(runs["lora"]["model_dir"])
    assert len(predictor.predict(["a fine film"])) == 1
