"""Shared helpers of the bench cases: machine info, statistics, timing, and the training setups they share.

Cases run through `python bench/run.py CASE` (or `python bench/CASE.py`) from the repository root.
Running a file inside bench/ puts bench/ (not the root) on sys.path, so importing this module also
puts the repository root there so that `import core` works. It is imported before torch everywhere.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where result files go: --results DIR, else $BENCH_RESULTS (the tests point it at a temporary folder).
RESULTS = Path(os.environ.get("BENCH_RESULTS") or ROOT / "bench" / "results")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# A disk feature cache would turn the "first computation" of frozen features into a file read.
os.environ.pop("TL_LAB_FEATURE_CACHE", None)

# libgomp (torch's OpenMP) spin-waits at every parallel region by default. When other processes
# share the 2 cores, a spinning thread waits for a descheduled partner at each barrier: a MiniLM
# forward on one sentence took 530 ms instead of 16-22 ms here. PASSIVE makes idle threads sleep.
# It must be set before torch loads, so this module is imported before torch by every script.
# `--omp-default` keeps libgomp's default (to measure what an unconfigured process gets).
OMP_POLICY_SOURCE = "given in the environment"
if "--omp-default" in sys.argv:
    OMP_POLICY_SOURCE = "libgomp default (--omp-default)"
elif "OMP_WAIT_POLICY" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    OMP_POLICY_SOURCE = "set to PASSIVE by bench/_common.py"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (other work on the machine shows up here)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def git_commit() -> dict:
    """The commit the code ran at (`git rev-parse --short HEAD`) and whether the tree had local changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD")
    return {"git_commit": commit or "unknown",
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None}


def machine_info() -> dict:
    """Versions, threads, CPU, commit and the command: enough to tell where a number came from."""
    import torch
    import transformers

    return {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        **git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "cuda": torch.cuda.is_available(),
        "precision_auto_means": dtype_name("auto"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: libgomp default)"),
        "omp_wait_policy_source": OMP_POLICY_SOURCE,
        "load_average_start": load_average(),
        "busy_processes_start": busy_processes(),
    }


def busy_processes(limit: int = 6) -> list[str]:
    """Other processes using CPU right now (psutil, 0.5 s sample): the noise in these timings."""
    try:
        import psutil
    except ImportError:
        return []
    procs = [p for p in psutil.process_iter(["pid", "cmdline"]) if p.pid != os.getpid()]
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(0.5)
    rows = []
    for p in procs:
        try:
            rows.append((p.cpu_percent(None), " ".join(p.info["cmdline"] or [])[:140]))
        except psutil.Error:
            continue
    return [f"{cpu:.0f}% {cmd}" for cpu, cmd in sorted(rows, reverse=True)[:limit] if cpu >= 10]


def median(values) -> float:
    """Median of a non-empty sequence of numbers."""
    return float(statistics.median(list(values)))


def percentile(values, q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def interleaved(labels: list[str], reps: int) -> list[str]:
    """Run order A B, B A, A B, ...: alternating which goes first cancels slow drifts in load."""
    order = []
    for rep in range(reps):
        order += labels if rep % 2 == 0 else list(reversed(labels))
    return order


class Stopwatch:
    """`with Stopwatch() as sw: ...` then `sw.seconds`."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


def verdict(ok: bool) -> str:
    """PASS / FAIL string for tables."""
    return "PASS" if ok else "FAIL"


def log(message: str) -> None:
    """Progress line on stderr with a wall-clock stamp (long runs are polled from a log file)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class LoopClock:
    """Event listener for core.training.train: wall time spent inside the training batches.

    `train_seconds` of a RunResult also counts model loading, tokenizing, feature caching and
    validation after each epoch; `loop_seconds` is only EpochStarted -> last StepLogged of each
    epoch (what Trainer's `train_runtime` measures when it does not evaluate).
    """

    def __init__(self):
        self.epoch_start: dict[int, float] = {}
        self.last_step: dict[int, float] = {}
        self.steps = 0

    def __call__(self, event) -> None:
        from core import events as ev

        now = time.perf_counter()
        if isinstance(event, ev.EpochStarted):
            self.epoch_start[event.epoch] = now
        elif isinstance(event, ev.StepLogged):
            self.last_step[event.epoch] = now
            self.steps += 1

    @property
    def loop_seconds(self) -> float:
        """Sum over epochs of (last optimizer step - epoch start)."""
        return sum(self.last_step[e] - self.epoch_start[e] for e in self.last_step)


def run_core(config, splits) -> dict:
    """core.training.train(config, splits) with a LoopClock; returns the numbers benches compare."""
    from core.training import train

    clock = LoopClock()
    with Stopwatch() as sw:
        outcome = train(config, splits, on_event=clock)
    r = outcome.result
    if not r.ok:
        raise RuntimeError(f"core run {config.strategy} {r.status}: {r.reason}")
    return {"train_seconds": r.train_seconds, "loop_seconds": clock.loop_seconds, "steps": clock.steps,
            "predict_seconds": r.predict_seconds, "wall_seconds_with_test": sw.seconds,
            "test_accuracy": r.test_accuracy, "epochs_run": len(r.history), "best_epoch": r.best_epoch}


def warm_up() -> None:
    """Load the bundled encoder once and run it, so the first timed run does not pay cold file reads."""
    import torch

    from core.models import load_encoder

    bundle = load_encoder()
    with torch.inference_mode():
        bundle.encoder(input_ids=torch.tensor([[101, 2204, 102]]), attention_mask=torch.ones(1, 3, dtype=torch.long))


def dtype_name(precision: str) -> str:
    """What a precision setting means on this CPU: "float32" or "bfloat16" (see core.precision)."""
    import torch

    from core.precision import compute_dtype

    return str(compute_dtype(torch.device("cpu"), precision)).replace("torch.", "")


def full_fine_tune(precision: str, lr: float = 5e-5, total_steps: int = 1000):
    """MiniLM + a 2-class head with core's `full` parameter groups and core's training step setup
    (core.loop.Optimization: fused AdamW, warmup + linear decay, clipping, the precision's autocast).
    Returns (model in train mode, optimization, tokenizer)."""
    import torch

    from core.config import RunConfig
    from core.loop import Optimization
    from core.models import TextClassifier, load_encoder
    from core.strategies import STRATEGIES
    from core.training import seed_everything

    config = RunConfig(strategy="full", lr_finetune=lr, precision=precision)
    seed_everything(config.seed)
    bundle = load_encoder()
    model = TextClassifier(bundle.encoder, bundle.pooling, 2, config.dropout).train()
    groups = STRATEGIES["full"].prepare(model, config)
    optimization = Optimization.build(groups, torch.device("cpu"), precision=precision, total_steps=total_steps,
                                      warmup_steps=int(config.warmup_ratio * total_steps),
                                      max_grad_norm=config.max_grad_norm)
    return model, optimization, bundle.tokenizer


def review_batches(tokenizer, n_texts: int, max_length: int, batch_size: int, seed: int = 1, n_test: int = 2):
    """Core's shuffled, length-grouped training batches of real IMDb reviews, as core.loop gets them.

    The reviews are the training split of make_splits(IMDb, n_texts, n_test, seed 0). Returns (batches,
    targets, texts): each batch a dict with the reviews' `indices` into `texts`, the model `inputs` and
    the `labels` (batch, 1) of core.tasks.target_matrix."""
    import torch

    from core import tasks
    from core.batching import token_batches, tokenize
    from core.sources import load_bundled
    from core.splits import make_splits

    train = make_splits(load_bundled("imdb"), n_train=max(n_texts, 4), n_test=n_test, seed=0).train
    labels = tasks.target_matrix(train)
    batches = [{"indices": idx, "inputs": {"input_ids": ids, "attention_mask": mask},
                "labels": labels[torch.as_tensor(idx)]}
               for idx, ids, mask in token_batches(tokenize(tokenizer, train.texts, max_length), batch_size,
                                                   tokenizer.pad_token_id, shuffle=True, seed=seed)]
    return batches, tasks.targets_of(train), train.texts
