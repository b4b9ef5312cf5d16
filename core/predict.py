"""Trained models that predict: in memory after training, or loaded back from a run folder.

Saved weights are safetensors and JSON only; loading never unpickles anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file as load_numpy, save_file as save_numpy
from safetensors.torch import load_model, save_model

from core.batching import token_batches, tokenize
from core.errors import ModelLoadError
from core.models import TextClassifier

MANIFEST = "predictor.json"


@dataclass(frozen=True)
class Prediction:
    """One text's predicted label, its probability, and every class's probability."""

    label: str
    confidence: float
    probabilities: dict[str, float]


class Predictor:
    """Common interface: probabilities for texts, labelled predictions, save to a folder."""

    label_names: tuple[str, ...]

    def predict_proba(self, texts) -> np.ndarray:  # (n_texts, n_classes)
        raise NotImplementedError

    def predict(self, texts) -> list[Prediction]:
        """Label and confidence for each text."""
        probs = self.predict_proba(list(texts))
        return [
            Prediction(self.label_names[int(row.argmax())], float(row.max()),
                       {name: float(p) for name, p in zip(self.label_names, row)})
            for row in probs
        ]

    def save(self, folder: Path) -> None:
        raise NotImplementedError


class EncoderPredictor(Predictor):
    """A `TextClassifier` (encoder + head) and its tokenizer."""

    def __init__(self, model: TextClassifier, tokenizer, max_length: int, label_names, device=None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.label_names = tuple(label_names)
        self.device = device or next(model.parameters()).device

    @torch.inference_mode()
    def predict_proba(self, texts, batch_size: int = 64) -> np.ndarray:
        """Softmax probabilities, (n_texts, n_classes), in input order."""
        token_ids = tokenize(self.tokenizer, texts, self.max_length)
        out = np.zeros((len(token_ids), len(self.label_names)), dtype=np.float32)
        for indices, ids, mask in token_batches(token_ids, batch_size, self.tokenizer.pad_token_id, shuffle=False):
            logits = self.model(ids.to(self.device), mask.to(self.device))
            out[indices] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out

    def save(self, folder: Path) -> None:
        """Weights (safetensors), encoder config, tokenizer and a manifest."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_model(self.model, str(folder / "model.safetensors"))
        self.model.encoder.config.save_pretrained(folder / "encoder")
        self.tokenizer.save_pretrained(folder / "tokenizer")
        manifest = {"kind": "encoder", "pooling": self.model.pooling, "max_length": self.max_length,
                    "label_names": list(self.label_names), "dropout": self.model.dropout.p}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, folder: Path, manifest: dict, device=None) -> "EncoderPredictor":
        """Rebuild the architecture from the saved config, then fill it from safetensors."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        config = AutoConfig.from_pretrained(folder / "encoder", local_files_only=True)
        encoder = AutoModel.from_config(config)
        model = TextClassifier(encoder, manifest["pooling"], len(manifest["label_names"]), manifest["dropout"])
        load_model(model, str(folder / "model.safetensors"), device=str(device or "cpu"))
        tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
        return cls(model, tokenizer, manifest["max_length"], manifest["label_names"], device)


class TfidfPredictor(Predictor):
    """A fitted TF-IDF vectorizer and logistic regression."""

    def __init__(self, vectorizer, classifier, label_names):
        self.vectorizer = vectorizer
        self.classifier = classifier
        self.label_names = tuple(label_names)

    def predict_proba(self, texts) -> np.ndarray:
        """Probabilities for every class, (n_texts, n_classes), even classes unseen in training."""
        probs = self.classifier.predict_proba(self.vectorizer.transform(list(texts)))
        out = np.zeros((probs.shape[0], len(self.label_names)), dtype=np.float32)
        out[:, self.classifier.classes_] = probs
        return out

    def save(self, folder: Path) -> None:
        """Vocabulary and settings as JSON, idf and coefficients as safetensors."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        vec = self.vectorizer
        arrays = {"idf": vec.idf_.astype(np.float64), "coef": self.classifier.coef_,
                  "intercept": self.classifier.intercept_, "classes": self.classifier.classes_.astype(np.int64)}
        save_numpy({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / "tfidf.safetensors"))
        settings = {"ngram_range": list(vec.ngram_range), "sublinear_tf": vec.sublinear_tf,
                    "lowercase": vec.lowercase, "vocabulary": {t: int(i) for t, i in vec.vocabulary_.items()}}
        (folder / "tfidf.json").write_text(json.dumps(settings))
        manifest = {"kind": "tfidf", "label_names": list(self.label_names)}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, folder: Path, manifest: dict, device=None) -> "TfidfPredictor":
        """Rebuild vectorizer and classifier from JSON + safetensors."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        _require(folder / "tfidf.safetensors")
        arrays = load_numpy(str(folder / "tfidf.safetensors"))
        settings = json.loads((folder / "tfidf.json").read_text())
        vec = TfidfVectorizer(ngram_range=tuple(settings["ngram_range"]), sublinear_tf=settings["sublinear_tf"],
                              lowercase=settings["lowercase"], vocabulary=settings["vocabulary"])
        vec.idf_ = arrays["idf"]
        clf = LogisticRegression()
        clf.coef_, clf.intercept_, clf.classes_ = arrays["coef"], arrays["intercept"], arrays["classes"]
        return cls(vec, clf, manifest["label_names"])


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
