"""A saved neural run as ONNX: export it once, then predict with onnxruntime instead of PyTorch.

An export is three things side by side (named after the .onnx file; `ensure_onnx` puts a run's at
`<run>/model/model.onnx`):

    model.onnx          the TextClassifier (encoder + pooling + head) at opset OPSET: input_ids and
                        attention_mask, int64 (batch, sequence) -> outputs, float32 (batch, width): the raw
                        head outputs, one slice per target in order
    model-tokenizer/    the tokenizer (save_pretrained; its tokenizer.json runs with `tokenizers` alone)
    model.json          the manifest: targets (label names; regression mean and std), max_length, pad id,
                        and how to decode: softmax over a classification slice, value * std + mean for a number

Nothing here unpickles or runs remote code. For the service: `load_serving_predictor(run)` gives the
backend measured faster here (DEFAULT_BACKEND), exporting the run on first use; TF-IDF runs come back
as they were saved.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from core.batching import collate, token_batches, tokenize
from core.errors import ConfigError, ModelLoadError
from core.predict import MANIFEST, EncoderPredictor, Predictor, load_predictor
from core.store import write_json
from core.tasks import Target, decode, total_width

FORMATS = ("onnx",)
BACKENDS = ("onnx", "torch")
# Measured by bench/run.py onnx_vs_torch on this 2-core Xeon (frozen MiniLM run, Rotten Tomatoes, max length 64;
# both backends in one process, interleaved). Quiet machine (bench/results/onnx_vs_torch.quiet{,2}.json):
# single text p50 / p95 onnx 6.9 / 8.7 ms vs torch 14.4 / 18.2 ms (run 2: 6.7 / 8.6 vs 13.9 / 15.9), 2.1x faster;
# batches of 64 on 1,000 texts onnx 356 / 376 vs torch 380 / 391 texts/s (0.93-0.96x). Under load 5-8
# (onnx_vs_torch{,.run2}.json): single p50 13.8 / 17.4 vs 24.1 / 31.2 ms (1.75-1.8x); batch 0.86-1.05x.
# A service mostly answers single texts, and batches cost the same within 7%, so onnx.
DEFAULT_BACKEND = "onnx"
# Opset 23 has a native Attention op (and 20 a Gelu): onnxruntime runs each as one kernel, where opset 18
# spells them out in many small ops. An ad-hoc interleaved check here (512 RT sentences, batches of 64, not a
# bench case) gave opset 23 about 1.3x the batch throughput of opset 18. onnxruntime >= 1.23 runs it.
OPSET = 23
RUNTIME = "onnxruntime >= 1.23"
TOLERANCE = 1e-4  # an export whose outputs differ from PyTorch's by more is refused
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "outputs"
DECODING = ("outputs holds one slice per target, in order: a classification slice is softmaxed over its "
            "label_names; a regression slice (one column) is value * std + mean")
_EXPORT_LOCK = threading.RLock()  # one export at a time in a process (the service may ask from threads)


def manifest_path(onnx_file) -> Path:
    """Where the manifest of the export at `onnx_file` lives: model.onnx -> model.json."""
    return Path(onnx_file).with_suffix(".json")


def tokenizer_path(onnx_file) -> Path:
    """Where the tokenizer of the export at `onnx_file` lives: model.onnx -> model-tokenizer/."""
    onnx_file = Path(onnx_file)
    return onnx_file.with_name(onnx_file.stem + "-tokenizer")


def onnx_path_for(run_folder) -> Path:
    """Where `ensure_onnx` keeps a run's export: `<run>/model/model.onnx` (run or model folder accepted)."""
    folder = Path(run_folder)
    if (folder / "model" / MANIFEST).is_file():
        folder = folder / "model"
    return folder / "model.onnx"


def check_format(name: str) -> str:
    """The export format, or a ConfigError naming the formats there are."""
    if name not in FORMATS:
        raise ConfigError(f"Unknown export format '{name}'; the formats are: {', '.join(FORMATS)}.")
    return name


def export_onnx(run_folder, out_file) -> Path:
    """Export a saved neural run to ONNX at `out_file` (tokenizer and manifest alongside); returns the file."""
    out_file = Path(out_file)
    if out_file.suffix != ".onnx":
        raise ConfigError(f"The export file name must end in .onnx (got '{out_file}').")
    return _export(_encoder_predictor(run_folder), out_file, run_folder)


def ensure_onnx(run_folder) -> Path:
    """The run's export at `onnx_path_for(run)`, written on first call and reused afterwards."""
    path = onnx_path_for(run_folder)
    with _EXPORT_LOCK:  # a second caller waits for the first one's export, then reuses it
        return path if _complete(path) else export_onnx(run_folder, path)


def _complete(onnx_file: Path) -> bool:
    """True when an export's manifest exists (it is written last, so the rest is there too)."""
    return Path(onnx_file).is_file() and manifest_path(onnx_file).is_file()


def _export(predictor: EncoderPredictor, out_file: Path, run_folder) -> Path:
    """Trace, check against PyTorch, then move model and tokenizer into place and write the manifest."""
    with _EXPORT_LOCK, _staging_folder(out_file.parent) as staging:
        staged = Path(staging) / out_file.name
        example = _example_batch(predictor)
        _trace(predictor, example, staged, run_folder)
        _check_matches(staged, predictor, example, run_folder)
        predictor.tokenizer.save_pretrained(Path(staging) / "tokenizer")
        _replace_folder(Path(staging) / "tokenizer", tokenizer_path(out_file))
        staged.replace(out_file)
        write_json(manifest_path(out_file), _manifest(predictor, out_file, run_folder))  # last: marks it complete
    return out_file


def _staging_folder(folder: Path) -> tempfile.TemporaryDirectory:
    """A temporary folder next to the export (same file system, so moving out of it is atomic)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(dir=folder, prefix=".export-")
    except OSError as exc:
        raise ModelLoadError(f"Cannot write an export into '{folder}' ({exc.strerror or exc}); "
                             f"choose a writable place with --out.") from exc


def _encoder_predictor(run_folder) -> EncoderPredictor:
    """The run's PyTorch predictor on CPU; TF-IDF runs are refused in one sentence."""
    predictor = load_predictor(run_folder, device="cpu")
    if not isinstance(predictor, EncoderPredictor):
        raise ConfigError(f"'{run_folder}' is a TF-IDF run; ONNX export covers neural runs only, "
                          f"and `python -m core predict` serves TF-IDF runs as they are.")
    return predictor


def _example_batch(predictor: EncoderPredictor):
    """Two texts of different lengths as one padded batch: (2, seq) input_ids and attention_mask."""
    texts = ["a short example", "a somewhat longer example sentence, so that the batch has padding"]
    return collate(tokenize(predictor.tokenizer, texts, predictor.max_length), predictor.tokenizer.pad_token_id)


def _trace(predictor: EncoderPredictor, example, path: Path, run_folder) -> None:
    """torch.onnx.export (dynamo) with dynamic batch and sequence axes; one file, no external data."""
    import logging
    import warnings

    import torch

    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    axes = {name: {0: batch, 1: sequence} for name in INPUTS}
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    try:
        exporter_log.setLevel(logging.ERROR)  # e.g. "torchvision is not installed", once per missing op
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on axis names and deprecations
            torch.onnx.export(predictor.model.eval(), example, str(path), input_names=list(INPUTS),
                              output_names=[OUTPUT], dynamic_shapes=axes, opset_version=OPSET, dynamo=True,
                              external_data=False, verbose=False)
    except Exception as exc:  # the exporter raises many kinds; the user needs one sentence
        raise ConfigError(f"The model of '{run_folder}' could not be exported to ONNX "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}).") from exc
    finally:
        exporter_log.setLevel(level)


def _check_matches(path: Path, predictor: EncoderPredictor, example, run_folder) -> None:
    """Refuse an export whose raw outputs on the example differ from PyTorch's by more than TOLERANCE."""
    import torch

    with torch.inference_mode():
        expected = predictor.model(*example).float().numpy()
    got = _open_session(path).run([OUTPUT], _feed(*example))[0]
    gap = float(np.abs(got - expected).max())
    if gap > TOLERANCE:
        raise ConfigError(f"The ONNX export of '{run_folder}' differs from the PyTorch model by {gap:.2g} "
                          f"(more than {TOLERANCE:g}), so it was not written.")


def _replace_folder(source: Path, target: Path) -> None:
    """Move `source` to `target`, replacing what was there."""
    if target.exists():
        shutil.rmtree(target)
    source.replace(target)


def _manifest(predictor: EncoderPredictor, out_file: Path, run_folder) -> dict:
    """What a user needs to run the export with onnxruntime and a tokenizer only."""
    import onnx
    import torch

    return {"format": "onnx", "model": out_file.name, "tokenizer": tokenizer_path(out_file).name,
            "inputs": {"input_ids": "int64 (batch, sequence): token ids, padded with pad_token_id",
                       "attention_mask": "int64 (batch, sequence): 1 on tokens, 0 on padding"},
            "output": OUTPUT, "output_width": total_width(predictor.targets), "decoding": DECODING,
            "max_length": predictor.max_length, "pad_token_id": predictor.tokenizer.pad_token_id,
            "targets": [target.to_dict() for target in predictor.targets],
            "pooling": predictor.model.pooling, "opset": OPSET, "runs_with": RUNTIME,
            "source_run": str(Path(run_folder).resolve()),
            "exported_with": {"torch": torch.__version__, "onnx": onnx.__version__}}


def _open_session(path: Path):
    """An onnxruntime CPU session: intra-op threads = torch's (physical cores), all graph optimisations."""
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # torch's default is the physical core count
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads sleep instead of spinning: on shared cores a spinning pool waits for a
    # descheduled partner at every step (bench/README.md measured the same for torch's OpenMP).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own pybind error types for unreadable files
        raise ModelLoadError(f"'{path}' is not a readable ONNX model ({str(exc).splitlines()[0][:200]}); "
                             f"export the run again with `python -m core export`.") from exc


def _feed(input_ids, attention_mask) -> dict:
    """Session inputs from a token batch (torch tensors or arrays), as int64."""
    return {"input_ids": np.asarray(input_ids, dtype=np.int64),
            "attention_mask": np.asarray(attention_mask, dtype=np.int64)}


class OnnxPredictor(Predictor):
    """An exported model run by onnxruntime, tokenized and decoded exactly like EncoderPredictor."""

    def __init__(self, session, tokenizer, max_length: int, targets):
        self.session = session
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.targets = tuple(targets)

    def predict_outputs(self, texts, batch_size: int = 64) -> np.ndarray:
        """Probabilities / numbers per target, (n_texts, outputs), in input order."""
        token_ids = tokenize(self.tokenizer, texts, self.max_length)
        raw = np.zeros((len(token_ids), total_width(self.targets)), dtype=np.float32)
        for indices, ids, mask in token_batches(token_ids, batch_size, self.tokenizer.pad_token_id, shuffle=False):
            raw[indices] = self.session.run([OUTPUT], _feed(ids, mask))[0]
        return decode(raw, self.targets).astype(np.float32)

    def save(self, folder: Path) -> None:
        """Not needed: the export is already on disk; `python -m core export` writes another."""
        raise ModelLoadError("An ONNX export is saved by `python -m core export`, not by save().")


def load_onnx_predictor(path) -> OnnxPredictor:
    """Open an export: its .onnx file, or a run folder whose export sits at `onnx_path_for(run)`."""
    from transformers import AutoTokenizer

    path = Path(path)
    if path.is_dir():
        path = onnx_path_for(path)
    for needed in (path, manifest_path(path), tokenizer_path(path)):
        if not needed.exists():
            raise ModelLoadError(f"'{needed}' is missing; export the run with "
                                 f"`python -m core export --model RUN --format onnx --out {path}`.")
    manifest = json.loads(manifest_path(path).read_text())
    session = _open_session(path)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path(path), local_files_only=True)
    targets = [Target.from_dict(values) for values in manifest["targets"]]
    return OnnxPredictor(session, tokenizer, manifest["max_length"], targets)


def load_serving_predictor(run_folder, backend: str = DEFAULT_BACKEND) -> Predictor:
    """The predictor a service should use for a run: ONNX (exported on first use) or PyTorch; TF-IDF as saved."""
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown backend '{backend}'; the backends are: {', '.join(BACKENDS)}.")
    path = onnx_path_for(run_folder)
    if backend == "onnx" and _complete(path):
        return load_onnx_predictor(path)
    predictor = load_predictor(run_folder, device="cpu")
    if backend == "torch" or not isinstance(predictor, EncoderPredictor):
        return predictor
    return load_onnx_predictor(ensure_onnx(run_folder))
