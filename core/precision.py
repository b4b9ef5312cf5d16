"""The precision policy: which dtype matmuls run in, for training steps and frozen features alike.

Weights, optimizer state and the loss stay fp32 whatever is chosen; only autocast regions change.
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache
from pathlib import Path

import torch

from core.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def cpu_flags() -> str:
    """The CPU feature flags the kernel reports ('' where there is no /proc/cpuinfo)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True on CPUs with native bf16 matmul (AVX512-BF16 or AMX); elsewhere bf16 would be slower.
    TL_LAB_FP32=1 makes precision "auto" mean fp32 on CPU (the tests set it, to behave alike on any CI CPU)."""
    if os.environ.get("TL_LAB_FP32") == "1":
        return False
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def compute_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """The dtype matmuls run in. auto: bf16 where the hardware does it natively (CUDA with bf16,
    CPUs with AVX512-BF16 or AMX), fp16 on older GPUs, else fp32. fp16 is for GPUs only.

    For frozen features bf16 loses nothing measurable against fp32 (cosine >= 0.9999, same
    accuracy) and encodes ~2x faster on this CPU (bench/bf16_features.py)."""
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise ConfigError("Precision fp16 needs a CUDA GPU; on a CPU use auto, bf16 or fp32.")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def autocast_for(device: torch.device, precision: str = "auto"):
    """(autocast context factory, gradient scaler or None) for `precision` (see `compute_dtype`):
    bf16 autocast where the hardware has it, fp16 with a scaler on older GPUs, plain fp32 otherwise."""
    dtype = compute_dtype(device, precision)
    if dtype == torch.float32:
        return contextlib.nullcontext, None
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast(device.type, dtype=dtype)), scaler
