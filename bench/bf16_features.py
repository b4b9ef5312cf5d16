"""Precision gain on this CPU: core's frozen features and core's training step, fp32 vs bf16.

(1) Interleaved fp32 / bf16 timing of core.features.compute_features(precision=...) on the same IMDb
reviews (max length 128), the features' agreement (cosine), and a logistic regression fitted on each
feature set's training part and scored on its held-out part. (2) Interleaved full fine-tune steps
(core.loop.train_step with core.loop.Optimization at precision fp32 and bf16; batch 16, IMDb, max
length 128). bf16 pays off only on CPUs with native bf16 (AVX512-BF16 / AMX): `cpu_flags` says
which this one has. No target: core's precision "auto" already picks bf16 on such CPUs.

    python bench/run.py bf16_features [--quick] [--reps 2]
"""

from __future__ import annotations

from _common import Stopwatch, full_fine_tune, interleaved, log, median, review_batches

import torch

from core.features import compute_features
from core.loop import train_step
from core.models import TextClassifier, load_encoder
from core.sources import load_bundled
from core.splits import make_splits

MAX_LENGTH = 128
PRECISIONS = ["fp32", "bf16"]


def add_arguments(p) -> None:
    p.add_argument("--reps", type=int, default=2, help="feature passes per precision (steps: twice as many)")


def cpu_flags() -> list[str]:
    """bf16 / AMX related CPU flags from /proc/cpuinfo."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return sorted(f for f in line.split() if "bf16" in f or "amx" in f)
    except OSError:
        pass
    return []


def probe_accuracy(x: torch.Tensor, splits, n_train: int) -> float:
    """Held-out accuracy of a logistic regression on the first n_train rows (train texts first)."""
    from sklearn.linear_model import LogisticRegression

    x = x.numpy()
    clf = LogisticRegression(max_iter=2000).fit(x[:n_train], splits.train.labels)
    return float(clf.score(x[n_train:], splits.test.labels))


def feature_passes(splits, reps: int) -> tuple[dict, dict]:
    """({precision: seconds per pass}, {precision: features}) of compute_features over train + test texts."""
    texts = list(splits.train.texts) + list(splits.test.texts)
    bundle = load_encoder()
    model = TextClassifier(bundle.encoder, bundle.pooling, 2)
    for precision in PRECISIONS:  # warm both code paths
        compute_features(model, bundle.tokenizer, texts[:16], MAX_LENGTH, precision=precision)
    seconds, feats = {p: [] for p in PRECISIONS}, {}
    for precision in interleaved(PRECISIONS, reps):
        with Stopwatch() as sw:
            feats[precision] = compute_features(model, bundle.tokenizer, texts, MAX_LENGTH, precision=precision)
        seconds[precision].append(sw.seconds)
        log(f"features {precision}: {len(texts)} texts in {sw.seconds:.1f} s")
    return seconds, feats


def train_steps(reps: int) -> dict:
    """Seconds of core's full fine-tune step (16 x 128 IMDb tokens), fp32 and bf16 interleaved, after
    one untimed warm-up step each. The two models start from the same seed and see the same batches."""
    sides = {p: full_fine_tune(p, lr=2e-5) for p in PRECISIONS}
    batches, targets, _ = review_batches(sides["fp32"][2], 16 * 3, MAX_LENGTH, 16, seed=0)
    seconds = {p: [] for p in PRECISIONS}
    for i, precision in enumerate(PRECISIONS + interleaved(PRECISIONS, reps)):
        model, optimization, _ = sides[precision]
        batch = batches[i % len(batches)]
        with Stopwatch() as sw:
            train_step(model, optimization, batch["inputs"], batch["labels"], targets)
        if i >= len(PRECISIONS):
            seconds[precision].append(sw.seconds)
            log(f"train step {precision}: {sw.seconds:.2f} s")
    return seconds


def run(args) -> dict:
    """Feature passes, then training steps; quick: 32 + 32 reviews, one step each."""
    n = 32 if args.quick else 300
    splits = make_splits(load_bundled("imdb"), n_train=n, n_test=n, seed=0)
    seconds, feats = feature_passes(splits, args.reps)
    steps = train_steps(1 if args.quick else args.reps * 2)
    cosine = torch.nn.functional.cosine_similarity(feats["fp32"], feats["bf16"], dim=1)
    n_texts = len(splits.train) + len(splits.test)
    results = {"settings": {"n_texts": n_texts, "max_length": MAX_LENGTH, "reps": args.reps, "cpu_flags": cpu_flags()},
               "seconds": seconds, "texts_per_second": {k: n_texts / median(v) for k, v in seconds.items()},
               "speedup_bf16": median(seconds["fp32"]) / median(seconds["bf16"]),
               "cosine_fp32_bf16": {"min": float(cosine.min()), "median": float(cosine.median())},
               "probe_accuracy": {k: probe_accuracy(v, splits, n) for k, v in feats.items()},
               "train_step_seconds": steps,
               "train_step_speedup_bf16": median(steps["fp32"]) / median(steps["bf16"])}
    print(f"bf16 features: {results['speedup_bf16']:.2f}x faster, cosine min {cosine.min():.4f}, probe accuracy "
          f"fp32 {results['probe_accuracy']['fp32']:.3f} vs bf16 {results['probe_accuracy']['bf16']:.3f}; "
          f"training step {results['train_step_speedup_bf16']:.2f}x faster")
    return results


if __name__ == "__main__":  # the same as `python bench/run.py bf16_features ARGS`
    import run as runner

    runner.main_as_script(__file__)
