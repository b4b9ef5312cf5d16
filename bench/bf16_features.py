"""Probe for a proposed core change: bf16 autocast on CPU, for frozen features and training steps.

core runs the encoder in fp32 on CPU (core.training.autocast_for returns no autocast there). This
CPU has avx512_bf16, so oneDNN can run the matmuls in bfloat16. (1) Interleaved fp32 / bf16 timing
of core.features.compute_features on the same IMDb reviews (max length 128), the features'
agreement (cosine), and a logistic regression fitted on each feature set's training part and
scored on its held-out part. (2) Interleaved fp32 / bf16 full fine-tune steps (batch 16, IMDb,
max length 128; bench/hardware_efficiency.py's step). No target: it measures whether the change
is worth making.

    python bench/bf16_features.py [--quick]
"""

from __future__ import annotations

import contextlib

from _common import Stopwatch, interleaved, log, machine_info, median, parser, write_result

import numpy as np
import torch

from core.data import load_source, make_splits
from core.features import compute_features
from core.models import TextClassifier, load_encoder

MAX_LENGTH = 128


def cpu_flags() -> list[str]:
    """bf16 / AMX related CPU flags from /proc/cpuinfo."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return sorted(f for f in line.split() if "bf16" in f or "amx" in f)
    except OSError:
        pass
    return []


def features(model, tokenizer, texts, bf16: bool) -> tuple[torch.Tensor, float]:
    """(features, seconds) of core's compute_features, optionally under CPU bf16 autocast."""
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with ctx, Stopwatch() as sw:
        out = compute_features(model, tokenizer, texts, MAX_LENGTH)
    return out.float(), sw.seconds


def probe_accuracy(x: torch.Tensor, splits, n_train: int) -> float:
    """Held-out accuracy of a logistic regression on the first n_train rows (train texts first)."""
    from sklearn.linear_model import LogisticRegression

    x = x.numpy()
    clf = LogisticRegression(max_iter=2000).fit(x[:n_train], splits.train.labels)
    return float(clf.score(x[n_train:], splits.test.labels))


def train_steps(reps: int) -> dict:
    """Seconds of full fine-tune steps (16 x 128 IMDb tokens), fp32 and bf16 autocast interleaved."""
    from hardware_efficiency import build_model, real_batches, train_step

    model, tokenizer, optimizer = build_model()
    batches = real_batches(tokenizer, 16 * 3)
    seconds = {"fp32": [], "bf16": []}
    for i, label in enumerate(["fp32", "bf16"] + interleaved(["fp32", "bf16"], reps)):
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if label == "bf16" else contextlib.nullcontext()
        with ctx, Stopwatch() as sw:
            train_step(model, optimizer, batches[i % len(batches)])
        if i >= 2:  # the first two are warm-up
            seconds[label].append(sw.seconds)
            log(f"train step {label}: {sw.seconds:.2f} s")
    return seconds


def main() -> None:
    """Interleave fp32 / bf16 feature passes, write bench/results/bf16_features.json."""
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args()
    info = machine_info()
    n = 32 if args.quick else 300
    splits = make_splits(load_source("imdb"), n_train=n, n_test=n, seed=0)
    texts = list(splits.train.texts) + list(splits.test.texts)
    bundle = load_encoder()
    model = TextClassifier(bundle.encoder, bundle.pooling, 2)
    features(model, bundle.tokenizer, texts[:16], bf16=True)  # warm both code paths
    features(model, bundle.tokenizer, texts[:16], bf16=False)
    seconds, feats = {"fp32": [], "bf16": []}, {}
    for label in interleaved(["fp32", "bf16"], args.reps):
        feats[label], s = features(model, bundle.tokenizer, texts, bf16=label == "bf16")
        seconds[label].append(s)
        log(f"{label}: {len(texts)} texts in {s:.1f} s")
    steps = train_steps(args.reps * 2 if not args.quick else 1)
    cosine = torch.nn.functional.cosine_similarity(feats["fp32"], feats["bf16"], dim=1)
    results = {"settings": {"n_texts": len(texts), "max_length": MAX_LENGTH, "reps": args.reps, "cpu_flags": cpu_flags()},
               "seconds": seconds, "texts_per_second": {k: len(texts) / median(v) for k, v in seconds.items()},
               "speedup_bf16": median(seconds["fp32"]) / median(seconds["bf16"]),
               "cosine_fp32_bf16": {"min": float(cosine.min()), "median": float(cosine.median())},
               "probe_accuracy": {k: probe_accuracy(v, splits, n) for k, v in feats.items()},
               "train_step_seconds": steps,
               "train_step_speedup_bf16": median(steps["fp32"]) / median(steps["bf16"])}
    print(f"bf16 autocast features: {results['speedup_bf16']:.2f}x faster, cosine min {cosine.min():.4f}, "
          f"probe accuracy fp32 {results['probe_accuracy']['fp32']:.3f} vs bf16 {results['probe_accuracy']['bf16']:.3f}; "
          f"training step {results['train_step_speedup_bf16']:.2f}x faster")
    write_result("bf16_features", args, info, results)


if __name__ == "__main__":
    main()
