"""One run: `train(config, splits, on_event, stop) -> TrainOutcome`, and how long one will take.

`KINDS` is the one table that says, for each kind of strategy in the registry, which trainer
trains it, which estimator predicts its time, and which registry hooks that trainer calls.
`train` never raises for a run-level problem: failures and cancels become the result's status.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch

from core import estimate, tasks
from core import events as ev
from core import trainers
from core.config import RunConfig
from core.errors import Cancelled, LabError, TrainingError
from core.mistakes import prediction_table
from core.predict import Predictor
from core.results import RunResult
from core.strategies import STRATEGIES, Strategy, get_strategy
from core.texts import Splits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """How the strategies of one kind are trained and timed."""

    train: Callable  # (strategy, config, splits, emit, stop) -> core.trainers.Trained
    estimate_seconds: Callable  # (config, splits) -> expected seconds of the run
    estimate_bytes: Callable  # (config, splits) -> expected peak memory of the run
    hooks: frozenset[str]  # the registry hooks the trainer calls; an entry may set no others
    shared_seconds: Callable | None = None  # (config, splits) -> {cache key: seconds} another run can reuse


KINDS = {
    "encoder": Kind(trainers.train_encoder, estimate.encoder_run_seconds, estimate.encoder_run_bytes,
                    frozenset({"prepare", "on_epoch_start", "before_fit", "finalize"})),
    "features": Kind(trainers.train_on_features, estimate.features_run_seconds, estimate.features_run_bytes,
                     frozenset({"prepare"}), estimate.features_shared_seconds),
    "tfidf": Kind(trainers.train_tfidf, estimate.tfidf_run_seconds, estimate.tfidf_run_bytes, frozenset()),
}


def kind_of(strategy: Strategy) -> Kind:
    """The table row of a registry entry; an entry setting a hook its trainer never calls is a bug."""
    kind = KINDS[strategy.kind]
    unused = set(strategy.hooks) - kind.hooks
    if unused:
        raise ValueError(f"Strategy '{strategy.id}' sets {', '.join(sorted(unused))}, which '{strategy.kind}' "
                       "training never calls.")
    return kind


for _entry in STRATEGIES.values():  # checked once at import: the registry and this table agree
    kind_of(_entry)


@dataclass
class TrainOutcome:
    """A run's result and, when it finished, the trained model ready to predict or save."""

    result: RunResult
    predictor: Predictor | None = None
    predictions: pd.DataFrame | None = None  # one row per test text (core.mistakes.prediction_table)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a config reproduces its run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the errors that mean "not enough memory" on a GPU or a CPU."""
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))  # torch's CPU allocator


def _train_within_memory(kind: Kind, strategy: Strategy, config: RunConfig, splits: Splits, emit, stop):
    """Train; out of memory, free it and try again with half the batch and twice the accumulation
    (the same effective batch), down to batch size 1. Returns (trained, the config that fitted)."""
    while True:
        seed_everything(config.seed)
        try:
            return kind.train(strategy, config, splits, emit, stop), config
        except Exception as exc:  # noqa: BLE001 - only memory errors are retried; the rest go on up
            if not is_out_of_memory(exc):
                raise
            release_memory()
            if config.batch_size == 1:
                raise TrainingError(f"Out of memory even with batch size 1 at max length {config.max_length}; "
                                    "lower the max length or turn on gradient checkpointing.") from None
            log.warning("run %s out of memory at batch size %d; retrying smaller", config.strategy, config.batch_size)
            config = config.replace(batch_size=config.batch_size // 2, grad_accum_steps=config.grad_accum_steps * 2)


def release_memory() -> None:
    """Give back what a failed attempt held: Python garbage, then the GPU's cached blocks."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _smaller_batch_note(asked: RunConfig, used: RunConfig) -> str:
    return (f"Out of memory at batch size {asked.batch_size}: trained with batch size {used.batch_size} and "
            f"{used.grad_accum_steps} accumulation steps (the same effective batch).")


def _evaluate_on_test(trained: trainers.Trained, splits: Splits):
    """Per-target metrics on the held-out test split, the seconds prediction takes, and the table of
    every test prediction (core.mistakes)."""
    predictor = trained.predictor
    if trained.test_outputs is not None:  # the trainer's quicker way to the same outputs (frozen: cached vectors)
        decoded, seconds = trained.test_outputs(splits.test.texts)
    else:
        started = time.perf_counter()
        decoded = predictor.predict_outputs(splits.test.texts)
        seconds = time.perf_counter() - started
    y = tasks.target_matrix(splits.test).numpy()
    table = prediction_table(splits.test.texts, y, decoded, predictor.targets)
    return tasks.metrics(decoded, y, predictor.targets), seconds, table


def train(config: RunConfig, splits: Splits, on_event: Callable | None = None,
          stop: threading.Event | None = None) -> TrainOutcome:
    """Train one strategy and evaluate it on the held-out test split.

    Never raises for a run-level problem: a failure or a cancel comes back as the result's
    `status` ("failed" / "cancelled") with a `reason`, so a queue of runs can go on.
    """
    emit = on_event or (lambda event: None)
    result = RunResult(strategy=config.strategy, model=config.model, labels=list(splits.label_names),
                       task=splits.task, n_train=len(splits.train), n_val=len(splits.val),
                       n_test=len(splits.test), config=config.to_dict())
    started = time.perf_counter()
    try:
        strategy = get_strategy(config.strategy)
        trained, used = _train_within_memory(kind_of(strategy), strategy, config, splits, emit, stop)
        if used != config:
            result.config, result.reason = used.to_dict(), _smaller_batch_note(config, used)
        result.train_seconds = time.perf_counter() - started
        metrics, result.predict_seconds, predictions = _evaluate_on_test(trained, splits)
    except Cancelled:
        result.status, result.reason = "cancelled", "Cancelled by the user."
        result.train_seconds = time.perf_counter() - started
        emit(ev.RunCancelled(config.strategy))
        return TrainOutcome(result)
    except Exception as exc:  # noqa: BLE001 - any failure becomes a visible, recorded reason
        if not isinstance(exc, LabError):
            log.exception("run %s failed", config.strategy)
        result.status = "failed"
        result.reason = str(exc) if isinstance(exc, LabError) else f"{type(exc).__name__}: {exc}"
        result.train_seconds = time.perf_counter() - started
        emit(ev.RunFailed(config.strategy, result.reason))
        return TrainOutcome(result)
    result.history, result.best_epoch = trained.history, trained.best_epoch
    result.trainable_params, result.total_params = trained.trainable_params, trained.total_params
    result.set_metrics(metrics, tasks.summary_score(metrics), tasks.score_name(trained.predictor.targets))
    emit(ev.RunFinished(config.strategy, result))
    return TrainOutcome(result, trained.predictor, predictions)


def estimate_run_seconds(config: RunConfig, splits: Splits) -> float:
    """Expected wall time of one run on `splits`, training plus test evaluation (see core.estimate)."""
    return KINDS[get_strategy(config.strategy).kind].estimate_seconds(config, splits)


def estimate_run_bytes(config: RunConfig, splits: Splits) -> int:
    """Expected peak memory of one run (see core.estimate); the scheduler packs and admits runs by it.
    0 when the encoder cannot be read: the run itself then fails with the reason, in its place in line."""
    try:
        return KINDS[get_strategy(config.strategy).kind].estimate_bytes(config, splits)
    except (LabError, OSError, ValueError):
        return 0


def estimate_shared_seconds(config: RunConfig, splits: Splits) -> dict[str, float]:
    """The part of a run's estimate that another run on the same texts may already have done (a frozen
    run's encoder passes, kept by core.features), in seconds by cache key; {} for the other kinds, or
    when the encoder cannot be read (the run then fails with the reason, in its place in line)."""
    shared = KINDS[get_strategy(config.strategy).kind].shared_seconds
    try:
        return shared(config, splits) if shared is not None else {}
    except (LabError, OSError, ValueError):
        return {}


def estimate_queue_seconds(configs: list[RunConfig], splits: Splits) -> list[float]:
    """Seconds per run for a queue of runs on the same split."""
    return [estimate_run_seconds(config, splits) for config in configs]
