"""Full fine-tuning speed: core's loop vs Hugging Face `transformers.Trainer` with its defaults.

Same bundled MiniLM, same IMDb training and held-out reviews, max length 256, batch 16, LR 2e-5,
same epochs and seed. Core: RunConfig(strategy="full", max_length=256, batch_size=16, epochs=E,
seed=0) through core.training.train (length-grouped batches, each padded to its own longest text;
mean pooling; warmup, weight decay and a validation pass after each epoch, which is not counted
in its loop time). Trainer: AutoModelForSequenceClassification + TrainingArguments defaults
(fused AdamW, linear decay, no warmup, no weight decay, [CLS] pooler head) with the texts
tokenized as a typical script does, `padding="max_length"` (every example 256 tokens); variant
`trainer_dynamic` uses DataCollatorWithPadding (pads each random batch to its longest text).

Training samples/s = training examples x epochs / seconds inside the training loop (core: first
batch to last optimizer step of each epoch; Trainer: the `trainer.train()` call). End-to-end
seconds (model load + tokenizing + training, and for core its per-epoch validation) are also kept.
Target: core >= 1.3x Trainer (padded) samples/s, held-out accuracy not more than 0.01 below it.

    python bench/run.py vs_trainer [--quick] [--epochs 1] [--variants core,core_fp32,trainer_padded,trainer_bf16]

core's default precision ("auto") is bf16 autocast on CPUs with native bf16 (this one has
AVX512-BF16), like the bf16 GPU path; Trainer's default is fp32. core_fp32 and trainer_bf16 show
how much of the gap is padding and loop work and how much is precision.
"""

from __future__ import annotations

import tempfile

from _common import Stopwatch, interleaved, log, median, run_core, verdict, warm_up

import numpy as np
import torch

from core.config import RunConfig
from core.sources import load_bundled
from core.splits import make_splits
from core.models import bundled_model_path

TARGET_SPEEDUP = 1.3
ACCURACY_TOLERANCE = 0.01
MAX_LENGTH, BATCH, LR, SEED = 256, 16, 2e-5, 0


def core_run(splits, epochs: int, precision: str = "auto") -> dict:
    """core.training.train, full fine-tune (precision auto = bf16 autocast on a CPU with native bf16)."""
    config = RunConfig(strategy="full", max_length=MAX_LENGTH, batch_size=BATCH, epochs=epochs, seed=SEED,
                       lr_finetune=LR, precision=precision)
    out = run_core(config, splits)
    out["samples_per_second"] = len(splits.train) * out["epochs_run"] / out["loop_seconds"]
    out["end_to_end_seconds"] = out["train_seconds"]
    return out


def hf_datasets(tokenizer, splits, dynamic: bool):
    """datasets.Dataset train/test sets, tokenized as a user script would (padded to 256 unless dynamic)."""
    from datasets import Dataset

    def encode(part):
        """One split as a Dataset with input_ids, attention_mask (and token_type_ids), labels."""
        padding = False if dynamic else "max_length"
        enc = tokenizer(list(part.texts), truncation=True, max_length=MAX_LENGTH, padding=padding)
        return Dataset.from_dict({**enc, "labels": list(part.labels)})

    return encode(splits.train), encode(splits.test)


def training_arguments(epochs: int, output_dir: str, bf16: bool = False):
    """TrainingArguments defaults plus what the brief fixes (batch, LR, epochs, seed, no saving/logging);
    `bf16` is Trainer's own switch for bf16 autocast (off by default)."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=BATCH, per_device_eval_batch_size=64,
        learning_rate=LR, num_train_epochs=epochs, seed=SEED, report_to="none", save_strategy="no",
        disable_tqdm=True, use_cpu=not torch.cuda.is_available(), bf16=bf16)


def trainer_run(splits, epochs: int, dynamic: bool, bf16: bool = False) -> dict:
    """Hugging Face Trainer on the same data; timing of trainer.train() and of everything before it."""
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, set_seed)

    path = str(bundled_model_path())
    with Stopwatch() as setup:
        set_seed(SEED)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(splits.label_names))
        train_ds, test_ds = hf_datasets(tokenizer, splits, dynamic)
    with tempfile.TemporaryDirectory() as out_dir:
        trainer = Trainer(model=model, args=training_arguments(epochs, out_dir, bf16), train_dataset=train_ds,
                          data_collator=DataCollatorWithPadding(tokenizer) if dynamic else None)
        with Stopwatch() as sw:
            output = trainer.train()
        logits = trainer.predict(test_ds).predictions
    accuracy = float((np.asarray(logits).argmax(-1) == np.asarray(splits.test.labels)).mean())
    return {"loop_seconds": sw.seconds, "train_runtime_reported": output.metrics.get("train_runtime"),
            "samples_per_second": len(splits.train) * epochs / sw.seconds,
            "end_to_end_seconds": setup.seconds + sw.seconds, "test_accuracy": accuracy,
            "steps": output.global_step, "optimizer": str(trainer.args.optim)}


def real_token_share(splits) -> dict:
    """Tokens the loop really processes at 256: core's length-grouped batches vs padding to 256."""
    from core.batching import length_grouped_batches, tokenize
    from core.models import load_tokenizer

    lengths = np.array([len(x) for x in tokenize(load_tokenizer(), splits.train.texts, MAX_LENGTH)])
    grouped = length_grouped_batches(lengths, BATCH, shuffle=True, seed=SEED * 1000 + 1)
    padded_grouped = sum(len(b) * lengths[b].max() for b in grouped)
    return {"real_tokens": int(lengths.sum()), "core_padded_tokens": int(padded_grouped),
            "max_length_padded_tokens": int(len(lengths) * MAX_LENGTH),
            "median_length": float(np.median(lengths)), "share_at_max_length": float((lengths == MAX_LENGTH).mean())}


def run_variant(name: str, splits, epochs: int) -> dict:
    """Dispatch one variant by name: core (default precision), core_fp32, trainer_padded (Trainer defaults),
    trainer_bf16 (Trainer with bf16=True), trainer_dynamic (DataCollatorWithPadding)."""
    if name.startswith("core"):
        return core_run(splits, epochs, precision="fp32" if name == "core_fp32" else "auto")
    return trainer_run(splits, epochs, dynamic=name == "trainer_dynamic", bf16=name == "trainer_bf16")


def add_arguments(p) -> None:
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--reps", type=int, default=1, help="runs per variant (interleaved)")
    p.add_argument("--variants", default="core,trainer_padded,trainer_dynamic",
                   help="comma-separated: core, core_fp32, trainer_padded, trainer_bf16, trainer_dynamic")


def run(args) -> dict:
    """Interleave the variants; quick: 32 reviews."""
    n = 32 if args.quick else 500
    splits = make_splits(load_bundled("imdb"), n_train=n, n_test=n, seed=SEED)
    variants = args.variants.split(",")
    warm_up()
    runs = {v: [] for v in variants}
    for name in interleaved(variants, args.reps):
        log(f"{name}: {n} reviews x {args.epochs} epoch(s)")
        runs[name].append(run_variant(name, splits, args.epochs))
        log(f"  {runs[name][-1]['samples_per_second']:.2f} samples/s, accuracy {runs[name][-1]['test_accuracy']:.3f}")
    summary = {v: {k: median(r[k] for r in rs) for k in ("samples_per_second", "loop_seconds",
                                                         "end_to_end_seconds", "test_accuracy")}
               for v, rs in runs.items()}
    results = {"settings": {"data": "imdb", "n_train": n, "n_val": len(splits.val), "n_test": n, "epochs": args.epochs,
                            "max_length": MAX_LENGTH, "batch_size": BATCH, "lr": LR, "seed": SEED, "reps": args.reps},
               "tokens": real_token_share(splits), "runs": runs, "summary": summary,
               "comparisons": compare(summary)}
    return results


def compare(summary: dict) -> dict:
    """Each core variant's speed-up and accuracy gap against each Trainer variant. The target applies to
    core (its defaults) vs trainer_padded (Trainer's defaults); the others show where the gain comes from."""
    out = {}
    for mine in (name for name in summary if name.startswith("core")):
        core = summary[mine]
        for name, other in summary.items():
            if name.startswith("core"):
                continue
            speedup = core["samples_per_second"] / other["samples_per_second"]
            gap = core["test_accuracy"] - other["test_accuracy"]
            ok = speedup >= TARGET_SPEEDUP and gap >= -ACCURACY_TOLERANCE
            key = name if mine == "core" else f"{mine}_vs_{name}"
            out[key] = {"speedup_samples_per_second": speedup,
                        "speedup_end_to_end": other["end_to_end_seconds"] / core["end_to_end_seconds"],
                        "accuracy_core_minus_trainer": gap,
                        "target": {"speedup_min": TARGET_SPEEDUP, "accuracy_gap_min": -ACCURACY_TOLERANCE,
                                   "applies": mine == "core" and name == "trainer_padded", "pass": ok}}
            print(f"{mine} vs {name}: {speedup:.2f}x samples/s (end to end {out[key]['speedup_end_to_end']:.2f}x), "
                  f"accuracy {core['test_accuracy']:.3f} vs {other['test_accuracy']:.3f}: {verdict(ok)}")
    return out


if __name__ == "__main__":  # the same as `python bench/run.py vs_trainer ARGS`
    import run as runner

    runner.main_as_script(__file__)
