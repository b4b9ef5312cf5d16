"""Step-interleaved companion of vs_trainer.py: core's training step vs Trainer's, on the same reviews.

Whole runs of vs_trainer.py last ~4 minutes each, and on this shared 2-core machine the load
changes within minutes (runs of identical work differed by 15-20%). Here the two steps alternate
batch by batch (A B, B A, ...), so both see the same load:
  core:    TextClassifier (mean pooling) + AdamW as core.training builds it (foreach, fp32) + clipping,
           on one of core's length-grouped batches (padded to its own longest review);
  trainer: AutoModelForSequenceClassification + AdamW(fused=True) (Trainer's default optimizer)
           + clipping, on the same 16 reviews padded to max_length=256 (the typical user script).
IMDb, the same 500 training reviews as vs_trainer.py, max length 256, batch 16, LR 2e-5.
Reports samples/s of each (sum over the paired batches) and their ratio. Target as vs_trainer: >= 1.3x.

    python bench/vs_trainer_steps.py [--quick] [--batches 0]

By default every batch of one epoch over the 500 reviews is timed on both sides (a warm-up step
on the last batch first), so the token mix is exactly the epoch's.
"""

from __future__ import annotations

from _common import Stopwatch, log, machine_info, median, parser, verdict, warm_up, write_result

import torch
import torch.nn.functional as F

from core.batching import token_batches, tokenize
from core.data import load_source, make_splits
from core.models import TextClassifier, bundled_model_path, load_encoder
from core.strategies import decay_groups
from core.training import seed_everything

MAX_LENGTH, BATCH, LR, TARGET = 256, 16, 2e-5, 1.3


def build_core():
    """Core's model and optimizer for `full` on CPU."""
    seed_everything(0)
    bundle = load_encoder()
    model = TextClassifier(bundle.encoder, bundle.pooling, 2, dropout=0.3).train()
    optimizer = torch.optim.AdamW(decay_groups(model.named_parameters(), LR, 0.01), eps=1e-8)
    return model, optimizer, bundle.tokenizer


def build_trainer_side():
    """Trainer's model and its default optimizer (adamw_torch_fused: AdamW(fused=True), no weight decay)."""
    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(bundled_model_path()), num_labels=2).train()
    return model, torch.optim.AdamW(model.parameters(), lr=LR, fused=True)


def paired_batches(tokenizer, n_batches: int) -> list[dict]:
    """Core's length-grouped training batches and the same reviews padded to 256."""
    splits = make_splits(load_source("imdb"), n_train=500, n_test=500, seed=0)
    ids = tokenize(tokenizer, splits.train.texts, MAX_LENGTH)
    labels = torch.tensor(splits.train.labels)
    out = []
    for idx, core_ids, core_mask in token_batches(ids, BATCH, tokenizer.pad_token_id, shuffle=True, seed=1001):
        padded = tokenizer([splits.train.texts[i] for i in idx], truncation=True, max_length=MAX_LENGTH,
                           padding="max_length", return_tensors="pt")
        out.append({"core": (core_ids, core_mask), "trainer": dict(padded), "labels": labels[torch.as_tensor(idx)],
                    "real_tokens": int(core_mask.sum()), "core_tokens": core_mask.numel()})
    return out if n_batches <= 0 else out[:n_batches]


def core_step(model, optimizer, batch) -> None:
    """Forward, loss, backward, clip, AdamW step (core.training's loop on CPU)."""
    ids, mask = batch["core"]
    F.cross_entropy(model(ids, mask).float(), batch["labels"]).backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def trainer_step(model, optimizer, batch) -> None:
    """What Trainer does per step: model(**inputs, labels).loss, backward, clip (max_grad_norm 1.0), step."""
    model(**batch["trainer"], labels=batch["labels"]).loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def measure(sides: dict, batches: list[dict]) -> dict:
    """Alternate the two steps batch by batch (core first on even batches); seconds per side."""
    seconds = {"core": [], "trainer": []}
    for i, batch in enumerate(batches):
        order = ["core", "trainer"] if i % 2 == 0 else ["trainer", "core"]
        for name in order:
            model, optimizer, step = sides[name]
            with Stopwatch() as sw:
                step(model, optimizer, batch)
            seconds[name].append(sw.seconds)
        log(f"batch {i + 1}/{len(batches)}: core {seconds['core'][-1]:.2f} s, trainer {seconds['trainer'][-1]:.2f} s")
    return seconds


def main() -> None:
    """Warm up both sides, measure, write bench/results/vs_trainer_steps.json."""
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=0, help="timed batches; 0 = the whole epoch (32)")
    args = p.parse_args()
    info = machine_info()
    warm_up()
    core_model, core_opt, tokenizer = build_core()
    hf_model, hf_opt = build_trainer_side()
    sides = {"core": (core_model, core_opt, core_step), "trainer": (hf_model, hf_opt, trainer_step)}
    batches = paired_batches(tokenizer, 2 if args.quick else args.batches)
    core_step(core_model, core_opt, batches[-1])  # warm-up, not timed
    trainer_step(hf_model, hf_opt, batches[-1])
    seconds = measure(sides, batches)
    n = sum(len(b["labels"]) for b in batches)
    rate = {k: n / sum(v) for k, v in seconds.items()}
    paired = [t / c for c, t in zip(seconds["core"], seconds["trainer"])]
    speedup = rate["core"] / rate["trainer"]
    tokens = {"real": sum(b["real_tokens"] for b in batches), "core": sum(b["core_tokens"] for b in batches),
              "trainer": n * MAX_LENGTH}
    print(f"core {rate['core']:.2f} samples/s vs trainer step {rate['trainer']:.2f} samples/s: {speedup:.2f}x "
          f"(median paired {median(paired):.2f}x; tokens core/trainer {tokens['core'] / tokens['trainer']:.3f}); "
          f"target >= {TARGET}x: {verdict(speedup >= TARGET)}")
    write_result("vs_trainer_steps", args, info, {
        "settings": {"data": "imdb", "n_batches": len(batches), "n_examples": n, "batch_size": BATCH, "max_length": MAX_LENGTH},
        "seconds": seconds, "samples_per_second": rate, "speedup": speedup, "paired_speedups": paired,
        "paired_speedup_median": median(paired), "tokens": tokens,
        "target": {"speedup_min": TARGET, "pass": speedup >= TARGET}})


if __name__ == "__main__":
    main()
