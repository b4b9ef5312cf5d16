"""Typed events that leave the training loop. Consumers (CLI progress bars, the dashboard's
job log, tests) subscribe with a callback; the loop never knows who listens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    strategy: str
    epochs: int
    total_steps: int  # optimizer steps the whole run will take (0 for TF-IDF)


@dataclass(frozen=True)
class EpochStarted:
    strategy: str
    epoch: int


@dataclass(frozen=True)
class StepLogged:
    strategy: str
    epoch: int
    step: int  # optimizer steps done so far, 1-based, across epochs
    total_steps: int
    loss: float
    lr: float
    elapsed_seconds: float


@dataclass(frozen=True)
class EpochEvaluated:
    strategy: str
    epoch: int
    train_loss: float
    train_score: float
    val_loss: float
    val_score: float
    elapsed_seconds: float
    score_name: str = "accuracy"  # or "R²" for regression, a mean of both for several targets


@dataclass(frozen=True)
class RunFinished:
    strategy: str
    result: Any  # core.results.RunResult


@dataclass(frozen=True)
class RunFailed:
    strategy: str
    reason: str


@dataclass(frozen=True)
class RunCancelled:
    strategy: str

