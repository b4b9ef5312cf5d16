"""ONNX (onnxruntime) vs PyTorch prediction of one saved run: single-text latency and batch throughput.

The run: `frozen` on the bundled MiniLM, 300 Rotten Tomatoes training sentences, 1 epoch, max length 64
(what `python -m core compare --data rotten_tomatoes --n-train 300 --strategies frozen --epochs 1
--max-length 64` trains; `--run FOLDER` takes a saved run instead). One process loads it twice:
core.predict.load_predictor (PyTorch, fp32) and core.export.load_onnx_predictor(core.export.ensure_onnx(run))
(onnxruntime, CPU, as many intra-op threads as torch). Single: `predict([text])` on 200 held-out
sentences one at a time, the two backends alternating per text (A B, B A, ...) after 20 warm-up calls
each. Batch: `predict_proba` on 1,000 other held-out sentences (batches of 64, length-grouped), reps
interleaved. Also the largest probability difference between the backends. core.export.DEFAULT_BACKEND
is chosen from this result.

    python bench/run.py onnx_vs_torch [--quick] [--run FOLDER] [--reps 3]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import Stopwatch, interleaved, log, median, percentile

import numpy as np
import torch

from core.config import RunConfig
from core.export import ensure_onnx, load_onnx_predictor
from core.predict import load_predictor
from core.sources import load_bundled
from core.splits import make_splits
from core.store import save_run
from core.training import train

BACKENDS = ["torch", "onnx"]
MAX_LENGTH = 64


def add_arguments(p) -> None:
    """This case's options: a saved run to measure instead of training one, and the batch passes."""
    p.add_argument("--run", type=Path, default=None, help="a saved neural run (default: train the frozen run)")
    p.add_argument("--reps", type=int, default=3, help="batch passes per backend")


def train_run(folder: Path, splits, quick: bool) -> Path:
    """The frozen MiniLM run on Rotten Tomatoes, saved like `compare` saves it."""
    config = RunConfig(strategy="frozen", max_length=MAX_LENGTH, epochs=1)
    outcome = train(config, splits)
    if not outcome.result.ok:
        raise RuntimeError(f"training the frozen run failed: {outcome.result.reason}")
    log(f"trained frozen run: test accuracy {outcome.result.test_accuracy:.3f}{' (quick)' if quick else ''}")
    return save_run(folder / "run", outcome.result, outcome.predictor)


def single_latencies(predictors: dict, texts: list[str], warmup: int) -> dict[str, list[float]]:
    """Milliseconds of `predict([text])` per text and backend, the backends' order alternating per text."""
    for text in texts[:warmup]:
        for predictor in predictors.values():
            predictor.predict([text])
    times = {name: [] for name in predictors}
    for i, text in enumerate(texts):
        for name in (BACKENDS if i % 2 == 0 else BACKENDS[::-1]):
            start = time.perf_counter()
            predictors[name].predict([text])
            times[name].append((time.perf_counter() - start) * 1000.0)
    return times


def batch_rates(predictors: dict, texts: list[str], reps: int) -> dict[str, list[float]]:
    """Texts per second of one `predict_proba(texts)` call per backend and rep, interleaved."""
    for predictor in predictors.values():
        predictor.predict_proba(texts[:64])  # warm the larger shapes
    rates = {name: [] for name in predictors}
    for name in interleaved(BACKENDS, reps):
        with Stopwatch() as sw:
            predictors[name].predict_proba(texts)
        rates[name].append(len(texts) / sw.seconds)
        log(f"batch {name}: {rates[name][-1]:.0f} texts/s")
    return rates


def summary(ms: dict, rates: dict) -> dict:
    """Per backend p50/p95/mean latency and median throughput; ONNX's speed-ups over PyTorch; the winner."""
    single = {name: {"p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95), "mean_ms": sum(v) / len(v),
                     "min_ms": min(v), "all_ms": [round(x, 3) for x in v]} for name, v in ms.items()}
    batch = {name: {"texts_per_second_median": median(v), "texts_per_second_all": v} for name, v in rates.items()}
    speedup = {"single_p50": single["torch"]["p50_ms"] / single["onnx"]["p50_ms"],
               "single_p95": single["torch"]["p95_ms"] / single["onnx"]["p95_ms"],
               "batch": batch["onnx"]["texts_per_second_median"] / batch["torch"]["texts_per_second_median"]}
    return {"single": single, "batch": batch, "onnx_speedup_over_torch": speedup,
            "faster_single": "onnx" if speedup["single_p50"] > 1 else "torch",
            "faster_batch": "onnx" if speedup["batch"] > 1 else "torch"}


def run(args) -> dict:
    """Train (or take) the run, export it, measure both backends interleaved; quick: 20 + 128 texts."""
    import onnxruntime

    n_single, n_batch, reps = (20, 128, 1) if args.quick else (200, 1000, args.reps)
    splits = make_splits(load_bundled("rotten_tomatoes"), n_train=40 if args.quick else 300,
                         n_test=n_single + n_batch, seed=0)
    singles, batch_texts = list(splits.test.texts[:n_single]), list(splits.test.texts[n_single:])
    with tempfile.TemporaryDirectory(prefix="onnx-vs-torch-") as scratch:
        run_folder = args.run or train_run(Path(scratch), splits, args.quick)
        with Stopwatch() as export:
            onnx_file = ensure_onnx(run_folder)
        predictors = {"torch": load_predictor(run_folder, device="cpu"), "onnx": load_onnx_predictor(onnx_file)}
        log(f"single-text latency over {n_single} sentences, backends alternating")
        ms = single_latencies(predictors, singles, warmup=20)
        log(f"batch throughput over {n_batch} sentences x {reps} per backend")
        rates = batch_rates(predictors, batch_texts, reps)
        gap = np.abs(predictors["torch"].predict_proba(batch_texts) - predictors["onnx"].predict_proba(batch_texts))
    result = summary(ms, rates)
    s, b = result["single"], result["batch"]
    print(f"single text p50 / p95: torch {s['torch']['p50_ms']:.1f} / {s['torch']['p95_ms']:.1f} ms, "
          f"onnx {s['onnx']['p50_ms']:.1f} / {s['onnx']['p95_ms']:.1f} ms; batch of {n_batch}: torch "
          f"{b['torch']['texts_per_second_median']:.0f}, onnx {b['onnx']['texts_per_second_median']:.0f} texts/s")
    return {**result, "max_probability_difference": float(gap.max()),
            "ensure_onnx_seconds": export.seconds,  # the export itself, unless --run had one already
            "settings": {"run": str(args.run) if args.run else "frozen, RT 300 train, 1 epoch (trained here)",
                         "max_length": MAX_LENGTH, "batch_size": 64, "n_single": n_single, "n_batch": n_batch,
                         "reps": reps, "warmup": 20, "threads": torch.get_num_threads(),
                         "onnxruntime": onnxruntime.__version__, "data": "rotten_tomatoes held-out sentences"}}


if __name__ == "__main__":  # the same as `python bench/run.py onnx_vs_torch ARGS`
    import run as runner

    runner.main_as_script(__file__)
