"""Shared helpers for the bench scripts: arguments, machine info, timing, result files.

Every script is run as `python bench/NAME.py [--quick]` from the repository root. Running a
file inside bench/ puts bench/ (not the root) on sys.path, so importing this module also puts
the repository root there so that `import core` works.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
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


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the `--quick` smoke-test flag every script has."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes, only to check the script runs; writes NAME.quick.json")
    p.add_argument("--omp-default", action="store_true",
                   help="do not set OMP_WAIT_POLICY=PASSIVE (libgomp's spin-waiting default)")
    p.add_argument("--tag", default="", help="suffix of the result file: NAME.TAG.json")
    return p


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


def machine_info() -> dict:
    """Versions, threads, CPU and the command: enough to tell where a number came from."""
    import torch
    import transformers

    return {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "cuda": torch.cuda.is_available(),
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


def write_result(name: str, args, info: dict, payload: dict) -> Path:
    """Write bench/results/NAME[.TAG][.quick].json and print where."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = (f".{args.tag}" if args.tag else "") + (".quick" if args.quick else "")
    path = RESULTS / f"{name}{suffix}.json"
    end = {"load_average_end": load_average(), "busy_processes_end": busy_processes()}
    record = {"benchmark": name, "quick": args.quick, "machine": {**info, **end}, **payload}
    path.write_text(json.dumps(record, indent=2, default=float) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


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
