"""Trained models that predict: in memory after training, or loaded back from a run folder.

Saved weights are safetensors and JSON only; loading never unpickles anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy, save_file as save_numpy
from safetensors.torch import load_model, save_model

from core.batching import token_batches, tokenize
from core.errors import ModelLoadError
from core.models import TextClassifier
from core.tasks import Target, classification_targets, decode, slices, total_width

MANIFEST = "predictor.json"
PREDICT_BATCH_SIZE = 64  # texts per encoder batch when predicting (frozen runs reuse these batches: core.trainers)


@dataclass(frozen=True)
class Prediction:
    """One text's prediction for one target.

    Classes: the label, its probability (`confidence`) and every class's probability.
    Regression: `value` is the number and `label` its text; there is no confidence.
    Multi-task: `others` holds the predictions of the further targets, by target name.
    """

    label: str
    confidence: float | None
    probabilities: dict[str, float]
    value: float | None = None
    others: dict = field(default_factory=dict)


def prediction_fields(prediction: Prediction) -> dict:
    """One prediction as flat table columns: label and confidence (or value), then each further target's."""
    def fields(p: Prediction, prefix: str) -> dict:
        if p.value is not None:
            return {f"{prefix}value": round(p.value, 4)}
        return {f"{prefix}label": p.label, f"{prefix}confidence": round(p.confidence, 4)}

    out = fields(prediction, "")
    for name, other in prediction.others.items():
        out.update(fields(other, f"{name} "))
    return out


def _one_prediction(row: np.ndarray, target: Target) -> Prediction:
    if target.kind == "regression":
        return Prediction(f"{row[0]:.3g}", None, {}, value=float(row[0]))
    best = int(row.argmax())
    return Prediction(target.label_names[best], float(row[best]),
                      {name: float(p) for name, p in zip(target.label_names, row)})


def targets_from_manifest(manifest: dict) -> tuple[Target, ...]:
    """What a saved model predicts, from its manifest (runs saved before targets were recorded: classes)."""
    if "targets" in manifest:
        return tuple(Target.from_dict(values) for values in manifest["targets"])
    return classification_targets(manifest["label_names"])  # saved before targets were recorded


class Predictor:
    """Common interface: outputs for texts, labelled predictions, save to a folder."""

    targets: tuple[Target, ...]

    @property
    def label_names(self) -> tuple[str, ...]:
        """Classes of the first target (empty for regression)."""
        return self.targets[0].label_names

    @property
    def task(self) -> str:
        return self.targets[0].kind

    def predict_outputs(self, texts) -> np.ndarray:
        """(n_texts, outputs): class probabilities or numbers, target by target (see core.tasks)."""
        raise NotImplementedError

    def predict_proba(self, texts) -> np.ndarray:
        """Class probabilities of the first target, (n_texts, n_classes)."""
        if self.targets[0].kind != "classification":
            raise ModelLoadError("This model predicts a number, not classes; use predict().")
        return self.predict_outputs(list(texts))[:, : self.targets[0].width]

    def predict(self, texts) -> list[Prediction]:
        """Label (or value) and confidence for each text; further targets in `others`."""
        outputs = self.predict_outputs(list(texts))
        cuts = list(slices(self.targets))
        predictions = []
        for row in outputs:
            first, *rest = [(target, _one_prediction(row[cut], target)) for target, cut in cuts]
            others = {target.name: prediction for target, prediction in rest}
            predictions.append(replace(first[1], others=others) if others else first[1])
        return predictions

    def save(self, folder: Path) -> None:
        raise NotImplementedError


class EncoderPredictor(Predictor):
    """A `TextClassifier` (encoder + head) and its tokenizer."""

    def __init__(self, model: TextClassifier, tokenizer, max_length: int, targets, device=None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.targets = _as_targets(targets)
        self.device = device or next(model.parameters()).device

    @torch.inference_mode()
    def predict_outputs(self, texts, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Probabilities / numbers per target, (n_texts, outputs), in input order."""
        token_ids = tokenize(self.tokenizer, texts, self.max_length)
        raw = np.zeros((len(token_ids), total_width(self.targets)), dtype=np.float32)
        for indices, ids, mask in token_batches(token_ids, batch_size, self.tokenizer.pad_token_id, shuffle=False):
            raw[indices] = self.model(ids.to(self.device), mask.to(self.device)).float().cpu().numpy()
        return decode(raw, self.targets).astype(np.float32)

    def save(self, folder: Path) -> None:
        """Weights (safetensors), encoder config, tokenizer and a manifest."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_model(self.model, str(folder / "model.safetensors"))
        self.model.encoder.config.save_pretrained(folder / "encoder")
        self.tokenizer.save_pretrained(folder / "tokenizer")
        manifest = {"kind": "encoder", "pooling": self.model.pooling, "max_length": self.max_length,
                    "label_names": list(self.label_names), "targets": [t.to_dict() for t in self.targets],
                    "dropout": self.model.dropout.p}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, folder: Path, manifest: dict, device=None) -> "EncoderPredictor":
        """Rebuild the architecture from the saved config, then fill it from safetensors."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        targets = targets_from_manifest(manifest)
        config = AutoConfig.from_pretrained(folder / "encoder", local_files_only=True)
        encoder = AutoModel.from_config(config)
        model = TextClassifier(encoder, manifest["pooling"], total_width(targets), manifest["dropout"])
        load_model(model, str(folder / "model.safetensors"), device=str(device or "cpu"))
        tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
        return cls(model, tokenizer, manifest["max_length"], targets, device)


def _as_targets(targets) -> tuple[Target, ...]:
    """Targets as given, or plain class names (one classification target)."""
    targets = tuple(targets)
    if targets and all(isinstance(t, str) for t in targets):
        return classification_targets(targets)
    return targets


class TfidfPredictor(Predictor):
    """A fitted TF-IDF vectorizer and one linear model per target (logistic or ridge regression)."""

    def __init__(self, vectorizer, models, targets):
        self.vectorizer = vectorizer
        self.models = list(models)
        self.targets = _as_targets(targets)

    def predict_outputs(self, texts) -> np.ndarray:
        """Probabilities for every class (even classes unseen in training) or numbers, per target."""
        features = self.vectorizer.transform(list(texts))
        out = np.zeros((features.shape[0], total_width(self.targets)), dtype=np.float32)
        for (target, cut), model in zip(slices(self.targets), self.models):
            if target.kind == "regression":
                out[:, cut.start] = model.predict(features)
            else:
                block = np.zeros((features.shape[0], target.width), dtype=np.float32)
                block[:, model.classes_] = model.predict_proba(features)
                out[:, cut] = block
        return out

    def save(self, folder: Path) -> None:
        """Vocabulary and settings as JSON, idf and coefficients as safetensors."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        vec = self.vectorizer
        arrays = {"idf": vec.idf_.astype(np.float64)}
        for i, (target, model) in enumerate(zip(self.targets, self.models)):
            arrays[f"{i}.coef"] = np.atleast_2d(model.coef_)
            arrays[f"{i}.intercept"] = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
            if target.kind == "classification":
                arrays[f"{i}.classes"] = model.classes_.astype(np.int64)
        save_numpy({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / "tfidf.safetensors"))
        settings = {"ngram_range": list(vec.ngram_range), "sublinear_tf": vec.sublinear_tf,
                    "lowercase": vec.lowercase, "vocabulary": {t: int(i) for t, i in vec.vocabulary_.items()}}
        (folder / "tfidf.json").write_text(json.dumps(settings))
        manifest = {"kind": "tfidf", "label_names": list(self.label_names),
                    "targets": [t.to_dict() for t in self.targets]}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, folder: Path, manifest: dict, device=None) -> "TfidfPredictor":
        """Rebuild vectorizer and linear models from JSON + safetensors."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression, Ridge

        _require(folder / "tfidf.safetensors")
        arrays = load_numpy(str(folder / "tfidf.safetensors"))
        if "coef" in arrays:  # saved before multi-target support: one classifier, unprefixed
            arrays = {("0." + k if k != "idf" else k): v for k, v in arrays.items()}
        settings = json.loads((folder / "tfidf.json").read_text())
        vec = TfidfVectorizer(ngram_range=tuple(settings["ngram_range"]), sublinear_tf=settings["sublinear_tf"],
                              lowercase=settings["lowercase"], vocabulary=settings["vocabulary"])
        vec.idf_ = arrays["idf"]
        targets = targets_from_manifest(manifest)
        models = []
        for i, target in enumerate(targets):
            if target.kind == "regression":
                model = Ridge()
                model.coef_, model.intercept_ = arrays[f"{i}.coef"][0], float(arrays[f"{i}.intercept"][0])
            else:
                model = LogisticRegression()
                model.coef_, model.intercept_, model.classes_ = (arrays[f"{i}.coef"], arrays[f"{i}.intercept"],
                                                                 arrays[f"{i}.classes"])
            models.append(model)
        return cls(vec, models, targets)


_KINDS = {"encoder": EncoderPredictor, "tfidf": TfidfPredictor}


def _require(path: Path) -> None:
    if not path.is_file():
        raise ModelLoadError(
            f"'{path.parent}' has no {path.name}; only runs saved by this tool (safetensors weights) can be loaded."
        )


def load_predictor(folder, device=None) -> Predictor:
    """Load a saved model from a run folder (or its `model/` subfolder)."""
    folder = Path(folder)
    if (folder / "model" / MANIFEST).is_file():
        folder = folder / "model"
    if not folder.is_dir():
        raise ModelLoadError(f"Run folder '{folder}' does not exist.")
    _require(folder / MANIFEST)
    manifest = json.loads((folder / MANIFEST).read_text())
    kind = manifest.get("kind")
    if kind not in _KINDS:
        raise ModelLoadError(f"'{folder}' holds a model of unknown kind {kind!r}.")
    if kind == "encoder":
        _require(folder / "model.safetensors")
    return _KINDS[kind].load(folder, manifest, device)
