"""Step-interleaved companion of vs_trainer.py: core's training step vs Trainer's, on the same reviews.

Whole runs of vs_trainer.py last ~4 minutes each, and on this shared 2-core machine the load
changes within minutes (runs of identical work differed by 15-20%). Here the two steps alternate
batch by batch (A B, B A, ...), so both see the same load:
  core:    core's own step (core.loop.train_step with core.loop.Optimization: fused AdamW, clipping,
           schedule) for `full` on TextClassifier (mean pooling), on one of core's length-grouped
           batches (padded to its own longest review);
  trainer: AutoModelForSequenceClassification + AdamW(fused=True) (Trainer's default optimizer)
           + clipping, on the same 16 reviews padded to max_length=256 (the typical user script).
Both sides run at the same --precision (default fp32, Trainer's default; bf16 autocasts the Trainer
step as Trainer's bf16=True does), so the ratio is the loop's work, not a precision gain.
IMDb, the same 500 training reviews as vs_trainer.py, max length 256, batch 16, LR 2e-5.
Reports samples/s of each (sum over the paired batches) and their ratio. Target as vs_trainer: >= 1.3x.

    python bench/run.py vs_trainer_steps [--quick] [--batches 0] [--precision fp32]

By default every batch of one epoch over the 500 reviews is timed on both sides (a warm-up step
on the last batch first), so the token mix is exactly the epoch's.
"""

from __future__ import annotations

from _common import Stopwatch, dtype_name, full_fine_tune, log, median, review_batches, verdict, warm_up

import torch

from core.loop import train_step
from core.models import bundled_model_path
from core.precision import autocast_for

MAX_LENGTH, BATCH, LR, TARGET = 256, 16, 2e-5, 1.3


def add_arguments(p) -> None:
    p.add_argument("--batches", type=int, default=0, help="timed batches; 0 = the whole epoch (32)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"), help="of both sides")


class CoreSide:
    """Core's model, optimization and training step for `full`."""

    def __init__(self, precision: str):
        self.model, self.optimization, self.tokenizer = full_fine_tune(precision, lr=LR)
        self.targets = None  # set with the batches

    def step(self, batch: dict) -> None:
        train_step(self.model, self.optimization, batch["inputs"], batch["labels"], self.targets)


class TrainerSide:
    """Trainer's model and its default optimizer (adamw_torch_fused: AdamW(fused=True), no weight decay);
    its step: model(**inputs, labels).loss, backward, clip (max_grad_norm 1.0), step, zero_grad."""

    def __init__(self, precision: str):
        from transformers import AutoModelForSequenceClassification, set_seed

        set_seed(0)
        path = str(bundled_model_path())
        self.model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LR, fused=True)
        self.autocast, _ = autocast_for(torch.device("cpu"), precision)

    def step(self, batch: dict) -> None:
        with self.autocast():
            loss = self.model(**batch["padded"], labels=batch["labels"][:, 0].long()).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def paired_batches(core: CoreSide, n_batches: int) -> list[dict]:
    """Core's length-grouped training batches of 500 reviews, each with the same reviews padded to 256."""
    batches, core.targets, texts = review_batches(core.tokenizer, 500, MAX_LENGTH, BATCH, seed=1001, n_test=500)
    for batch in batches:
        batch["padded"] = dict(core.tokenizer([texts[i] for i in batch["indices"]], truncation=True,
                                              max_length=MAX_LENGTH, padding="max_length", return_tensors="pt"))
    return batches if n_batches <= 0 else batches[:n_batches]


def measure(sides: dict, batches: list[dict]) -> dict:
    """Alternate the two steps batch by batch (core first on even batches); seconds per side."""
    seconds = {"core": [], "trainer": []}
    for i, batch in enumerate(batches):
        for name in (["core", "trainer"] if i % 2 == 0 else ["trainer", "core"]):
            with Stopwatch() as sw:
                sides[name].step(batch)
            seconds[name].append(sw.seconds)
        log(f"batch {i + 1}/{len(batches)}: core {seconds['core'][-1]:.2f} s, trainer {seconds['trainer'][-1]:.2f} s")
    return seconds


def run(args) -> dict:
    """Warm up both sides on the last batch, then measure; quick: 2 batches."""
    warm_up()
    sides = {"core": CoreSide(args.precision), "trainer": TrainerSide(args.precision)}
    batches = paired_batches(sides["core"], 2 if args.quick else args.batches)
    for side in sides.values():
        side.step(batches[-1])  # warm-up, not timed
    seconds = measure(sides, batches)
    n = sum(len(b["labels"]) for b in batches)
    rate = {k: n / sum(v) for k, v in seconds.items()}
    paired = [t / c for c, t in zip(seconds["core"], seconds["trainer"])]
    speedup = rate["core"] / rate["trainer"]
    masks = [b["inputs"]["attention_mask"] for b in batches]
    tokens = {"real": sum(int(m.sum()) for m in masks), "core": sum(m.numel() for m in masks),
              "trainer": n * MAX_LENGTH}
    print(f"core {rate['core']:.2f} samples/s vs trainer step {rate['trainer']:.2f} samples/s: {speedup:.2f}x "
          f"(median paired {median(paired):.2f}x; tokens core/trainer {tokens['core'] / tokens['trainer']:.3f}); "
          f"target >= {TARGET}x: {verdict(speedup >= TARGET)}")
    return {"settings": {"data": "imdb", "n_batches": len(batches), "n_examples": n, "batch_size": BATCH,
                         "max_length": MAX_LENGTH, "precision": args.precision, "dtype": dtype_name(args.precision),
                         "core_step": "core.loop.train_step (fused AdamW)"},
            "seconds": seconds, "samples_per_second": rate, "speedup": speedup, "paired_speedups": paired,
            "paired_speedup_median": median(paired), "tokens": tokens,
            "target": {"speedup_min": TARGET, "pass": speedup >= TARGET}}


if __name__ == "__main__":  # the same as `python bench/run.py vs_trainer_steps ARGS`
    import run as runner

    runner.main_as_script(__file__)
