"""RunConfig: one frozen description of a training run, validated once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.errors import ConfigError
from core.models import DEFAULT_MODEL, DEVICES, POOLINGS
from core.precision import PRECISIONS
from core.strategies import STRATEGIES


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run: same config + same data + same seed = same result on one machine."""

    strategy: str = "full"
    model: str = DEFAULT_MODEL
    max_length: int = 128  # tokens kept per text; balance context against speed
    batch_size: int = 16
    epochs: int = 2  # a class demo must finish while people watch; early stopping guards longer runs
    lr_finetune: float = 5e-5  # small: keep what pretraining learned (2e-5 underfits MiniLM in 2 epochs: README)
    lr_scratch: float = 5e-4  # random weights need bigger steps
    lr_head: float = 1e-2  # a lone linear head on frozen features tolerates a large rate
    lr_head_finetune: float = 1e-3  # the new head while the encoder fine-tunes: fast, but not wild
    lr_lora: float = 5e-4  # adapters start at zero and are few: a larger rate than full fine-tuning
    dropout: float = 0.3
    warmup_ratio: float = 0.1  # share of optimizer steps spent warming the LR up from 0
    weight_decay: float = 0.01  # never applied to biases and LayerNorm weights
    grad_accum_steps: int = 1
    max_grad_norm: float = 1.0
    patience: int = 2  # early stopping: epochs without validation gain; 0 turns it off
    seed: int = 0
    pooling: str = "auto"  # the encoder's own recipe: mean for sentence-transformers, else [CLS]
    device: str = "auto"
    precision: str = "auto"  # bf16 autocast where the chip does bf16 natively (CPU or GPU), else fp32; see README
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, slower steps
    class_weighted: bool = False  # each class's loss weighed by 1 / its share of training texts: rare classes count
    # Options of the advanced strategies (each registry entry lists the ones it reads in `settings`).
    top_k: int = 2  # `top_k`: how many top encoder layers train
    lr_decay: float = 2.6  # `discriminative`: LR divided by this per layer going down (ULMFiT)
    lora_r: int = 8
    lora_alpha: int = 16
    lora_targets: str = "auto"  # the family's attention query/value projections, or comma-separated module names
    mlm_steps: int = 100  # `domain_adapt`: masked-LM steps on the training texts first

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"Unknown strategy '{self.strategy}'; choose from {', '.join(STRATEGIES)}.")
        for name in ("lr_finetune", "lr_scratch", "lr_head", "lr_head_finetune", "lr_lora"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ConfigError(f"Learning rate {name}={value} must be above 0 and at most 1 (typical: 1e-5 to 1e-2).")
        _check_range("max_length", self.max_length, 8, 8192)
        _check_range("batch_size", self.batch_size, 1, 4096)
        _check_range("epochs", self.epochs, 1, 200)
        _check_range("grad_accum_steps", self.grad_accum_steps, 1, 1024)
        _check_range("patience", self.patience, 0, 200)
        _check_range("top_k", self.top_k, 1, 1000)
        _check_range("lora_r", self.lora_r, 1, 1024)
        _check_range("mlm_steps", self.mlm_steps, 0, 1_000_000)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"Dropout {self.dropout} must be in [0, 1).")
        if not 0 <= self.warmup_ratio <= 0.5:
            raise ConfigError(f"Warmup ratio {self.warmup_ratio} must be between 0 and 0.5.")
        if not 0 <= self.weight_decay <= 1:
            raise ConfigError(f"Weight decay {self.weight_decay} must be between 0 and 1.")
        if self.max_grad_norm <= 0:
            raise ConfigError(f"Gradient clipping norm {self.max_grad_norm} must be above 0.")
        if self.lr_decay < 1:
            raise ConfigError(f"Layer-wise LR decay {self.lr_decay} must be at least 1 (1 = no decay).")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"Unknown pooling '{self.pooling}'; choose one of {', '.join(POOLINGS)}.")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"Unknown precision '{self.precision}'; choose one of {', '.join(PRECISIONS)}.")
        for name in ("gradient_checkpointing", "class_weighted"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be true or false.")
        if not self.lora_targets.replace(",", "").strip():
            raise ConfigError("LoRA targets must be 'auto' or comma-separated module names such as 'query,value'.")
        if self.device not in DEVICES:
            raise ConfigError(f"Unknown device '{self.device}'; choose one of {', '.join(DEVICES)}.")

    @property
    def learning_rate(self) -> float | None:
        """The base learning rate this run's strategy uses (None for TF-IDF, which has none)."""
        field = STRATEGIES[self.strategy].lr_field
        return getattr(self, field) if field else None

    def replace(self, **changes) -> "RunConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """Rebuild from `to_dict` output, ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _check_range(name: str, value, low, high) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{name}={value!r} must be a whole number between {low} and {high}.")
