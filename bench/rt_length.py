"""Rotten Tomatoes epoch cost at max_length 256 vs 64: dynamic padding makes cost follow real tokens.

One `full` epoch (core.training.train, epochs=1) on 1,000 Rotten Tomatoes sentences at each
length, interleaved 64, 256, 256, 64 so that load drift hits both alike; medians compared.
Target: time(256) / time(64) <= 1.2.

    python bench/run.py rt_length [--quick] [--reps 2]
"""

from __future__ import annotations

from _common import interleaved, log, median, run_core, verdict

from core.config import RunConfig
from core.sources import load_bundled
from core.splits import make_splits
from core.models import load_tokenizer

TARGET_RATIO = 1.2
LENGTHS = (64, 256)


def token_counts(texts, max_length: int) -> dict:
    """Real (unpadded) tokens the loop sees at `max_length`, and how many texts are truncated."""
    ids = load_tokenizer()(list(texts), truncation=False)["input_ids"]
    kept = [min(len(x), max_length) for x in ids]
    return {"tokens": sum(kept), "truncated_texts": sum(len(x) > max_length for x in ids),
            "median_tokens": median([len(x) for x in ids]), "max_tokens": max(len(x) for x in ids)}


def add_arguments(p) -> None:
    p.add_argument("--reps", type=int, default=2, help="runs per length (interleaved)")


def run(args) -> dict:
    """Both lengths interleaved; quick: 64 sentences, one run each."""
    n_train, n_test, reps = (64, 32, 1) if args.quick else (1000, 200, args.reps)
    splits = make_splits(load_bundled("rotten_tomatoes"), n_train=n_train, n_test=n_test, seed=0)
    runs = {length: [] for length in LENGTHS}
    for label in interleaved([str(n) for n in LENGTHS], reps):
        length = int(label)
        log(f"full, 1 epoch, max_length {length}")
        config = RunConfig(strategy="full", max_length=length, batch_size=16, epochs=1, seed=0)
        runs[length].append(run_core(config, splits))
    med = {n: {k: median(r[k] for r in runs[n]) for k in ("train_seconds", "loop_seconds")} for n in LENGTHS}
    ratio = med[256]["train_seconds"] / med[64]["train_seconds"]
    loop_ratio = med[256]["loop_seconds"] / med[64]["loop_seconds"]
    results = {
        "settings": {"data": "rotten_tomatoes", "n_train": n_train, "n_val": len(splits.val), "n_test": n_test,
                     "strategy": "full", "epochs": 1, "batch_size": 16, "reps": reps},
        "tokens": {n: token_counts(splits.train.texts, n) for n in LENGTHS},
        "runs": runs, "medians": med,
        "ratio_train_seconds_256_over_64": ratio, "ratio_loop_seconds_256_over_64": loop_ratio,
        "target": {"ratio_max": TARGET_RATIO, "pass": ratio <= TARGET_RATIO},
    }
    print(f"one epoch: 64 -> {med[64]['train_seconds']:.1f} s, 256 -> {med[256]['train_seconds']:.1f} s, "
          f"ratio {ratio:.3f} (loop only {loop_ratio:.3f}); target <= {TARGET_RATIO}: {verdict(ratio <= TARGET_RATIO)}")
    return results


if __name__ == "__main__":  # the same as `python bench/run.py rt_length ARGS`
    import run as runner

    runner.main_as_script(__file__)
