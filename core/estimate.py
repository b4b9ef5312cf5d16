"""How long will a run take here? Measured, not guessed.

Per model, one short micro-benchmark on this machine gives the seconds per token of a training
step (forward + backward + update) and of inference. A run's estimate is then its real token
count (after truncation, without padding, as the loop batches it) times those costs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import torch

from core.batching import tokenize
from core.config import RunConfig
from core.models import TextClassifier, load_encoder, load_tokenizer, pick_device
from core.strategies import get_strategy

LOAD_SECONDS = 3.0  # reading a ~90 MB checkpoint and building the model, measured on this machine
TFIDF_SECONDS = 2.0


@dataclass(frozen=True)
class TokenCosts:
    """Seconds per token for training and for inference, with one model on this machine."""

    train_seconds_per_token: float
    infer_seconds_per_token: float  # evaluation and prediction (fp32)
    feature_seconds_per_token: float  # frozen features, in the run's compute precision


@lru_cache(maxsize=8)
def measure_token_costs(model_name: str, device: str = "auto", precision: str = "auto", batch: int = 16,
                        length: int = 64) -> TokenCosts:
    """Time a few real training steps and forward passes on random token ids (a few seconds), with
    the autocast the training loop will use."""
    from core.training import autocast_for

    bundle = load_encoder(model_name, pretrained=False)
    dev = pick_device(device)
    model = TextClassifier(bundle.encoder, bundle.pooling, 2).to(dev)
    vocab = bundle.encoder.config.vocab_size
    ids = torch.randint(1000, min(vocab, 20000), (batch, length), device=dev)
    mask = torch.ones_like(ids)
    labels = torch.zeros(batch, dtype=torch.long, device=dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    amp, _ = autocast_for(dev, precision)

    def train_step():
        with amp():
            logits = model(ids, mask)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    def infer_step():
        with torch.inference_mode():
            model(ids, mask)

    def feature_step():
        with torch.inference_mode(), amp():
            model.embed(ids, mask)

    tokens = batch * length
    return TokenCosts(_time(train_step) / tokens, _time(infer_step) / tokens, _time(feature_step) / tokens)


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
    """Real tokens the loop will process for `texts` (truncated, no padding)."""
    return sum(len(ids) for ids in tokenize(load_tokenizer(model_name), list(texts), max_length))


def estimate_run_seconds(config: RunConfig, splits, costs: TokenCosts | None = None) -> float:
    """Expected wall time of one run on `splits`, training plus test evaluation."""
    kind = get_strategy(config.strategy).kind
    if kind == "tfidf":
        return TFIDF_SECONDS
    costs = costs or measure_token_costs(config.model, config.device, config.precision)
    train_tokens = count_tokens(config.model, splits.train.texts, config.max_length)
    val_tokens = count_tokens(config.model, splits.val.texts, config.max_length)
    test_tokens = count_tokens(config.model, splits.test.texts, config.max_length)
    infer = costs.infer_seconds_per_token
    if kind == "features":  # encoder runs once over train + val, head training is negligible
        return LOAD_SECONDS + (train_tokens + val_tokens) * costs.feature_seconds_per_token + test_tokens * infer
    per_epoch = train_tokens * costs.train_seconds_per_token + val_tokens * infer
    return LOAD_SECONDS + config.epochs * per_epoch + test_tokens * infer


def estimate_queue_seconds(configs: list[RunConfig], splits) -> list[float]:
    """Seconds per run for a queue of runs on the same split."""
    return [estimate_run_seconds(config, splits) for config in configs]
