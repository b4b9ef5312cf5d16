"""Frozen-encoder features, computed once per (model, pooling, max length, texts) and reused.

The `frozen` strategy trains only a head, so running the encoder every epoch is waste: the
features are the same each time. They are kept in memory for the process and, optionally, on
disk as safetensors (never pickle), with the seconds computing them took. A class that runs one
lesson shares them: every student's frozen run trains on the same vectors, and predicts the held-out
texts from their full-precision vectors (core.trainers.train_on_features).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from core.batching import token_batches, tokenize
from core.precision import compute_dtype

_MEMORY: dict[str, tuple[torch.Tensor, float]] = {}  # key -> (features, seconds computing them took)
_LOCK = threading.Lock()
_MAX_MEMORY_ENTRIES = 32
_IN_FLIGHT: dict[str, threading.Event] = {}  # keys being computed now: a second asker waits for them


def cache_dir() -> Path | None:
    """Disk cache folder from TL_LAB_FEATURE_CACHE, or None (memory only)."""
    folder = os.environ.get("TL_LAB_FEATURE_CACHE")
    return Path(folder) if folder else None


def feature_key(model_id: str, pooling: str, max_length: int, texts, dtype: torch.dtype = torch.float32) -> str:
    """Stable key for one set of texts encoded by one model at one precision."""
    return texts_key((model_id, pooling, str(max_length), str(dtype)), texts)


def texts_key(parts, texts) -> str:
    """Stable key for a set of texts under some settings (`parts`, strings), without keeping the texts."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:32]


@torch.inference_mode()
def compute_features(classifier, tokenizer, texts, max_length: int, batch_size: int = 64,
                     device: torch.device | None = None, precision: str = "auto") -> torch.Tensor:
    """Pooled encoder vectors for every text: -> (n_texts, hidden), float32 on CPU, input order."""
    device = device or torch.device("cpu")
    dtype = compute_dtype(device, precision)
    classifier.eval()
    token_ids = tokenize(tokenizer, texts, max_length)
    hidden = classifier.encoder.config.hidden_size
    out = torch.empty((len(token_ids), hidden), dtype=torch.float32)
    for indices, ids, mask in token_batches(token_ids, batch_size, tokenizer.pad_token_id, shuffle=False):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            vectors = classifier.embed(ids.to(device, non_blocking=True), mask.to(device, non_blocking=True))
        out[torch.as_tensor(indices)] = vectors.float().cpu()
    return out


def cached_features(classifier, tokenizer, texts, *, model_id: str, max_length: int,
                    batch_size: int = 64, device=None, precision: str = "auto") -> tuple[torch.Tensor, bool, float]:
    """Features for `texts`, from the cache when present. Returns (features, was_cached, seconds): the
    seconds are what computing them took, measured when they were computed and kept with them."""
    dtype = compute_dtype(device or torch.device("cpu"), precision)
    key = feature_key(model_id, classifier.pooling, max_length, texts, dtype)
    with _LOCK:
        if key in _MEMORY:
            features, seconds = _MEMORY[key]
            return features, True, seconds
        computing = _IN_FLIGHT.get(key)
        if computing is None:
            _IN_FLIGHT[key] = threading.Event()
    if computing is not None:  # another run is encoding these texts: one encoder pass is enough
        computing.wait()
        return cached_features(classifier, tokenizer, texts, model_id=model_id, max_length=max_length,
                               batch_size=batch_size, device=device, precision=precision)
    try:
        return _load_or_compute(key, classifier, tokenizer, texts, max_length, batch_size, device, precision)
    finally:
        with _LOCK:
            _IN_FLIGHT.pop(key).set()


def _load_or_compute(key, classifier, tokenizer, texts, max_length, batch_size, device, precision):
    """The features of `key` from the disk cache, else computed (and timed); kept in memory either way."""
    disk = cache_dir()
    path = disk / f"{key}.safetensors" if disk else None
    if path is not None and path.is_file():
        with safe_open(str(path), framework="pt") as stored:
            features, seconds = stored.get_tensor("features"), float((stored.metadata() or {}).get("seconds", "nan"))
        hit = True
    else:
        started = time.perf_counter()
        features = compute_features(classifier, tokenizer, texts, max_length, batch_size, device, precision)
        seconds, hit = time.perf_counter() - started, False
        if path is not None:
            # written whole, then renamed: a worker process reading the shared cache never opens half a file
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_native_id()}.partial")
            save_file({"features": features.contiguous()}, str(partial), metadata={"seconds": repr(seconds)})
            os.replace(partial, path)
    with _LOCK:
        if len(_MEMORY) >= _MAX_MEMORY_ENTRIES:
            _MEMORY.pop(next(iter(_MEMORY)))
        _MEMORY[key] = (features, seconds)
    return features, hit, seconds


def clear_memory_cache() -> None:
    """Forget every in-memory feature set (tests and benchmarks use this)."""
    with _LOCK:
        _MEMORY.clear()
