"""Probe for a proposed core change: AdamW fused=True on CPU (Trainer's default) vs core's foreach AdamW.

core.training.fit builds AdamW(..., fused=device.type == "cuda"), so on CPU it runs the foreach
implementation; Trainer defaults to adamw_torch_fused, which has a CPU kernel in torch >= 2.4.
This times optimizer.step() (plus zero_grad and gradient clipping, as in core's _optimizer_step)
for MiniLM's 22.7M parameters with random gradients, the two variants interleaved.
No target: it measures whether the change is worth making.

    python bench/optimizer_step.py [--quick]
"""

from __future__ import annotations

from _common import Stopwatch, interleaved, machine_info, median, parser, write_result

import torch

from core.models import TextClassifier, load_encoder
from core.strategies import decay_groups


def make_optimizer(model, fused: bool):
    """Core's parameter groups (LR 2e-5, weight decay 0.01 except biases/LayerNorm)."""
    return torch.optim.AdamW(decay_groups(model.named_parameters(), 2e-5, 0.01), eps=1e-8, fused=fused)


def one_step(model, optimizer) -> float:
    """Seconds of clip + step + zero_grad with fresh random gradients (not timed: filling them)."""
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    with Stopwatch() as sw:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return sw.seconds


def main() -> None:
    """Interleave foreach / fused steps, write bench/results/optimizer_step.json."""
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=10)
    args = p.parse_args()
    info = machine_info()
    bundle = load_encoder()
    model = TextClassifier(bundle.encoder, bundle.pooling, 2)
    optimizers = {"foreach": make_optimizer(model, False), "fused": make_optimizer(model, True)}
    for opt in optimizers.values():
        one_step(model, opt)  # creates the state (exp_avg, exp_avg_sq)
    seconds = {k: [] for k in optimizers}
    for label in interleaved(list(optimizers), 2 if args.quick else args.reps):
        seconds[label].append(one_step(model, optimizers[label]))
    med = {k: median(v) for k, v in seconds.items()}
    print(f"clip + AdamW step + zero_grad: foreach {1000 * med['foreach']:.0f} ms, fused {1000 * med['fused']:.0f} ms")
    write_result("optimizer_step", args, info, {"seconds": seconds, "median_seconds": med,
                                                "n_params": sum(p.numel() for p in model.parameters())})


if __name__ == "__main__":
    main()
