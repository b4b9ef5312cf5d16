"""Frozen strategy: core's feature cache vs running the frozen encoder in every step, like for like.

Cached: core.training.train with strategy "frozen" on a cold memory cache (features computed once by
core.features.cached_features, then the head trains on them). Encoder every step: core.loop.fit on
the same head, with a batch source that hands it token ids in the cached run's batch order (core's
own FeatureBatches permutation), so the frozen encoder runs inside every training step, and the
validation texts are re-encoded after every epoch. Both sides run at the same --precision (both
encode under the same autocast, in eval mode, as core.features does), with core's optimizer,
schedule, clipping, seed, dropout masks and best-epoch restore: the only difference is the cache.

The precision gain is measured as its own number in the same interleaved runs: the cached side again
in fp32 (`cached_fp32`; only when --precision resolves to bf16 on this CPU).

IMDb, 1,000 training / 200 validation / 1,000 held-out reviews, max length 128, batch 16, patience 0
(every run trains all its epochs). Time = model load to trained head on both sides (core's
`train_seconds`). Targets: cached >= 5x faster at 3 epochs, >= 10x at 10; accuracy within 0.01.

    python bench/run.py frozen_cache [--quick] [--epochs 3,10] [--reps 1] [--precision auto] [--tag TAG]
"""

from __future__ import annotations

import time

from _common import dtype_name, interleaved, log, median, run_core, verdict, warm_up

import numpy as np
import torch
from torch import nn

from core import tasks
from core.batching import collate, tokenize
from core.config import RunConfig
from core.features import clear_memory_cache, compute_features
from core.loop import fit
from core.models import TextClassifier, load_encoder
from core.precision import autocast_for
from core.sources import load_bundled
from core.splits import make_splits
from core.strategies import STRATEGIES
from core.trainers import FeatureBatches, TokenBatches
from core.training import seed_everything

TARGETS = {3: 5.0, 10: 10.0}
ACCURACY_TOLERANCE = 0.01
CPU = torch.device("cpu")


def add_arguments(p) -> None:
    p.add_argument("--epochs", default="3,10", help="comma-separated epoch counts")
    p.add_argument("--reps", type=int, default=1, help="runs per side per epoch count (interleaved)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="RunConfig.precision of both sides (auto: bf16 on a CPU with native bf16)")


def frozen_config(epochs: int, precision: str, max_length: int) -> RunConfig:
    """The frozen run both sides follow."""
    return RunConfig(strategy="frozen", max_length=max_length, batch_size=16, epochs=epochs, seed=0, patience=0,
                     precision=precision)


class EncoderEveryStep(nn.Module):
    """The classifier with its frozen encoder run inside the step the way core.features encodes for
    the cache (eval mode: no dropout inside it; autocast of the run's precision), so both sides train
    the head on the same vectors."""

    def __init__(self, classifier: TextClassifier, precision: str):
        super().__init__()
        self.classifier = classifier
        self.autocast, _ = autocast_for(CPU, precision)

    def train(self, mode: bool = True):
        super().train(mode)
        self.classifier.encoder.eval()
        return self

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            vectors = self.classifier.embed(input_ids, attention_mask)  # (batch, seq) -> (batch, hidden)
        return self.classifier.head(self.classifier.dropout(vectors.float()))


class TokensInCachedOrder:
    """core.loop.BatchSource: the cached run's training batches as token ids; validation as core's token batches."""

    def __init__(self, splits, tokenizer, config: RunConfig):
        self.train_ids = tokenize(tokenizer, splits.train.texts, config.max_length)
        self.pad_id = tokenizer.pad_token_id
        train_y, val_y = tasks.target_matrix(splits.train), tasks.target_matrix(splits.val)
        rows = torch.arange(len(train_y)).unsqueeze(1)  # row numbers as "features": FeatureBatches' exact order
        self.order = FeatureBatches(rows, train_y, rows[:0], val_y[:0], config.batch_size, CPU, config.seed)
        self.tokens = TokenBatches([], train_y[:0], tokenize(tokenizer, splits.val.texts, config.max_length), val_y,
                                   config.batch_size, self.pad_id, CPU, config.seed)
        self.batches_per_epoch = self.order.batches_per_epoch

    def train(self, epoch: int):
        for rows, labels in self.order.train(epoch):
            ids, mask = collate([self.train_ids[i] for i in rows["features"][:, 0].tolist()], self.pad_id)
            yield {"input_ids": ids, "attention_mask": mask}, labels

    def val(self):
        return self.tokens.val()


def cached_run(config: RunConfig, splits) -> dict:
    """core.training.train on a cold feature cache."""
    clear_memory_cache()
    return run_core(config, splits)


_TEST_FEATURES: dict[int, torch.Tensor] = {}


def held_out_accuracy(classifier: TextClassifier, tokenizer, splits, max_length: int) -> float:
    """Held-out accuracy of a trained head, untimed. The test features are what EncoderPredictor
    computes (fp32, eval mode, batches of 64), encoded once per process instead of once per run."""
    if max_length not in _TEST_FEATURES:
        _TEST_FEATURES[max_length] = compute_features(classifier, tokenizer, splits.test.texts, max_length,
                                                      precision="fp32")
    with torch.inference_mode():
        predicted = classifier.eval().head(_TEST_FEATURES[max_length]).argmax(-1).numpy()
    return float((predicted == np.asarray(splits.test.labels)).mean())


def encoder_every_step_run(config: RunConfig, splits) -> dict:
    """Model load to trained head through core.loop.fit, the encoder in every step; then its test accuracy."""
    started = time.perf_counter()
    seed_everything(config.seed)  # same order as core.training.train: seed, load, head init, prepare
    bundle = load_encoder(config.model, pooling=config.pooling)
    classifier = TextClassifier(bundle.encoder, bundle.pooling, len(splits.label_names), config.dropout)
    groups = STRATEGIES["frozen"].prepare(classifier, config)
    batches = TokensInCachedOrder(splits, bundle.tokenizer, config)
    fitted = fit(EncoderEveryStep(classifier, config.precision), groups, batches, tasks.targets_of(splits.train),
                 config, lambda event: None, None, CPU)
    train_seconds = time.perf_counter() - started
    return {"train_seconds": train_seconds, "best_epoch": fitted.best_epoch, "epochs_run": len(fitted.history),
            "test_accuracy": held_out_accuracy(classifier, bundle.tokenizer, splits, config.max_length)}


def side_runner(side: str, epochs: int, precision: str, max_length: int):
    """(function, config) of one side: cached, naive (encoder every step) or cached_fp32."""
    if side == "cached_fp32":
        return cached_run, frozen_config(epochs, "fp32", max_length)
    return (cached_run if side == "cached" else encoder_every_step_run), frozen_config(epochs, precision, max_length)


def summarise(epochs: int, runs: dict, texts: int) -> dict:
    """Medians per side, the like-for-like speed-up, the precision gain and the verdict."""
    seconds = {k: median(r["train_seconds"] for r in v) for k, v in runs.items()}
    accuracy = {k: median(r["test_accuracy"] for r in v) for k, v in runs.items()}
    speedup = seconds["naive"] / seconds["cached"]
    gap = abs(accuracy["naive"] - accuracy["cached"])
    target = TARGETS.get(epochs)
    out = {"epochs": epochs, "runs": runs, "median_train_seconds": seconds, "test_accuracy": accuracy,
           "speedup": speedup, "accuracy_gap": gap, "texts_encoded": {"naive": epochs * texts, "cached": texts},
           "target": {"speedup_min": target, "accuracy_gap_max": ACCURACY_TOLERANCE,
                      "pass": (target is None or speedup >= target) and gap <= ACCURACY_TOLERANCE}}
    if "cached_fp32" in seconds:
        out["precision_gain"] = seconds["cached_fp32"] / seconds["cached"]
    return out


def compare(epochs: int, splits, args, max_length: int) -> dict:
    """The sides at `epochs`, interleaved (A B C, C B A, ...); see `summarise`."""
    sides = ["cached", "naive"] + (["cached_fp32"] if dtype_name(args.precision) != "float32" else [])
    runs = {side: [] for side in sides}
    for side in interleaved(sides, args.reps):
        run, config = side_runner(side, epochs, args.precision, max_length)
        log(f"{epochs} epochs: {side} ({config.precision})")
        runs[side].append(run(config, splits))
        log(f"  {runs[side][-1]['train_seconds']:.1f} s, accuracy {runs[side][-1]['test_accuracy']:.3f}")
    result = summarise(epochs, runs, len(splits.train) + len(splits.val))
    gain = f"; cached fp32 / cached: {result['precision_gain']:.2f}x" if "precision_gain" in result else ""
    print(f"{epochs:>2} epochs: cached {result['median_train_seconds']['cached']:.1f} s, encoder every step "
          f"{result['median_train_seconds']['naive']:.1f} s -> {result['speedup']:.2f}x; accuracy "
          f"{result['test_accuracy']['cached']:.3f} vs {result['test_accuracy']['naive']:.3f}: "
          f"{verdict(result['target']['pass'])}{gain}")
    return result


def run(args) -> dict:
    """Every epoch count; quick: 32 reviews at length 64, 3 epochs, one run per side."""
    n_train, n_test, max_length = (32, 32, 64) if args.quick else (1000, 1000, 128)
    epoch_list = [3] if args.quick else [int(e) for e in args.epochs.split(",")]
    if args.quick:
        args.reps = 1
    splits = make_splits(load_bundled("imdb"), n_train=n_train, n_test=n_test, seed=0)
    warm_up()
    results = [compare(e, splits, args, max_length) for e in epoch_list]
    settings = {"data": "imdb", "n_train": n_train, "n_val": len(splits.val), "n_test": n_test,
                "max_length": max_length, "batch_size": 16, "reps": args.reps, "patience": 0,
                "precision": args.precision, "dtype": dtype_name(args.precision),
                "sides": {"cached": "core.training.train, frozen, features cached once",
                          "naive": "core.loop.fit, frozen encoder run in every step (same precision)",
                          "cached_fp32": "the cached side at precision fp32 (the precision gain)"}}
    return {"settings": settings, "results": results}


if __name__ == "__main__":  # the same as `python bench/run.py frozen_cache ARGS`
    import run as runner

    runner.main_as_script(__file__)
