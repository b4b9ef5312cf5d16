"""The training loop: `fit` runs epochs of optimizer steps with early stopping on validation.

One loop serves every neural strategy. What trains comes from the strategy's parameter groups;
what a batch is (token ids, or cached encoder features for `frozen`) comes from a batch source
(see core.trainers). The loop knows nothing about its caller: progress leaves through `emit`,
cancellation comes in through `stop` (checked at every batch).

`Optimization` is the one training step every caller shares (the loop, the time estimate and
the benchmarks): autocast forward, fp32 loss, backward, clipping, fused AdamW, LR schedule. In a
run launched as several processes, `fit` gives it a core.distributed.DataParallel: each process then
runs its share of every batch and the gradients are summed before each step (same global batch).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

import torch
from torch import nn

from core import distributed
from core import events as ev
from core import tasks
from core.errors import Cancelled, TrainingError
from core.precision import autocast_for


class BatchSource(Protocol):
    """Where a fit's batches come from: (inputs for model(**inputs), targets) pairs."""

    batches_per_epoch: int

    def train(self, epoch: int) -> Iterable[tuple[dict, torch.Tensor]]: ...

    def val(self) -> Iterable[tuple[dict, torch.Tensor]]: ...


def warmup_then_linear_decay(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR multiplier: 0 -> 1 over the warmup steps, then linearly back to 0 at the last step."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


@dataclass
class Optimization:
    """AdamW over parameter groups with warmup + linear decay, clipping and the run's precision."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    autocast: Callable  # () -> context manager (autocast, or nothing for fp32)
    scaler: torch.amp.GradScaler | None  # fp16 only
    max_grad_norm: float
    steps: int = 0  # optimizer steps taken
    parallel: distributed.DataParallel | None = None  # set in a launched run: this process's share of each batch

    @classmethod
    def build(cls, param_groups, device: torch.device, *, precision: str = "auto", total_steps: int = 1,
              warmup_steps: int = 0, max_grad_norm: float = 1.0, parallel=None) -> Optimization:
        """The optimizer, schedule and autocast a run with these settings trains with."""
        # One fused kernel per step instead of a loop over tensors: ~4x faster optimizer step on CPU too.
        optimizer = torch.optim.AdamW(param_groups, eps=1e-8, fused=device.type in ("cuda", "cpu"))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear_decay(total_steps, warmup_steps))
        amp, scaler = autocast_for(device, precision)
        return cls(optimizer, scheduler, amp, scaler, max_grad_norm, parallel=parallel)

    def backward(self, model: nn.Module, inputs: dict, labels: torch.Tensor, targets,
                 scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward in autocast, loss in fp32, backward of `loss * scale`; returns (loss, outputs) of the
        batch (data-parallel: this process runs its rows, and gets the whole batch's back)."""
        if self.parallel is not None:
            return self.parallel.backward(self._backward, model, inputs, labels, targets, scale)
        return self._backward(model, inputs, labels, targets, scale)

    def _backward(self, model, inputs, labels, targets, scale):
        with self.autocast():
            outputs = model(**inputs).float()  # (batch, total target width)
        loss = tasks.loss(outputs, labels, targets)
        scaled = loss * scale
        (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        return loss, outputs

    def step(self) -> None:
        """Clip the gradients, update the weights, advance the schedule, clear the gradients."""
        params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        if self.parallel is not None:
            self.parallel.sum_gradients(params)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps += 1

    @property
    def lr(self) -> float:
        """The current learning rate of the last parameter group."""
        return self.scheduler.get_last_lr()[-1]


def train_step(model: nn.Module, optimization: Optimization, inputs: dict, labels: torch.Tensor, targets) -> float:
    """One full optimizer step on one batch (no accumulation); returns the loss."""
    loss, _ = optimization.backward(model, inputs, labels, targets)
    optimization.step()
    return loss.item()


def history_entry(epoch, train_loss, train_score, val_loss, val_score, seconds, score_name) -> dict:
    """One epoch of a run's history; classification runs also keep the accuracy names."""
    entry = {"epoch": epoch, "train_loss": train_loss, "train_score": train_score, "val_loss": val_loss,
             "val_score": val_score, "score_name": score_name, "seconds": seconds}
    if score_name == "accuracy":
        entry.update(train_accuracy=train_score, val_accuracy=val_score)
    return entry


@torch.inference_mode()
def evaluate_batches(model: nn.Module, batches, targets) -> tuple[float, float]:
    """(mean loss, score) of `model` over (inputs, targets) batches; see core.tasks."""
    model.eval()
    loss_sum, seen, outputs, labels_seen = 0.0, 0, [], []
    for inputs, labels in batches:
        logits = model(**inputs).float()
        loss_sum += tasks.loss(logits, labels, targets, reduction="sum").item()
        seen += len(labels)
        outputs.append(logits.cpu())
        labels_seen.append(labels.cpu())
    return _loss_and_score(loss_sum, seen, outputs, labels_seen, targets)


def _loss_and_score(loss_sum: float, seen: int, outputs: list, labels: list, targets) -> tuple[float, float]:
    if not seen:
        return 0.0, 0.0
    decoded = tasks.decode(torch.cat(outputs).numpy(), targets)
    return loss_sum / seen, tasks.score(decoded, torch.cat(labels).numpy(), targets)


@dataclass
class Fitted:
    """What `fit` leaves behind besides the trained weights."""

    history: list[dict]  # one `history_entry` per epoch run
    best_epoch: int
    trained: set[int] = field(default_factory=set)  # ids of every parameter that trained at some point


@dataclass
class _Loop:
    """State of one `fit` call shared by its helpers."""

    model: nn.Module
    batches: BatchSource
    targets: tuple
    config: object  # core.config.RunConfig
    optimization: Optimization
    emit: Callable
    stop: threading.Event | None
    total_steps: int
    started: float


def _train_one_epoch(loop: _Loop, epoch: int) -> tuple[float, float]:
    """One pass over the training batches; returns (mean train loss, train score)."""
    accum = loop.config.grad_accum_steps
    loop.model.train()
    loss_sum, seen, outputs_seen, labels_seen = 0.0, 0, [], []
    for batch_index, (inputs, labels) in enumerate(loop.batches.train(epoch)):
        if loop.stop is not None and loop.stop.is_set():
            raise Cancelled()
        loss, outputs = loop.optimization.backward(loop.model, inputs, labels, loop.targets, 1 / accum)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"The training loss became {loss.item()} at epoch {epoch}; lower the learning rate "
                f"(now {loop.config.learning_rate:g}) or check the data."
            )
        if (batch_index + 1) % accum == 0 or batch_index + 1 == loop.batches.batches_per_epoch:
            loop.optimization.step()
            loop.emit(ev.StepLogged(loop.config.strategy, epoch, loop.optimization.steps, loop.total_steps,
                                    loss.item(), loop.optimization.lr, time.perf_counter() - loop.started))
        loss_sum += loss.item() * len(labels)
        seen += len(labels)
        outputs_seen.append(outputs.detach().cpu())
        labels_seen.append(labels.cpu())
    return _loss_and_score(loss_sum, seen, outputs_seen, labels_seen, loop.targets)


def fit(model: nn.Module, param_groups: list[dict], batches: BatchSource, targets, config, emit: Callable,
        stop, device: torch.device, on_epoch_start: Callable[[int], None] | None = None) -> Fitted:
    """Train for `config.epochs` epochs with early stopping on the validation score (accuracy or R²).

    `model(**inputs)` gives (batch, total target width) outputs (see core.tasks). The best epoch's
    weights are restored at the end; the test split is never looked at here.
    """
    steps_per_epoch = math.ceil(batches.batches_per_epoch / config.grad_accum_steps)
    total = steps_per_epoch * config.epochs
    optimization = Optimization.build(param_groups, device, precision=config.precision, total_steps=total,
                                      warmup_steps=int(config.warmup_ratio * total),
                                      max_grad_norm=config.max_grad_norm, parallel=distributed.data_parallel(model))
    loop = _Loop(model, batches, targets, config, optimization, emit, stop, total, time.perf_counter())
    emit(ev.RunStarted(config.strategy, config.epochs, total))
    fitted, best_state, best_score = Fitted([], 0), None, -math.inf
    score_name = tasks.score_name(targets)
    for epoch in range(1, config.epochs + 1):
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        fitted.trained |= {id(p) for p in model.parameters() if p.requires_grad}
        emit(ev.EpochStarted(config.strategy, epoch))
        train_loss, train_score = _train_one_epoch(loop, epoch)
        val_loss, val_score = evaluate_batches(model, batches.val(), targets)
        elapsed = time.perf_counter() - loop.started
        fitted.history.append(history_entry(epoch, train_loss, train_score, val_loss, val_score, elapsed, score_name))
        emit(ev.EpochEvaluated(config.strategy, epoch, train_loss, train_score, val_loss, val_score, elapsed,
                               score_name))
        if val_score > best_score:
            best_score, fitted.best_epoch = val_score, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif config.patience and epoch - fitted.best_epoch >= config.patience:
            break
    if best_state is not None and fitted.best_epoch != fitted.history[-1]["epoch"]:
        model.load_state_dict(best_state)
    return fitted
