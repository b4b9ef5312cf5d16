"""Data parallelism: several processes train one model, each doing an equal share of every batch.

`accelerate launch --multi_gpu --num_processes N -m core compare ...` (`--multi_gpu` on CPUs too:
`--cpu` starts a single process), or `python -m core compare --devices N`, which relaunches itself
that way, starts N copies of the command. Every copy loads the same data, builds the same model
and walks the same batches in the same order. For each batch, core.loop hands the forward and
backward pass to `DataParallel.backward`: this process runs only its rows, its loss weighed by its
share of the batch, and gets back the whole batch's loss and outputs; before each optimizer step
the gradients are summed over the processes. The result is the model one process trains with the
same `--batch-size` (the global batch; each of N processes runs batch_size / N rows per step), with
the same history. Only the main process writes results, saves runs and prints (`is_main`).
Validation and test predictions run whole in every process (identical weights give identical
numbers): only training is divided.

Why not `accelerate.Accelerator.prepare`: it wraps the model in DistributedDataParallel, whose
gradient hooks are fixed when it wraps, but `gradual` unfreezes layers between epochs, and a
parameter the forward leaves unused (the encoder's pooler under mean pooling) makes it fail unless
it searches the graph at every step; it shards a DataLoader by handing each process whole batches
(a global batch N times larger), while core's batches are length-grouped generators; and
core.loop.Optimization already does autocast, fp16 loss scaling and clipping. So accelerate does
what it is good at here, the launcher and the process group (`PartialState`: gloo on CPU, NCCL
with one GPU per process), and the gradients are summed by one torch.distributed all-reduce per
optimizer step (after accumulation, not after every batch).

This module imports accelerate only in a launched process (`start`); a single process never calls
into torch.distributed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from core import tasks
from core.errors import ConfigError
from core.models import pick_device

_STATE: list = []  # accelerate's PartialState once `start` has joined the process group


def process_count() -> int:
    """How many processes train together: WORLD_SIZE, which accelerate launch (torchrun) sets; else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched() -> bool:
    """True in one of several processes started by accelerate launch."""
    return process_count() > 1


def is_main() -> bool:
    """True in the process that writes results, saves runs and prints: rank 0, or the only one."""
    return int(os.environ.get("RANK", "0")) == 0


def start(device: str = "auto") -> None:
    """Join the process group of a launched run (nothing in a single process): gloo when training on
    the CPU, else NCCL with this process's own GPU as the current CUDA device."""
    if not launched() or _STATE:
        return
    from accelerate import PartialState

    state = PartialState(cpu=pick_device(device).type == "cpu")
    if state.num_processes != process_count():
        raise ConfigError(f"Launched as {process_count()} processes, but only {state.num_processes} joined; "
                          "start several processes with accelerate launch --multi_gpu (see README).")
    _STATE.append(state)


def relaunch(processes: int, device: str, argv: list[str]) -> int:
    """Run `python -m core ARGV` as `processes` processes under accelerate launch; wait; its exit code.

    `--multi_gpu` is accelerate's multi-process launcher (torchrun) on CPUs too: its `--cpu` starts a
    single process unless MPI is set up. Each process then picks its backend in `start`."""
    env = dict(os.environ)
    if pick_device(device).type == "cuda":
        if processes > torch.cuda.device_count():
            raise ConfigError(f"--devices {processes} needs {processes} GPUs; this machine has "
                              f"{torch.cuda.device_count()}.")
    else:  # torchrun would give every process one thread; share the cores instead
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", "0", "-m", "core", *argv]  # port 0: a free one
    return subprocess.run(command, env=env, check=False).returncode


def shard_sizes(total: int, processes: int) -> list[int]:
    """Rows of a batch of `total` each process runs: equal shares, the first ones one more where it does not divide."""
    return [total // processes + (rank < total % processes) for rank in range(processes)]


def data_parallel(model: torch.nn.Module) -> DataParallel | None:
    """The helper one fit of `model` trains with in a launched run; None in a single process."""
    return DataParallel(model) if _STATE else None


class DataParallel:
    """This process's part of one fit: its rows of each batch, and the gradient sums over processes."""

    def __init__(self, model: torch.nn.Module):
        import torch.distributed as dist

        self.dist = dist
        self.rank, self.size = dist.get_rank(), dist.get_world_size()
        for tensor in model.state_dict().values():  # every process starts from rank 0's weights
            dist.broadcast(tensor, src=0)
        if self.rank:  # each process draws its own dropout masks; rank 0 draws what a single process would
            torch.manual_seed(torch.initial_seed() + self.rank)

    def backward(self, run, model, inputs: dict, labels: torch.Tensor, targets, scale: float):
        """`run` (core.loop.Optimization's forward and backward) on this process's rows of the batch,
        its loss weighed by its share of the rows; returns the whole batch's (loss, outputs), the same
        in every process.

        Weighing each process's mean loss by its share of the rows makes the summed gradients those
        of the whole batch's mean loss. With class weights (a weighted mean) each share counts by its
        rows, as with gradient accumulation."""
        sizes = shard_sizes(len(labels), self.size)
        first, count = sum(sizes[:self.rank]), sizes[self.rank]
        # A process left without a row (a batch smaller than the process count) runs one at weight 0, so
        # that every process joins each gradient sum with the same parameters holding gradients.
        rows = slice(first, first + count) if count else slice(0, 1)
        _, outputs = run(model, {key: value[rows] for key, value in inputs.items()}, labels[rows], targets,
                         scale * count / len(labels))
        outputs = self._gather(outputs.detach()[:count], sizes)
        return tasks.loss(outputs, labels, targets), outputs

    def _gather(self, outputs: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        """Every process's outputs in batch order (all_gather needs equal shapes: padded, then cut)."""
        padded = outputs.new_zeros((max(sizes), *outputs.shape[1:]))
        padded[:len(outputs)] = outputs
        parts = [torch.empty_like(padded) for _ in sizes]
        self.dist.all_gather(parts, padded)
        return torch.cat([part[:n] for part, n in zip(parts, sizes)])

    def sum_gradients(self, params: list[torch.Tensor]) -> None:
        """Sum every gradient over the processes in one all-reduce (each holds the same list, same order)."""
        grads = [p.grad for p in params]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        self.dist.all_reduce(flat)
        for grad, summed in zip(grads, flat.split([g.numel() for g in grads])):
            grad.copy_(summed.view_as(grad))
