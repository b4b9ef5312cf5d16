"""`python -m core serve`: start the REST service over saved runs, and the client snippets that call it.

The service is split by concern: `service_settings` (flags and limits, validated once),
`service_app` (FastAPI routes, request limits, API key), `service_models` (the runs it serves and
the loaded-model cache), `service_batching` (dynamic batching). This module imports FastAPI only
when the service starts, so the command line stays fast.
"""

from __future__ import annotations

import json
import os
import shlex
import sys

from core import store
from core.errors import ConfigError
from core.service_settings import DEFAULTS, ServiceSettings, add_serve_arguments, settings_from_args

__all__ = ["add_serve_arguments", "client_snippets", "cmd_serve", "configure_torch", "serve"]  # cli imports the flags here


def cmd_serve(args) -> int:
    """Serve the runs saved under --runs until interrupted."""
    serve(settings_from_args(args))
    return 0


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def configure_torch(threads: int) -> int:
    """Intra-op threads for inference (one per core unless told), one inter-op thread; returns the count.

    Batches run one at a time on one worker thread, so parallelism inside each forward pass is
    all the service needs; inter-op threads would only compete with it and the event loop.
    core.export's onnxruntime sessions take the same count from PyTorch."""
    import torch

    threads = threads or available_cores()
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already ran in this process
        pass
    return threads


def serve(settings: ServiceSettings) -> None:
    """Start uvicorn with the app over `settings.runs`; returns when the server stops."""
    import uvicorn

    from core.service_app import create_app

    if not settings.runs.is_dir():
        raise ConfigError(f"The runs folder '{settings.runs}' does not exist; train with `python -m core compare` "
                          f"and pass its OUT/runs, or the dashboard's runs/ folder.")
    threads = configure_torch(settings.threads)
    app = create_app(settings)
    catalog = app.state.catalog
    print(f"serving {len(catalog.runs())} saved runs from {settings.runs} on http://{settings.host}:{settings.port} "
          f"({catalog.backend} backend, {threads} inference threads); GET /models lists them", file=sys.stderr)
    # limit_concurrency is a backstop for connections; the bounded text queue answers overload first.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False,
                limit_concurrency=settings.max_queue + 256, timeout_graceful_shutdown=5)


def client_snippets(model_id: str, text: str, runs_root=None, host: str = DEFAULTS.host,
                    port: int = DEFAULTS.port) -> dict[str, str]:
    """Shell and Python code that start the service and ask it for one text's prediction.

    Keys: serve, curl, python. The request body is JSON-encoded, so any text is safe in the snippet."""
    runs_root = store.DEFAULT_RUNS_ROOT if runs_root is None else runs_root
    url = f"http://{host}:{port}/predict"
    payload = {"model": model_id, "texts": [text]}
    body = json.dumps(payload, ensure_ascii=False)
    curl = f"curl -s {url} -H 'Content-Type: application/json' \\\n  -d {shlex.quote(body)}"
    python = (f"import requests\n\npayload = {body}\nresponse = requests.post({url!r}, json=payload, timeout=30)\n"
              f"response.raise_for_status()\nprint(response.json()[\"predictions\"][0])")
    return {"serve": f"python -m core serve --runs {shlex.quote(str(runs_root))}", "curl": curl, "python": python}
