"""Frozen strategy: core's feature cache vs the naive loop that runs the encoder every epoch.

Cached: core.training.train with strategy "frozen" (features computed once by
core.features.cached_features, the head trains on cached tensors); the memory cache is cleared
before each run so its first computation is timed. Naive (implemented here): the same head,
optimizer (AdamW, warmup + linear decay, clipping), seed, batch order and data, but every batch
runs the frozen encoder forward again, every epoch, and validation re-encodes the validation set
after every epoch (core validates on cached features after every epoch too). The encoder stays in
eval mode in both (no dropout inside it), so both train the head on the same features.
Both use patience=0 so that every run really trains for the asked number of epochs.

IMDb, 1,000 training / 200 validation / 1,000 held-out reviews, max length 128, batch 16.
Targets: cached >= 5x faster at 3 epochs, >= 10x at 10 epochs; held-out accuracy within 0.01.

    python bench/frozen_cache.py [--quick] [--epochs 3,10] [--reps 1] [--tag TAG]

On a busy 2-core machine the 10-epoch naive run alone takes 8-12 minutes, so the recorded results
come from two runs: `--epochs 3 --tag e3` and `--epochs 10 --tag e10`.
"""

from __future__ import annotations

import math
import time

from _common import interleaved, log, machine_info, median, parser, run_core, verdict, warm_up, write_result

import numpy as np
import torch
import torch.nn.functional as F

from core.batching import collate, token_batches, tokenize
from core.config import RunConfig
from core.data import load_source, make_splits
from core.features import clear_memory_cache, compute_features
from core.models import TextClassifier, load_encoder
from core.strategies import get_strategy
from core.training import EVAL_BATCH_SIZE, seed_everything, warmup_then_linear_decay

TARGETS = {3: 5.0, 10: 10.0}
ACCURACY_TOLERANCE = 0.01


def frozen_config(epochs: int) -> RunConfig:
    """The frozen run both sides follow."""
    return RunConfig(strategy="frozen", max_length=128, batch_size=16, epochs=epochs, seed=0, patience=0)


def cached_run(config: RunConfig, splits) -> dict:
    """core.training.train on a cold feature cache."""
    clear_memory_cache()
    return run_core(config, splits)


class NaiveFrozen:
    """Head-only training that calls the frozen encoder on every batch of every epoch."""

    def __init__(self, config: RunConfig, splits):
        self.config, self.splits = config, splits
        seed_everything(config.seed)  # same order as core: seed, load, head init
        bundle = load_encoder(config.model, pooling=config.pooling)
        self.model = TextClassifier(bundle.encoder, bundle.pooling, len(splits.label_names), config.dropout)
        self.tokenizer = bundle.tokenizer
        groups = get_strategy("frozen").prepare(self.model, config)  # head only, core's decay groups
        self.optimizer = torch.optim.AdamW(groups, eps=1e-8)
        total = math.ceil(len(splits.train) / config.batch_size) * config.epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_then_linear_decay(total, int(config.warmup_ratio * total)))
        self.train_ids = tokenize(self.tokenizer, splits.train.texts, config.max_length)
        self.val_ids = tokenize(self.tokenizer, splits.val.texts, config.max_length)
        self.train_y, self.val_y = torch.tensor(splits.train.labels), torch.tensor(splits.val.labels)

    def train_epoch(self, epoch: int) -> None:
        """Core's batch order for cached features (seeded randperm), but encoder forward per batch."""
        cfg, model = self.config, self.model
        model.train()
        model.encoder.eval()  # frozen encoder: no dropout, same features as core's cache
        order = torch.randperm(len(self.train_y), generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            ids, mask = collate([self.train_ids[i] for i in idx], self.tokenizer.pad_token_id)
            loss = F.cross_entropy(model(ids, mask).float(), self.train_y[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], cfg.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)

    @torch.inference_mode()
    def val_accuracy(self) -> float:
        """Validation accuracy, re-encoding the validation texts (length-grouped batches of 64)."""
        self.model.eval()
        correct = 0
        for idx, ids, mask in token_batches(self.val_ids, EVAL_BATCH_SIZE, self.tokenizer.pad_token_id, shuffle=False):
            correct += int((self.model(ids, mask).argmax(-1) == self.val_y[torch.as_tensor(idx)]).sum())
        return correct / len(self.val_y)

    def fit(self) -> int:
        """All epochs, keeping the head of the best validation epoch (as core.training.fit does)."""
        best_accuracy, best_epoch, best_state = -1.0, 0, None
        for epoch in range(1, self.config.epochs + 1):
            self.train_epoch(epoch)
            accuracy = self.val_accuracy()
            if accuracy > best_accuracy:
                best_accuracy, best_epoch = accuracy, epoch
                best_state = {k: v.detach().clone() for k, v in self.model.head.state_dict().items()}
        if best_epoch != self.config.epochs:
            self.model.head.load_state_dict(best_state)
        return best_epoch


_TEST_FEATURES: dict[int, torch.Tensor] = {}


@torch.inference_mode()
def naive_test_accuracy(naive: NaiveFrozen, splits) -> float:
    """Held-out accuracy of the naive head. The frozen encoder's test features are computed once
    per process and reused: exactly what EncoderPredictor computes (same eval-mode encoder, same
    batches of 64), but one 1,000-review encoding instead of one per run. Not timed either way."""
    length = naive.config.max_length
    if length not in _TEST_FEATURES:
        _TEST_FEATURES[length] = compute_features(naive.model, naive.tokenizer, splits.test.texts, length)
    naive.model.eval()
    predicted = naive.model.head(_TEST_FEATURES[length]).argmax(-1).numpy()
    return float((predicted == np.asarray(splits.test.labels)).mean())


def naive_run(config: RunConfig, splits) -> dict:
    """Time the naive loop like core's train_seconds (model load to trained head), then test it."""
    started = time.perf_counter()
    naive = NaiveFrozen(config, splits)
    best_epoch = naive.fit()
    train_seconds = time.perf_counter() - started
    return {"train_seconds": train_seconds, "test_accuracy": naive_test_accuracy(naive, splits),
            "best_epoch": best_epoch, "epochs_run": config.epochs}


def compare(epochs: int, splits, reps: int) -> dict:
    """Cached and naive runs at `epochs`, interleaved; medians, speed-up and accuracy gap."""
    config = frozen_config(epochs)
    runs = {"cached": [], "naive": []}
    for label in interleaved(["cached", "naive"], reps):
        log(f"{epochs} epochs: {label}")
        runs[label].append((cached_run if label == "cached" else naive_run)(config, splits))
        log(f"  {runs[label][-1]['train_seconds']:.1f} s, accuracy {runs[label][-1]['test_accuracy']:.3f}")
    seconds = {k: median(r["train_seconds"] for r in v) for k, v in runs.items()}
    accuracy = {k: median(r["test_accuracy"] for r in v) for k, v in runs.items()}
    speedup = seconds["naive"] / seconds["cached"]
    gap = abs(accuracy["naive"] - accuracy["cached"])
    texts = len(splits.train) + len(splits.val)
    target = TARGETS.get(epochs)
    return {"epochs": epochs, "runs": runs, "median_train_seconds": seconds, "test_accuracy": accuracy,
            "speedup": speedup, "accuracy_gap": gap,
            "texts_encoded": {"naive": epochs * texts, "cached": texts},
            "speedup_upper_bound_if_only_encoding_cost": float(epochs),
            "target": {"speedup_min": target, "accuracy_gap_max": ACCURACY_TOLERANCE,
                       "pass": (target is None or speedup >= target) and gap <= ACCURACY_TOLERANCE}}


def main() -> None:
    """Both epoch counts, write bench/results/frozen_cache.json."""
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", default="3,10", help="comma-separated epoch counts")
    p.add_argument("--reps", type=int, default=1, help="runs per side per epoch count (interleaved)")
    args = p.parse_args()
    info = machine_info()
    n_train, n_test = (64, 64) if args.quick else (1000, 1000)
    epoch_list = [1, 2] if args.quick else [int(e) for e in args.epochs.split(",")]
    splits = make_splits(load_source("imdb"), n_train=n_train, n_test=n_test, seed=0)
    warm_up()
    results = [compare(e, splits, args.reps) for e in epoch_list]
    for r in results:
        print(f"{r['epochs']:>2} epochs: cached {r['median_train_seconds']['cached']:.1f} s, naive "
              f"{r['median_train_seconds']['naive']:.1f} s -> {r['speedup']:.2f}x (target {r['target']['speedup_min']}x); "
              f"accuracy {r['test_accuracy']['cached']:.3f} vs {r['test_accuracy']['naive']:.3f}: {verdict(r['target']['pass'])}")
    settings = {"data": "imdb", "n_train": n_train, "n_val": len(splits.val), "n_test": n_test,
                "max_length": 128, "batch_size": 16, "reps": args.reps, "patience": 0}
    write_result("frozen_cache", args, info, {"settings": settings, "results": results})


if __name__ == "__main__":
    main()
