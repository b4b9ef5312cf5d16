"""The three ways a strategy trains, one function each: fine-tune an encoder on token batches,
train a head on cached frozen features, or fit TF-IDF + linear models.

Each takes (strategy, config, splits, emit, stop) and returns `Trained`. `core.training.KINDS`
maps a strategy's `kind` to one of them and lists the registry hooks each one calls.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import torch
from torch import nn

from core import events as ev
from core import tasks
from core.blas import one_blas_thread
from core.batching import length_grouped_batches, token_batches, tokenize
from core.errors import Cancelled, ConfigError
from core.features import cached_features
from core.loop import fit, history_entry
from core.models import (TextClassifier, count_parameters, enable_gradient_checkpointing, load_encoder, pick_device,
                         resolve_model_source)
from core.predict import PREDICT_BATCH_SIZE, EncoderPredictor, Predictor, TfidfPredictor
from core.texts import Splits

EVAL_BATCH_SIZE = 64
TFIDF_C_GRID = (0.5, 2.0, 8.0, 32.0)  # logistic regression: inverse regularisation strengths tried
TFIDF_ALPHA_GRID = (0.1, 0.3, 1.0, 3.0)  # ridge regression (numeric targets): strengths tried


@dataclass
class Trained:
    """A trained model ready to predict, and what training it took."""

    predictor: Predictor
    history: list[dict]  # one entry per epoch (core.loop.history_entry)
    best_epoch: int
    trainable_params: int  # parameters that trained at some point
    total_params: int
    # texts -> (decoded outputs, seconds predicting them takes), where the trainer has a quicker way to the
    # predictor's own outputs than running it (None: core.training times predictor.predict_outputs)
    test_outputs: Callable | None = None


@dataclass
class TokenBatches:
    """Length-grouped token batches of the training and validation texts (a core.loop.BatchSource)."""

    train_ids: list[list[int]]
    train_y: torch.Tensor  # (n_train, n_targets)
    val_ids: list[list[int]]
    val_y: torch.Tensor
    batch_size: int
    pad_id: int
    device: torch.device
    seed: int

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.train_ids) / self.batch_size)

    def train(self, epoch: int):
        """Shuffled batches, a different order each epoch."""
        return self._batches(self.train_ids, self.train_y, self.batch_size, shuffle=True,
                             seed=self.seed * 1000 + epoch)

    def val(self):
        return self._batches(self.val_ids, self.val_y, EVAL_BATCH_SIZE, shuffle=False, seed=0)

    def _batches(self, token_ids, labels, batch_size: int, *, shuffle: bool, seed: int):
        pin = self.device.type == "cuda"  # page-locked host memory lets the copy overlap GPU work
        for indices, ids, mask in token_batches(token_ids, batch_size, self.pad_id, shuffle=shuffle, seed=seed):
            if pin:
                ids, mask = ids.pin_memory(), mask.pin_memory()
            inputs = {"input_ids": ids.to(self.device, non_blocking=True),
                      "attention_mask": mask.to(self.device, non_blocking=True)}
            yield inputs, labels[torch.as_tensor(indices)].to(self.device, non_blocking=True)


@dataclass
class FeatureBatches:
    """Batches of cached pooled encoder vectors (a core.loop.BatchSource)."""

    train_x: torch.Tensor  # (n_train, hidden)
    train_y: torch.Tensor  # (n_train, n_targets)
    val_x: torch.Tensor
    val_y: torch.Tensor
    batch_size: int
    device: torch.device
    seed: int

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.train_y) / self.batch_size)

    def train(self, epoch: int):
        order = torch.randperm(len(self.train_y), generator=torch.Generator().manual_seed(self.seed * 1000 + epoch))
        return self._batches(self.train_x, self.train_y, order, self.batch_size)

    def val(self):
        return self._batches(self.val_x, self.val_y, torch.arange(len(self.val_y)), EVAL_BATCH_SIZE)

    def _batches(self, features, labels, order, batch_size: int):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            yield {"features": features[idx].to(self.device)}, labels[idx].to(self.device)


class _HeadOnFeatures(nn.Module):
    """The classifier's own dropout + head, applied to cached pooled features."""

    def __init__(self, classifier: TextClassifier):
        super().__init__()
        self.dropout = classifier.dropout
        self.head = classifier.head

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # (batch, hidden) -> (batch, outputs)
        return self.head(self.dropout(features))


def _build_classifier(config, num_outputs: int, pretrained: bool, device):
    """Load the encoder, check the length limit, put a head on it."""
    bundle = load_encoder(config.model, pretrained=pretrained, pooling=config.pooling)
    if config.max_length > bundle.max_positions:
        raise ConfigError(
            f"max_length {config.max_length} is above what '{config.model}' accepts ({bundle.max_positions} tokens)."
        )
    model = TextClassifier(bundle.encoder, bundle.pooling, num_outputs, config.dropout).to(device)
    return model, bundle.tokenizer


def train_encoder(strategy, config, splits: Splits, emit, stop) -> Trained:
    """Fine-tune an encoder (pretrained or random) on token batches; every registry hook applies."""
    device = pick_device(config.device)
    targets = tasks.targets_of(splits.train, config.class_weighted)
    model, tokenizer = _build_classifier(config, tasks.total_width(targets), strategy.pretrained, device)
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(model.encoder)
    groups = strategy.prepare(model, config)
    batches = TokenBatches(tokenize(tokenizer, splits.train.texts, config.max_length), tasks.target_matrix(splits.train),
                           tokenize(tokenizer, splits.val.texts, config.max_length), tasks.target_matrix(splits.val),
                           config.batch_size, tokenizer.pad_token_id, device, config.seed)
    if strategy.before_fit is not None:
        strategy.before_fit(model, tokenizer, splits.pretraining_texts, config, stop)
    on_epoch_start = partial(strategy.on_epoch_start, model, config=config) if strategy.on_epoch_start else None
    fitted = fit(model, groups, batches, targets, config, emit, stop, device, on_epoch_start)
    trainable = sum(p.numel() for p in model.parameters() if id(p) in fitted.trained)
    if strategy.finalize is not None:
        strategy.finalize(model)
    _, total = count_parameters(model)
    return Trained(EncoderPredictor(model, tokenizer, config.max_length, targets, device), fitted.history,
                   fitted.best_epoch, trainable, total)


def train_on_features(strategy, config, splits: Splits, emit, stop) -> Trained:
    """Frozen encoder: encode train/val texts once (cached), then train only what `prepare` unfreezes
    (the head) on the vectors."""
    device = pick_device(config.device)
    targets = tasks.targets_of(splits.train, config.class_weighted)
    model, tokenizer = _build_classifier(config, tasks.total_width(targets), True, device)
    groups = strategy.prepare(model, config)
    encode = partial(cached_features, model, tokenizer, model_id=resolve_model_source(config.model),
                     max_length=config.max_length, device=device, precision=config.precision)
    batches = FeatureBatches(encode(splits.train.texts)[0], tasks.target_matrix(splits.train),
                             encode(splits.val.texts)[0], tasks.target_matrix(splits.val),
                             config.batch_size, device, config.seed)
    fitted = fit(_HeadOnFeatures(model), groups, batches, targets, config, emit, stop, device)
    trainable, total = count_parameters(model)
    predict = partial(_head_on_cached_features, model, tokenizer, config, targets, device)
    return Trained(EncoderPredictor(model, tokenizer, config.max_length, targets, device), fitted.history,
                   fitted.best_epoch, trainable, total, test_outputs=predict)


@torch.inference_mode()
def _head_on_cached_features(model, tokenizer, config, targets, device, texts) -> tuple[np.ndarray, float]:
    """What the frozen run's predictor outputs for `texts`, without running its encoder again when another
    run already encoded them: the encoder's full-precision vectors from the cache (computed in the
    predictor's own batches), then the trained head, batch by batch as the predictor goes. The seconds:
    the encoder's, measured when the vectors were computed, plus the head's now. In a class where every
    student trains frozen on one lesson, the test set is encoded once instead of once per student."""
    features, _, encode_seconds = cached_features(model, tokenizer, texts, model_id=resolve_model_source(config.model),
                                                  max_length=config.max_length, batch_size=PREDICT_BATCH_SIZE,
                                                  device=device, precision="fp32")
    if not math.isfinite(encode_seconds):  # vectors from a disk cache older than the timing kept with them
        started = time.perf_counter()
        decoded = EncoderPredictor(model, tokenizer, config.max_length, targets, device).predict_outputs(texts)
        return decoded, time.perf_counter() - started
    lengths = [len(ids) for ids in tokenize(tokenizer, texts, config.max_length)]
    started = time.perf_counter()
    raw = np.zeros((len(texts), tasks.total_width(targets)), dtype=np.float32)
    for indices in length_grouped_batches(lengths, PREDICT_BATCH_SIZE, shuffle=False):
        raw[indices] = model.head(model.dropout(features[indices].to(device))).float().cpu().numpy()
    return tasks.decode(raw, targets).astype(np.float32), encode_seconds + time.perf_counter() - started


def _tfidf_model(target, train_x, train_y, val_x, val_y, seed: int, stop):
    """The linear model for one target whose setting scores best on the validation split (classes
    weighed like the neural loss when the target has class weights)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if target.kind == "regression":
        candidates = [Ridge(alpha=alpha) for alpha in TFIDF_ALPHA_GRID]
    else:
        balance = "balanced" if target.class_weights else None  # the same n / (classes x count) weights
        candidates = [LogisticRegression(C=c, max_iter=2000, random_state=seed, class_weight=balance)
                      for c in TFIDF_C_GRID]
    best = None
    for model in candidates:
        if stop is not None and stop.is_set():
            raise Cancelled()
        model.fit(train_x, train_y)
        val_score = model.score(val_x, val_y)  # accuracy, or R² for ridge
        if best is None or val_score > best[0]:
            best = (val_score, model)
    return best[1]


def train_tfidf(strategy, config, splits: Splits, emit, stop) -> Trained:
    """TF-IDF of words and bigrams + one linear model per target, its strength chosen on validation."""
    with one_blas_thread():  # small matrices: BLAS threads only spin (core.blas)
        return _train_tfidf(config, splits, emit, stop)


def _train_tfidf(config, splits: Splits, emit, stop) -> Trained:
    from sklearn.feature_extraction.text import TfidfVectorizer

    started = time.perf_counter()
    emit(ev.RunStarted(config.strategy, 1, 0))
    targets = tasks.targets_of(splits.train, config.class_weighted)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    train_x = vectorizer.fit_transform(splits.train.texts)
    val_x = vectorizer.transform(splits.val.texts)
    models = [_tfidf_model(target, train_x, train_column.labels, val_x, val_column.labels, config.seed, stop)
              for target, train_column, val_column in zip(targets, splits.train.columns, splits.val.columns)]
    predictor = TfidfPredictor(vectorizer, models, targets)
    scores = {}
    for name, split in (("train", splits.train), ("val", splits.val)):
        decoded = predictor.predict_outputs(split.texts)
        y = tasks.target_matrix(split).numpy()
        scores[name] = (tasks.decoded_loss(decoded, y, targets), tasks.score(decoded, y, targets))
    score_name = tasks.score_name(targets)
    entry = history_entry(1, *scores["train"], *scores["val"], time.perf_counter() - started, score_name)
    emit(ev.EpochEvaluated(config.strategy, 1, *scores["train"], *scores["val"], entry["seconds"], score_name))
    n_weights = sum(np.size(m.coef_) + np.size(m.intercept_) for m in models)
    return Trained(predictor, [entry], 1, n_weights, n_weights)
