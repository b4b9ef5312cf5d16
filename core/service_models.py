"""The runs the REST service serves: found on disk, described for GET /models, loaded on first use
into a bounded least-recently-used cache.

A run's id is its folder name. Ids from requests are only ever looked up in the runs found under
the root, never joined into a path, so no request can reach a file outside it.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.errors import ConfigError
from core.predict import MANIFEST, Predictor, targets_from_manifest, load_predictor
from core.saved_runs import SavedRun, find_saved_runs
from core.tasks import Target

PASS_TEXTS = 8  # texts per forward pass inside a batch, sorted by length (see SortedPasses)
RESCAN_SECONDS = 2.0  # the runs folder is read again at most this often (new runs appear while serving)
LISTED_IDS = 20  # ids named in a 404 message; GET /models lists them all


class UnknownModel(LookupError):
    """A request named a model id that is not among the served runs."""

    def __init__(self, model_id: str, known: list[str]):
        shown = ", ".join(known[:LISTED_IDS]) + (f" and {len(known) - LISTED_IDS} more" if len(known) > LISTED_IDS else "")
        where = f"the models are: {shown}" if known else "no finished run with a saved model is there yet"
        super().__init__(f"Unknown model '{model_id[:80]}'; {where}.")


@dataclass(frozen=True)
class ServedRun:
    """A finished run with a saved model, and what its model predicts."""

    id: str
    run: SavedRun
    targets: tuple[Target, ...]
    max_length: int | None


def servable_runs(root: Path) -> dict[str, ServedRun]:
    """Finished runs with a saved model under `root` (CLI `OUT/runs` or dashboard `runs/<session>/`),
    by folder name, newest first; a repeated name keeps its newest folder."""
    found: dict[str, ServedRun] = {}
    for run in find_saved_runs(root):
        try:
            manifest = json.loads((run.folder / "model" / MANIFEST).read_text())
            targets = targets_from_manifest(manifest)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no model saved (or not one this tool wrote)
        found.setdefault(run.folder.name, ServedRun(run.folder.name, run, targets, manifest.get("max_length")))
    return found


def describe(served: ServedRun) -> dict:
    """A run as GET /models lists it: id, strategy, what it predicts, held-out metrics, data."""
    result, targets = served.run.result, served.targets
    first = targets[0]
    single_classes = len(targets) == 1 and first.kind == "classification"
    return {"id": served.id, "strategy": result.strategy,
            "task": first.kind if len(targets) == 1 else "multi-task",
            "labels": list(first.label_names) if single_classes else [target.name for target in targets],
            "targets": [_target_entry(result, i, target) for i, target in enumerate(targets)],
            "score_name": result.score_name, "score": result.score,
            "data": served.run.data_info.get("description") or served.run.data_info.get("data", ""),
            "max_length": served.max_length, "saved_at": served.run.saved_at}


def _target_entry(result, index: int, target: Target) -> dict:
    """One target's name, kind, labels and held-out metrics (accuracy / macro-F1, or R² / MAE / RMSE)."""
    saved = result.targets[index] if index < len(result.targets) else {}
    if not saved and index == 0:  # runs saved before per-target metrics kept them in the top fields
        saved = {"accuracy": result.test_accuracy, "macro_f1": result.macro_f1, "r2": result.test_r2,
                 "mae": result.test_mae, "rmse": result.test_rmse}
    keys = ("accuracy", "macro_f1") if target.kind == "classification" else ("r2", "mae", "rmse")
    return {"name": target.name, "kind": target.kind, "labels": list(target.label_names),
            "metrics": {key: saved.get(key) for key in keys}}


def resolve_backend(requested: str) -> str:
    """torch or onnx. auto: the backend core.export measured fastest (DEFAULT_BACKEND), or torch
    where core.export, onnx or onnxruntime is missing."""
    if requested == "torch":
        return "torch"
    try:
        from core import export
    except ImportError:
        export = None
    ready = export is not None and all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))
    if requested == "onnx" and not ready:
        raise ConfigError("The onnx backend needs core/export.py and the packages onnx and onnxruntime; "
                          "install them or use --backend torch.")
    if not ready:
        return "torch"
    return "onnx" if requested == "onnx" else export.DEFAULT_BACKEND


def load_model(folder: Path, backend: str) -> Predictor:
    """A run's predictor for serving: torch loads the saved safetensors; onnx exports the run once, then
    runs it with onnxruntime (core.export; TF-IDF runs stay as they are). Neural ones get SortedPasses."""
    if backend == "torch":
        predictor = load_predictor(folder, device="cpu")
    else:
        from core.export import load_serving_predictor

        predictor = load_serving_predictor(folder, backend)
    takes_batch_size = "batch_size" in inspect.signature(predictor.predict_outputs).parameters
    return SortedPasses(predictor) if takes_batch_size else predictor


class SortedPasses(Predictor):
    """A neural predictor whose forward passes take PASS_TEXTS texts of similar length at a time.

    A served batch gathers random texts; as one pass, each is padded to the longest (Rotten Tomatoes:
    27 real tokens on average, the longest of 25 near 64), and padding is most of the work. Sorted
    passes of 8 ran 1.4x (25 random sentences) and 1.7x (64) more texts/s with onnxruntime, the
    default backend, and 1.2x (64) with PyTorch, which would rather take 16 (frozen MiniLM, 2 cores)."""

    def __init__(self, inner: Predictor):
        self.inner, self.targets = inner, inner.targets

    def predict_outputs(self, texts):
        """The inner predictor's outputs, in input order, computed in sorted passes of PASS_TEXTS."""
        return self.inner.predict_outputs(texts, batch_size=PASS_TEXTS)


class ModelCatalog:
    """The servable runs under a root and a bounded LRU cache of their loaded models."""

    def __init__(self, root: Path, cache_size: int, backend: str = "torch",
                 loader: Callable[[Path], Predictor] | None = None):
        self.root, self.cache_size, self.backend = Path(root), cache_size, backend
        self._load = loader or (lambda folder: load_model(folder, backend))
        self._runs: dict[str, ServedRun] = {}
        self._read_at = -float("inf")
        self._loaded: OrderedDict[str, Predictor] = OrderedDict()
        self._lock = threading.Lock()

    def runs(self) -> dict[str, ServedRun]:
        """The servable runs by id, read again from disk when the last look is over RESCAN_SECONDS old."""
        with self._lock:
            if time.monotonic() - self._read_at >= RESCAN_SECONDS:
                self._runs, self._read_at = servable_runs(self.root), time.monotonic()
            return self._runs

    def knows(self, model_id: str) -> bool:
        """True when the id is among the runs found at the last look (no disk access)."""
        return model_id in self._runs

    def get(self, model_id: str) -> ServedRun:
        """The run with this id (looking on disk again if it is new), or UnknownModel naming the ids there are."""
        runs = self._runs if self.knows(model_id) else self.runs()
        if model_id not in runs:
            raise UnknownModel(model_id, list(runs))
        return runs[model_id]

    @property
    def loaded(self) -> list[str]:
        """Ids of the models in memory, least recently used first."""
        return list(self._loaded)

    def predictor(self, model_id: str) -> Predictor:
        """The model in memory, loaded on first use; past `cache_size` models the least recently used goes."""
        with self._lock:
            if model_id in self._loaded:
                self._loaded.move_to_end(model_id)
                return self._loaded[model_id]
        predictor = self._load(self.get(model_id).run.folder)  # seconds: outside the lock
        with self._lock:
            self._loaded[model_id] = predictor
            while len(self._loaded) > self.cache_size:
                self._loaded.popitem(last=False)
        return predictor

    def predict(self, model_id: str, texts: list[str]) -> list:
        """One core.predict.Prediction per text from the model."""
        return self.predictor(model_id).predict(texts)
