"""Optimizer step: core's (core.loop.Optimization.step, fused AdamW) vs the same step with foreach AdamW.

Optimization.step is clip + AdamW step + schedule + zero_grad. core builds AdamW with fused=True on
CPU as well as CUDA (torch >= 2.4 has the CPU kernel; Trainer's default too); before, it ran the
foreach implementation there. This times both on MiniLM's 22.7M parameters with the `full`
strategy's parameter groups and random gradients (filling them is not timed), interleaved.
No target: it shows what the fused kernel is worth per step.

    python bench/run.py optimizer_step [--quick] [--reps 10]
"""

from __future__ import annotations

import dataclasses

from _common import Stopwatch, full_fine_tune, interleaved, median

import torch

from core.loop import warmup_then_linear_decay


def add_arguments(p) -> None:
    p.add_argument("--reps", type=int, default=10, help="timed steps per variant (interleaved)")


def with_foreach_adamw(optimization):
    """The same Optimization (clipping, schedule, precision) with foreach AdamW instead of fused."""
    groups = [{k: v for k, v in g.items() if k in ("params", "lr", "weight_decay")}
              for g in optimization.optimizer.param_groups]
    optimizer = torch.optim.AdamW(groups, eps=1e-8, fused=False)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear_decay(1000, 100))
    return dataclasses.replace(optimization, optimizer=optimizer, scheduler=scheduler, steps=0)


def one_step(model, optimization) -> float:
    """Seconds of Optimization.step() with fresh random gradients (filling them is not timed)."""
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    with Stopwatch() as sw:
        optimization.step()
    return sw.seconds


def run(args) -> dict:
    """Interleave fused / foreach steps; quick: 2 each."""
    model, fused, _ = full_fine_tune("fp32")
    variants = {"fused": fused, "foreach": with_foreach_adamw(fused)}
    for optimization in variants.values():
        one_step(model, optimization)  # creates the state (exp_avg, exp_avg_sq)
    seconds = {k: [] for k in variants}
    for label in interleaved(list(variants), 2 if args.quick else args.reps):
        seconds[label].append(one_step(model, variants[label]))
    med = {k: median(v) for k, v in seconds.items()}
    print(f"clip + AdamW step + schedule + zero_grad: fused (core) {1000 * med['fused']:.0f} ms, "
          f"foreach {1000 * med['foreach']:.0f} ms")
    return {"settings": {"step": "core.loop.Optimization.step", "groups": "full strategy"},
            "seconds": seconds, "median_seconds": med, "n_params": sum(p.numel() for p in model.parameters())}


if __name__ == "__main__":  # the same as `python bench/run.py optimizer_step ARGS`
    import run as runner

    runner.main_as_script(__file__)
