"""Server settings for a class on one machine: how much runs at once, per-session limits, how long
runs are kept. Each has a default chosen from the hardware or from what a lesson needs; each can be
overridden by an environment variable `TL_LAB_<NAME>` or by `<name> = value` in `.streamlit/lab.toml`
(the environment wins).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

SETTINGS_FILE = Path(".streamlit/lab.toml")
EXECUTORS = ("process", "local", "ray")  # where jobs train (core.jobs.configured_executor)

# Measured on this 2-core machine (bench/scheduler_slots.py): two MiniLM `full` runs side by side in
# threads finish in 0.58x the wall time of one after the other (2,000 sentences; 0.66x at 300), since
# one run leaves cores idle in its serial parts. But runs side by side draw from the process's one
# random number generator, so they are not reproducible (held-out accuracy 0.750 / 0.735 side by side,
# 0.740 / 0.740 in turn, same seed). So by default one long training runs at a time per
# CORES_PER_TRAINING cores, and TL_LAB_SLOTS trades reproducibility for throughput. Runs now train in
# worker processes (core.process_executor), each with its own generator, which removes that reason: in
# workers the same two runs took 0.56x the wall time side by side with the same accuracy, 0.740, all four
# (bench/scheduler_slots.py --executor process). The default is left at one per 4 cores until it is
# measured on more than this one 2-core machine; TL_LAB_SLOTS=2 is now a plain speed-for-memory trade.
CORES_PER_TRAINING = 4


def default_slots() -> int:
    """Long trainings at once: one per GPU; on a CPU, one per CORES_PER_TRAINING cores (at least one)."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.device_count()
    except ImportError:  # pragma: no cover - torch is a requirement
        pass
    return max(1, (os.cpu_count() or 1) // CORES_PER_TRAINING)


def default_memory_bytes() -> int:
    """What the scheduler lets all running trainings estimate together: 70% of this machine's RAM, and on a
    GPU server no more than 90% of the GPUs' memory, where a run's weights, optimizer state and
    activations live (the estimates against the allocator's peaks on a GPU: bench/gpu_memory.py)."""
    try:
        host = int(0.7 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 8 GB
        host = int(0.7 * 8 * 2**30)
    gpus = gpu_memory_bytes()
    return min(host, int(0.9 * gpus)) if gpus else host


def gpu_memory_bytes() -> int:
    """The memory of every visible CUDA GPU together (0 without one)."""
    try:
        import torch

        if torch.cuda.is_available():
            return sum(torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count()))
    except ImportError:  # pragma: no cover - torch is a requirement
        pass
    return 0


@dataclass(frozen=True)
class LabSettings:
    """Everything a class server's operator may want to change (see the module docstring)."""

    slots: int = 0  # long trainings at once (0 = default_slots())
    short_slots: int = 1  # extra places for short work (TF-IDF, frozen heads), so it never waits behind fine-tunes
    short_seconds: float = 30.0  # work estimated at most this long is short
    memory_gb: float = 0.0  # memory bound for running trainings together (0 = default_memory_bytes())
    max_queued_runs: int = 12  # runs one session may have queued or running
    max_train: int = 25_000  # training examples per run
    max_epochs: int = 20
    keep_days: float = 14.0  # unpublished runs older than this are removed
    runs_max_gb: float = 5.0  # the runs folder is kept under this size (oldest unpublished runs go first)
    executor: str = "process"  # where jobs train: "process" (worker processes), "local" (the job's thread), "ray"
    ray_address: str = "local"  # with executor "ray": "local" (start Ray here), "auto", HOST:6379 or ray://HOST:10001

    @property
    def long_slots(self) -> int:
        return self.slots or default_slots()

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gb * 2**30) if self.memory_gb else default_memory_bytes()


def load_settings(path: Path = SETTINGS_FILE, environ=os.environ) -> LabSettings:
    """Defaults, then `path` (a TOML file, if present), then `TL_LAB_<NAME>` environment variables.

    A value that is not a number (or for `executor`, not one of EXECUTORS) is an error
    naming the setting, so a typo never passes silently."""
    values: dict = {}
    if Path(path).is_file():
        values.update(tomllib.loads(Path(path).read_text()))
    for field in fields(LabSettings):
        if f"TL_LAB_{field.name.upper()}" in environ:
            values[field.name] = environ[f"TL_LAB_{field.name.upper()}"]
    known = {field.name: field for field in fields(LabSettings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"Unknown lab setting(s) {', '.join(unknown)} in {path}; known: {', '.join(known)}.")
    parsed = {}
    for name, value in values.items():
        if known[name].type in ("str", str):  # executor, ray_address
            parsed[name] = str(value).strip()
            continue
        kind = int if known[name].type in ("int", int) else float
        try:
            parsed[name] = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"Lab setting {name} must be a number, not {value!r}.") from None
        if parsed[name] < 0:
            raise ValueError(f"Lab setting {name} must not be negative (got {value!r}).")
    if parsed.get("executor", "process") not in EXECUTORS:
        raise ValueError(f"Lab setting executor must be one of {', '.join(EXECUTORS)}, not {parsed['executor']!r}.")
    return LabSettings(**parsed)


def check_session_limits(settings: LabSettings, queued_runs: int, new_runs: int, n_train: int,
                         epochs: list[int]) -> None:
    """Refuse work over one session's limits with a sentence naming the limit (core.errors.LimitError)."""
    from core.errors import LimitError

    if queued_runs + new_runs > settings.max_queued_runs:
        raise LimitError(f"This would make {queued_runs + new_runs} runs queued or training for this session; the "
                         f"limit here is {settings.max_queued_runs}. Wait for some to finish or cancel them.")
    if n_train > settings.max_train:
        raise LimitError(f"{n_train:,} training examples is over this server's limit of {settings.max_train:,} "
                         "per run: choose fewer on the Data page.")
    if max(epochs, default=0) > settings.max_epochs:
        raise LimitError(f"{max(epochs)} epochs is over this server's limit of {settings.max_epochs}.")
