"""Prediction speed: single-text latency (p50/p95) and batch throughput of EncoderPredictor.

The classifier is the bundled MiniLM from core.models.load_encoder with a randomly initialised
head (speed does not depend on the head's weights). Texts are real Rotten Tomatoes sentences.
Target: p50 single-text latency <= 25 ms on CPU.

    python bench/run.py prediction [--quick] [--omp-default]
"""

from __future__ import annotations

import time

from _common import Stopwatch, log, median, percentile, verdict

import torch

from core.sources import load_bundled
from core.splits import make_splits
from core.models import TextClassifier, load_encoder
from core.predict import EncoderPredictor
from core.training import seed_everything

TARGET_P50_MS = 25.0
MAX_LENGTH = 128  # RunConfig's default; Rotten Tomatoes sentences are far shorter anyway


def build_predictor() -> EncoderPredictor:
    """MiniLM + random 2-class head, wrapped as core's predictor (eval mode, CPU)."""
    seed_everything(0)
    bundle = load_encoder()
    model = TextClassifier(bundle.encoder, bundle.pooling, 2)
    return EncoderPredictor(model, bundle.tokenizer, MAX_LENGTH, ("negative", "positive"))


def single_latencies(predictor: EncoderPredictor, texts: list[str], warmup: int) -> list[float]:
    """Milliseconds of `predictor.predict([text])` for each text, after `warmup` untimed calls."""
    for text in texts[:warmup]:
        predictor.predict([text])
    times = []
    for text in texts:
        start = time.perf_counter()
        predictor.predict([text])
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def batch_throughput(predictor: EncoderPredictor, texts: list[str], reps: int) -> list[float]:
    """Texts per second of one `predict_proba(texts)` call (batch 64, length-grouped), per rep."""
    predictor.predict_proba(texts[:64])  # warm the larger shapes
    rates = []
    for _ in range(reps):
        with Stopwatch() as sw:
            predictor.predict_proba(texts)
        rates.append(len(texts) / sw.seconds)
    return rates


def token_stats(predictor: EncoderPredictor, texts: list[str]) -> dict:
    """Median and max token count of the texts (with [CLS]/[SEP]), as the predictor truncates them."""
    lengths = [len(ids) for ids in predictor.tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]]
    return {"median_tokens": median(lengths), "max_tokens": max(lengths)}


def run(args) -> dict:
    """Single-text latency, then batch throughput; quick: 20 sentences, one batch of 128."""
    n_single, n_batch, reps = (20, 128, 1) if args.quick else (200, 1000, 3)
    splits = make_splits(load_bundled("rotten_tomatoes"), n_train=n_batch, n_test=n_single, seed=0)
    singles, batch_texts = list(splits.test.texts), list(splits.train.texts)
    predictor = build_predictor()
    log(f"single-text latency over {n_single} sentences")
    ms = single_latencies(predictor, singles, warmup=20)
    log(f"batch throughput over {n_batch} sentences x {reps}")
    rates = batch_throughput(predictor, batch_texts, reps)
    p50, p95 = percentile(ms, 50), percentile(ms, 95)
    results = {
        "single": {"n": len(ms), "p50_ms": p50, "p95_ms": p95, "mean_ms": sum(ms) / len(ms),
                   "min_ms": min(ms), **token_stats(predictor, singles)},
        "batch": {"n_texts": n_batch, "reps": reps, "texts_per_second_median": median(rates),
                  "texts_per_second_all": rates, "batch_size": 64, **token_stats(predictor, batch_texts)},
        "target": {"p50_ms_max": TARGET_P50_MS, "pass": p50 <= TARGET_P50_MS},
        "settings": {"max_length": MAX_LENGTH, "threads": torch.get_num_threads(), "data": "rotten_tomatoes"},
    }
    print(f"single text: p50 {p50:.1f} ms, p95 {p95:.1f} ms  (target p50 <= {TARGET_P50_MS} ms: "
          f"{verdict(p50 <= TARGET_P50_MS)})")
    print(f"batch of {n_batch}: {median(rates):.0f} texts/s")
    return results


if __name__ == "__main__":  # the same as `python bench/run.py prediction ARGS`
    import run as runner

    runner.main_as_script(__file__)
