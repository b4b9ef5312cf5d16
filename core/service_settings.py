"""The REST service's settings: where the runs are, where to listen, every limit, and the `serve`
flags that set them (validated once, like RunConfig)."""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from core import store
from core.errors import ConfigError

API_KEY_ENV = "TL_LAB_API_KEY"
BACKENDS = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class ServiceSettings:
    """Where the runs are, where to listen, and every limit of the service."""

    runs: Path = Path("runs")
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # required off loopback; when set, /models and /predict check it
    backend: str = "auto"  # auto: the backend core.export measured fastest (torch where it is missing)
    max_texts: int = 64  # texts per request
    max_chars: int = 5000  # characters per text
    max_body_bytes: int = 1_000_000
    max_queue: int = 1024  # texts waiting or running, all models together; more is refused with 503
    max_batch: int = 64  # texts per forward pass: past ~32 short texts a CPU gains little per text
    max_wait_ms: float = 5.0  # how long a batch waits for more texts, only while requests come in together
    cache_models: int = 4  # models kept loaded; the least recently used one goes first
    threads: int = 0  # inference threads (PyTorch; onnxruntime takes the same count); 0: one per core

    def __post_init__(self):
        for name in ("max_texts", "max_chars", "max_body_bytes", "max_queue", "max_batch", "cache_models"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)}).")
        if not 0 <= self.port <= 65535 or self.max_wait_ms < 0 or self.threads < 0:
            raise ConfigError("--port must be 0-65535, and --max-wait-ms and --threads 0 or more.")
        if self.max_texts > self.max_queue:
            raise ConfigError(f"--max-texts ({self.max_texts}) cannot exceed --max-queue ({self.max_queue}): "
                              f"such a request could never be queued.")
        if self.backend not in BACKENDS:
            raise ConfigError(f"Unknown backend '{self.backend}'; the backends are: {', '.join(BACKENDS)}.")
        if not self.api_key and not is_loopback(self.host):
            raise ConfigError(f"Serving on {self.host} (not loopback) needs an API key: pass --api-key "
                              f"or set {API_KEY_ENV}.")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1); every other host is reachable by others."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name could resolve anywhere


DEFAULTS = ServiceSettings()
# flag -> (ServiceSettings field, type, help)
FLAGS = {
    "--host": ("host", str, "address to listen on; anything but loopback needs an API key"),
    "--port": ("port", int, "TCP port"),
    "--backend": ("backend", str, "torch, onnx, or auto (the one core.export measured fastest; torch without it)"),
    "--max-texts": ("max_texts", int, "texts per request (more: 422)"),
    "--max-chars": ("max_chars", int, "characters per text (more: 422)"),
    "--max-body-bytes": ("max_body_bytes", int, "request body size (more: 413)"),
    "--max-queue": ("max_queue", int, "texts waiting or running, all models together (more: 503 with Retry-After)"),
    "--max-batch": ("max_batch", int, "texts per forward pass"),
    "--max-wait-ms": ("max_wait_ms", float, "how long a batch waits for more texts while requests come in together"),
    "--cache-models": ("cache_models", int, "models kept loaded (least recently used goes first)"),
    "--threads": ("threads", int, "inference threads, PyTorch and onnxruntime (0: one per available core)"),
}


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` subcommand's flags, with ServiceSettings' defaults."""
    parser.add_argument("--runs", default=str(store.DEFAULT_RUNS_ROOT),
                        help="folder of saved runs: a compare run's OUT/runs, or the dashboard's runs/ "
                             "(default: %(default)s)")
    parser.add_argument("--api-key", default=None, help=f"required key (X-API-Key or Bearer); default: ${API_KEY_ENV}")
    for flag, (field, kind, help_text) in FLAGS.items():
        default = getattr(DEFAULTS, field)
        parser.add_argument(flag, dest=field, type=kind, default=default, help=f"{help_text} (default: {default})")


def settings_from_args(args) -> ServiceSettings:
    """ServiceSettings from parsed flags; the API key falls back to the TL_LAB_API_KEY variable."""
    values = {field: getattr(args, field) for field, *_ in FLAGS.values()}
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    return ServiceSettings(runs=Path(args.runs), api_key=api_key, **values)
