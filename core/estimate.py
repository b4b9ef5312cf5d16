"""How long will a run take here? Measured, not guessed.

Per model, one short micro-benchmark on this machine gives the seconds per token of a training
step (core's own step: core.loop.train_step) and of inference. A run's estimate is then its real
token count (after truncation, without padding, as the loop batches it) times those costs.
One estimator per kind of strategy; `core.training.KINDS` says which applies.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import torch

from core import tasks
from core.batching import tokenize
from core.features import feature_key, texts_key
from core.loop import Optimization, train_step
from core.models import TextClassifier, load_encoder, load_tokenizer, pick_device
from core.strategies import decay_groups

# Reading the bundled ~90 MB checkpoint and building the model in a process that has imported torch and
# transformers already (the dashboard's workers are kept warm): a frozen run whose encoder passes were
# done by an earlier run took 0.35 s in one process, 0.7-1.6 s in the workers of a 20-session class,
# where this was 3.0 s and the scheduler expected 4-6 s of each such run (bench/classroom.py).
LOAD_SECONDS = 1.0
# Gradient checkpointing runs each block's forward again in the backward pass: measured 1.51x (fp32) and
# 1.55x (bf16) per MiniLM step, batch 16 x 256 tokens, on this machine (README, "Design choices").
CHECKPOINTING_STEP_COST = 1.5
PROBE_SECONDS = 6.0  # loading a model and timing its steps (measure_token_costs), measured here
# TF-IDF and its grid of linear models (one BLAS thread, core.blas) grow with the text they read: on this
# machine 0.28 s for Rotten Tomatoes 1,000 (0.19 M characters with validation and test), 0.47 s for 4,000,
# 0.87 / 3.56 / 6.13 s for IMDb 500 / 2,000 / 4,000 (1.4 / 3.8 / 6.9 M characters).
TFIDF_SECONDS = 0.15
TFIDF_SECONDS_PER_MILLION_CHARACTERS = 0.9


@dataclass(frozen=True)
class TokenCosts:
    """Seconds per token for training and for inference, with one model on this machine."""

    train_seconds_per_token: float
    infer_seconds_per_token: float  # evaluation and prediction (fp32)
    feature_seconds_per_token: float  # frozen features, in the run's compute precision


_probing = threading.Lock()  # twenty sessions asking at once share one probe instead of queueing twenty


def measure_token_costs(model_name: str, device: str = "auto", precision: str = "auto", batch: int = 16,
                        length: int = 64) -> TokenCosts:
    """The token costs of one model here, measured once per process (see `_probe`)."""
    with _probing:
        return _probe(model_name, device, precision, batch, length)


@lru_cache(maxsize=8)
def _probe(model_name: str, device: str, precision: str, batch: int, length: int) -> TokenCosts:
    """Time a few real training steps and forward passes on random token ids (a few seconds), with
    the precision the training loop will use. The probe waits for its turn with the process's scheduler
    like any short work, so a class opening the Train page at once starts one probe at a time."""
    from core.scheduler import shared

    with shared().turn("time-estimate", f"timing {model_name}", PROBE_SECONDS):
        return _measure_token_costs(model_name, device, precision, batch, length)


def _measure_token_costs(model_name: str, device: str, precision: str, batch: int, length: int) -> TokenCosts:
    bundle = load_encoder(model_name, pretrained=False)
    dev = pick_device(device)
    model = TextClassifier(bundle.encoder, bundle.pooling, 2).to(dev)
    vocab = bundle.encoder.config.vocab_size
    ids = torch.randint(1000, min(vocab, 20000), (batch, length), device=dev)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    labels = torch.zeros((batch, 1), device=dev)  # class 0 of one two-class target
    targets = tasks.classification_targets(("a", "b"))
    optimization = Optimization.build(decay_groups(model.named_parameters(), 1e-5, 0.01), dev,
                                      precision=precision, total_steps=100)

    def one_train_step():
        model.train()
        train_step(model, optimization, inputs, labels, targets)

    def infer_step():
        with torch.inference_mode():
            model.eval()(**inputs)

    def feature_step():
        with torch.inference_mode(), optimization.autocast():
            model.eval().embed(**inputs)

    tokens = batch * length
    return TokenCosts(_time(one_train_step) / tokens, _time(infer_step) / tokens, _time(feature_step) / tokens)


def _time(step, warmup: int = 1, repeats: int = 3) -> float:
    for _ in range(warmup):
        step()
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / repeats


def count_tokens(model_name: str, texts, max_length: int) -> int:
    """Real tokens the loop will process for `texts` (truncated, no padding). Remembered for the last
    sets counted: a queue's estimate, its shared parts and a sweep's cells count the same splits again
    (a frozen run's estimate on RT 1,000 / 200 / 1,000 took 0.079 s; its shared parts after it, 0.002 s)."""
    texts = list(texts)
    key = texts_key((model_name, str(max_length)), texts)  # not the texts: a finished session's data is let go
    with _counted_lock:
        if key in _counted:
            return _counted[key]
    count = sum(len(ids) for ids in tokenize(load_tokenizer(model_name), texts, max_length))
    with _counted_lock:
        _counted[key] = count
        while len(_counted) > 256:
            _counted.pop(next(iter(_counted)))
    return count


_counted: dict[str, int] = {}
_counted_lock = threading.Lock()


def token_lengths(model_name: str, texts) -> list[int]:
    """Tokens per text with the encoder's special tokens, before any truncation."""
    return [len(ids) for ids in load_tokenizer(model_name)(list(texts), add_special_tokens=True,
                                                           truncation=False)["input_ids"]]


def _tokens(config, texts) -> int:
    return count_tokens(config.model, texts, config.max_length)


def encoder_run_seconds(config, splits) -> float:
    """An encoder fine-tune: every epoch trains on the training tokens and scores validation."""
    costs = measure_token_costs(config.model, config.device, config.precision)
    infer = costs.infer_seconds_per_token
    train = costs.train_seconds_per_token * (CHECKPOINTING_STEP_COST if config.gradient_checkpointing else 1.0)
    per_epoch = _tokens(config, splits.train.texts) * train + _tokens(config, splits.val.texts) * infer
    return LOAD_SECONDS + config.epochs * per_epoch + _tokens(config, splits.test.texts) * infer


def features_run_seconds(config, splits) -> float:
    """A head on frozen features: the encoder runs once over train + val, and over the test texts at full
    precision to predict them; head training is negligible."""
    return LOAD_SECONDS + sum(features_shared_seconds(config, splits).values())


def features_shared_seconds(config, splits) -> dict[str, float]:
    """The encoder passes of a frozen run, by core.features cache key: any later run on the same texts
    reuses them instead of encoding again, which the scheduler counts on (each key once: core.scheduler)."""
    from core.models import detect_pooling, resolve_model_source
    from core.precision import compute_dtype

    costs = measure_token_costs(config.model, config.device, config.precision)
    source = resolve_model_source(config.model)
    pooling = detect_pooling(source) if config.pooling == "auto" else config.pooling
    dtype = compute_dtype(pick_device(config.device), config.precision)
    parts: dict[str, float] = {}
    for texts, part_dtype, per_token in ((splits.train.texts, dtype, costs.feature_seconds_per_token),
                                         (splits.val.texts, dtype, costs.feature_seconds_per_token),
                                         (splits.test.texts, torch.float32, costs.infer_seconds_per_token)):
        key = feature_key(source, pooling, config.max_length, texts, part_dtype)
        parts[key] = parts.get(key, 0.0) + _tokens(config, texts) * per_token
    return parts


def tfidf_run_seconds(config, splits) -> float:
    """TF-IDF's seconds: a little, and then in proportion to the characters it reads (see TFIDF_SECONDS)."""
    characters = sum(len(text) for part in (splits.train, splits.val, splits.test) for text in part.texts)
    return TFIDF_SECONDS + TFIDF_SECONDS_PER_MILLION_CHARACTERS * characters / 1e6


# -- memory: what the scheduler admits and packs (core.scheduler) --------------------------------

BASE_BYTES = 400 * 2**20  # tokenizer, data, Python objects and allocator slack around one run


@dataclass(frozen=True)
class ModelShape:
    """The sizes of an encoder that memory depends on, read from its config (no weights loaded)."""

    parameters: int
    hidden: int
    layers: int
    heads: int


@lru_cache(maxsize=16)
def model_shape(model_name: str) -> ModelShape:
    """Parameter count and sizes, from the config alone: the model is built on the meta device."""
    from transformers import AutoConfig, AutoModel

    from core.models import _from_pretrained, resolve_model_source

    config = _from_pretrained(AutoConfig, resolve_model_source(model_name))
    with torch.device("meta"):
        parameters = sum(p.numel() for p in AutoModel.from_config(config).parameters())
    return ModelShape(parameters, getattr(config, "hidden_size", 768), getattr(config, "num_hidden_layers", 12),
                      getattr(config, "num_attention_heads", 12))


def _activation_bytes(shape: ModelShape, batch: int, length: int) -> int:
    """fp32 activations kept for the backward pass of one micro-batch: per layer about
    batch*length*hidden*(34 + 5*heads*length/hidden) half-precision bytes (Korthikanti et al., 2022), doubled for fp32."""
    per_layer = batch * length * shape.hidden * (34 + 5 * shape.heads * length / shape.hidden) * 2
    return int(per_layer * shape.layers)


def encoder_run_bytes(config, splits) -> int:
    """Weights, gradients and AdamW state (16 bytes per parameter) plus one micro-batch of activations."""
    shape = model_shape(config.model)
    activations = _activation_bytes(shape, config.batch_size, config.max_length)
    if config.gradient_checkpointing:
        activations //= shape.layers
    return BASE_BYTES + 16 * shape.parameters + activations


def features_run_bytes(config, splits) -> int:
    """Weights, one inference batch, and the cached features of every text."""
    shape = model_shape(config.model)
    texts = len(splits.train) + len(splits.val) + len(splits.test)
    return BASE_BYTES + 4 * shape.parameters + _activation_bytes(shape, 64, config.max_length) // 4 \
        + texts * shape.hidden * 4


def tfidf_run_bytes(config, splits) -> int:
    """The sparse TF-IDF matrices: about 60 bytes per character of training text covers words and bigrams."""
    characters = sum(len(text) for text in splits.train.texts) + sum(len(text) for text in splits.val.texts)
    return BASE_BYTES + 60 * characters
