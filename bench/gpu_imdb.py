"""One GPU, all of IMDb: `full` and `frozen` MiniLM over the 25,000 bundled reviews at max length 256.

The bundled IMDb set is the 25,000 reviews of IMDb's training split (24,902 once empty and repeated
reviews are dropped), so the held-out accuracy needs reviews the model never sees: 500 are kept for
validation and 1,000 for the test, and the other 23,402 train
(make_splits, seed 0). Each strategy runs through core.training.train (bundled MiniLM, precision
auto = bf16 autocast on a GPU with bf16, batch 32, one epoch), after an untimed warm-up run that
pays CUDA's start-up costs. Recorded per strategy: training samples/s inside the loop (first batch to
last optimizer step, as bench/vs_trainer.py counts it) and end to end (model load, tokenizing,
frozen's feature pass, validation), the peak GPU memory (torch.cuda.max_memory_allocated, reset
before each run) and the held-out accuracy.
Target: `full`, one epoch over 25,000 reviews in under 60 s on one H100-class GPU, judged on the
loop's samples/s (25,000 / samples per second).

    python bench/run.py gpu_imdb [--batch-size 32] [--strategies full,frozen] [--tag h100]
    python bench/run.py gpu_imdb --quick                  # 2,000 reviews, to check the setup on the GPU
    python bench/run.py gpu_imdb --quick --allow-cpu      # a smoke check of the code on a CPU: tiny subset

Without a CUDA device it stops with a message instead (`python bench/run.py all` leaves it out there).
Several GPUs train one model with `python -m core compare --devices N` (see README, "Several GPUs").
"""

from __future__ import annotations

from _common import Stopwatch, log, run_core, verdict, warm_up

import torch

from core.config import RunConfig
from core.precision import compute_dtype
from core.sources import load_bundled
from core.splits import make_splits
from core.training import release_memory

NEEDS_CUDA = True  # read by bench/run.py: `all` leaves this case out on a machine without a CUDA GPU
TARGET_SECONDS, TARGET_REVIEWS = 60.0, 25_000
MAX_LENGTH, N_VAL, N_TEST = 256, 500, 1000
QUICK_GPU = {"n_train": 2000, "n_val": 200, "n_test": 500, "max_length": MAX_LENGTH}
SMOKE_CPU = {"n_train": 48, "n_val": 16, "n_test": 32, "max_length": 128}


def add_arguments(p) -> None:
    p.add_argument("--strategies", default="full,frozen", help="comma-separated strategies to time")
    p.add_argument("--batch-size", type=int, default=32, help="texts per optimizer step")
    p.add_argument("--epochs", type=int, default=1, help="passes over the training reviews")
    p.add_argument("--allow-cpu", action="store_true",
                   help="without a CUDA device, run a smoke check on a tiny subset (needs --quick)")


def sizes(args, cuda: bool) -> dict:
    """Split sizes and max length: all of IMDb on a GPU; less in quick mode; a few reviews on a CPU."""
    if not cuda:
        if not (args.allow_cpu and args.quick):
            raise SystemExit("gpu_imdb needs a CUDA GPU and none is visible: it times `full` and `frozen` over IMDb's "
                             "25,000 reviews on one GPU. For a smoke check of the code on this CPU run "
                             "`python bench/run.py gpu_imdb --quick --allow-cpu`.")
        return SMOKE_CPU
    if args.quick:
        return QUICK_GPU
    return {"n_train": None, "n_val": N_VAL, "n_test": N_TEST, "max_length": MAX_LENGTH}  # None: every other review


def timed_run(config: RunConfig, splits, cuda: bool) -> dict:
    """core.training.train with the loop clock, plus samples/s and the peak GPU memory of this run alone."""
    release_memory()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    out = run_core(config, splits)
    samples = len(splits.train) * out["epochs_run"]
    out["samples_per_second"] = samples / out["loop_seconds"]
    out["end_to_end_samples_per_second"] = samples / out["train_seconds"]
    out["seconds_per_25000_reviews"] = TARGET_REVIEWS / out["samples_per_second"]
    out["peak_gpu_memory_bytes"] = torch.cuda.max_memory_allocated() if cuda else None
    return out


def run(args) -> dict:
    """Each strategy once on the same split, after a warm-up run on a GPU."""
    cuda = torch.cuda.is_available()
    size = sizes(args, cuda)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    reviews = load_bundled("imdb")  # 24,902 once empty and repeated reviews are dropped
    size["n_train"] = size["n_train"] or len(reviews) - size["n_val"] - size["n_test"]
    splits = make_splits(reviews, n_train=size["n_train"], n_val=size["n_val"], n_test=size["n_test"], seed=0)
    base = RunConfig(max_length=size["max_length"], batch_size=args.batch_size, epochs=args.epochs, seed=0)
    warm_up()
    if cuda:
        log("warm-up: full on 256 reviews, untimed")
        small = make_splits(load_bundled("imdb"), n_train=256, n_val=32, n_test=32, seed=1)
        with Stopwatch() as sw:
            run_core(base.replace(strategy="full", epochs=1), small)
        log(f"warm-up took {sw.seconds:.1f} s")
    runs = {}
    for strategy in strategies:
        log(f"{strategy}: {len(splits.train):,} reviews x {args.epochs} epoch(s), max length {size['max_length']}, "
            f"batch {args.batch_size}")
        runs[strategy] = timed_run(base.replace(strategy=strategy), splits, cuda)
        r = runs[strategy]
        peak = f"{r['peak_gpu_memory_bytes'] / 2**30:.2f} GiB" if cuda else "no GPU"
        print(f"{strategy:<8} {r['samples_per_second']:8.1f} samples/s in the loop, "
              f"{r['end_to_end_samples_per_second']:8.1f} end to end; peak {peak}; "
              f"held-out accuracy {r['test_accuracy']:.3f}")
    device = torch.device("cuda" if cuda else "cpu")
    settings = {"data": "imdb", **size, "strategies": strategies, "batch_size": args.batch_size, "epochs": args.epochs,
                "precision": "auto", "dtype": str(compute_dtype(device, "auto")).replace("torch.", ""),
                "device": torch.cuda.get_device_name() if cuda else "cpu (smoke check)",
                "gpu_memory_bytes": torch.cuda.get_device_properties(0).total_memory if cuda else None}
    full = runs.get("full")
    seconds = full["seconds_per_25000_reviews"] if full else None
    applies = full is not None and cuda and not args.quick  # the target is for all of IMDb on a GPU
    passed = seconds <= TARGET_SECONDS if applies else None
    if full is not None:
        print(f"full: one epoch over 25,000 reviews = {seconds:.1f} s; target <= {TARGET_SECONDS:.0f} s: "
              f"{verdict(passed) if applies else 'not judged (quick or CPU)'}")
    return {"settings": settings, "runs": runs,
            "target": {"full_seconds_per_25000_reviews_max": TARGET_SECONDS, "full_seconds_per_25000_reviews": seconds,
                       "pass": passed}}


if __name__ == "__main__":  # the same as `python bench/run.py gpu_imdb ARGS`
    import run as runner

    runner.main_as_script(__file__)
