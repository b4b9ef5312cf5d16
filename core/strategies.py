"""The strategy registry: strategy id -> what trains, at which learning rates, and what it reads.

A strategy is a set of parameter groups. Each entry names its `kind` (how it is trained: see
`core.training.KINDS`, which also lists the hooks each kind calls), the RunConfig fields it reads
and the hooks that build its parameter groups. The loop only calls these hooks, so a new strategy
is a new entry here plus its test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from core.errors import ConfigError
from core.mlm import continue_pretraining
from core.models import SharedLayersError, embedding_module, encoder_layers, lora_target_modules


@dataclass(frozen=True)
class Strategy:
    """One registry entry."""

    id: str
    title: str
    summary: str  # one line for people choosing a strategy
    kind: str  # "encoder" (token batches), "features" (a head on cached features) or "tfidf"
    color: str  # the strategy's colour on every chart (distinct per entry)
    lr_field: str | None  # which RunConfig learning rate is the base rate; None: no learning rate
    settings: tuple[str, ...] = ()  # further RunConfig fields this strategy reads (shown with it)
    pretrained: bool = True  # False: the same architecture, randomly initialised
    prepare: Callable | None = None  # (model, config) -> optimizer parameter groups
    on_epoch_start: Callable | None = None  # (model, epoch (1-based), config) -> None
    before_fit: Callable | None = None  # (model, tokenizer, training + unlabelled texts, config, stop) -> None
    finalize: Callable | None = None  # (model) -> None, after training, before saving

    @property
    def hooks(self) -> tuple[str, ...]:
        """The names of the hooks this entry sets."""
        return tuple(name for name in ("prepare", "on_epoch_start", "before_fit", "finalize")
                     if getattr(self, name) is not None)


def decay_groups(named_parameters, lr: float, weight_decay: float) -> list[dict]:
    """Split parameters into weight-decay and no-decay groups (biases and LayerNorm weights get none)."""
    decay, no_decay = [], []
    for name, param in named_parameters:
        is_norm_or_bias = param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        (no_decay if is_norm_or_bias else decay).append(param)
    groups = [{"params": decay, "lr": lr, "weight_decay": weight_decay},
              {"params": no_decay, "lr": lr, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def set_trainable(module: nn.Module, trainable: bool) -> None:
    """Turn gradients on or off for every parameter of `module`."""
    for param in module.parameters():
        param.requires_grad_(trainable)


def _train_everything(model, config) -> list[dict]:
    set_trainable(model, True)
    return decay_groups(model.named_parameters(), config.learning_rate, config.weight_decay)


def _fine_tune_all(model, config) -> list[dict]:
    """Everything trains; the new, randomly initialised head at the head rate, the encoder gently.

    With one small rate (2e-5) for all, a fresh linear head barely moves in a few hundred steps
    and the run looks like pretraining does not help; a larger head rate fixes that.
    """
    set_trainable(model, True)
    body = [(n, p) for n, p in model.named_parameters() if not n.startswith("head.")]
    return (decay_groups(model.head.named_parameters(), config.lr_head_finetune, config.weight_decay)
            + decay_groups(body, config.learning_rate, config.weight_decay))


def _train_head_only(model, config) -> list[dict]:
    set_trainable(model, False)
    set_trainable(model.head, True)
    return decay_groups(model.head.named_parameters(), config.learning_rate, config.weight_decay)


def separate_layers(model, refusal: str) -> list[nn.Module]:
    """The encoder's blocks, bottom to top; a ConfigError ending in `refusal` when its depths share one."""
    try:
        return encoder_layers(model.encoder)
    except SharedLayersError as exc:
        raise ConfigError(f"{exc.family} shares one set of layer weights across its depth, so {refusal}.") from None


def _top_k_layers(model, config) -> list[dict]:
    """Head plus the top `config.top_k` transformer blocks train; the rest stays frozen."""
    layers = separate_layers(model, "top_k has no separate top layers to train alone; use full or lora")
    set_trainable(model, False)
    for module in layers[-config.top_k:]:
        set_trainable(module, True)
    body = [(n, p) for n, p in model.encoder.named_parameters() if p.requires_grad]
    set_trainable(model.head, True)
    return (decay_groups(model.head.named_parameters(), config.lr_head_finetune, config.weight_decay)
            + decay_groups(body, config.learning_rate, config.weight_decay))


def layer_groups(model, refusal: str = "it has no separate layers to act on") -> list[nn.Module]:
    """Modules from the top down: head, top block, ..., bottom block, embeddings (ULMFiT order).

    The top block's stage includes the encoder's pretrained pooler when the model pools with it;
    `refusal` ends the ConfigError's sentence for an encoder whose depths share one block (ALBERT)."""
    top, *below = reversed(separate_layers(model, refusal))
    pooler = getattr(model.encoder, "pooler", None) if model.pooling == "pooler" else None
    return [model.head, nn.ModuleList([pooler, top]) if pooler is not None else top, *below,
            embedding_module(model.encoder)]


def _discriminative(model, config) -> list[dict]:
    """Everything trains: the new head at the head rate (as in `full`), the top block at the
    fine-tuning rate, and each block further down at the rate above divided by `lr_decay`."""
    set_trainable(model, True)
    head, *body = layer_groups(model, "discriminative has no separate layers to give their own learning rates; "
                                      "use full")
    groups = decay_groups(head.named_parameters(), config.lr_head_finetune, config.weight_decay)
    for depth, module in enumerate(body):
        lr = config.learning_rate / (config.lr_decay ** depth)
        groups += decay_groups(module.named_parameters(), lr, config.weight_decay)
    return groups


GRADUAL_REFUSAL = "gradual has no separate layers to unfreeze one at a time; use head_then_full"


def _gradual_prepare(model, config) -> list[dict]:
    """All groups go to the optimizer; `gradual_unfreeze` decides which have gradients each epoch."""
    groups = _fine_tune_all(model, config)
    gradual_unfreeze(model, 1, config)
    return groups


def gradual_unfreeze(model, epoch: int, config) -> None:
    """Head at epoch 1, plus the top block at epoch 2, plus the next block at epoch 3, ..."""
    set_trainable(model, False)
    for module in layer_groups(model, GRADUAL_REFUSAL)[:epoch]:
        set_trainable(module, True)


def _head_then_full_epoch(model, epoch: int, config) -> None:
    """Epoch 1 trains the head on a frozen encoder; from epoch 2 everything trains."""
    if epoch == 1:
        set_trainable(model, False)
        set_trainable(model.head, True)
    else:
        set_trainable(model, True)


def _head_then_full_prepare(model, config) -> list[dict]:
    groups = _fine_tune_all(model, config)
    _head_then_full_epoch(model, 1, config)
    return groups


def _lora_prepare(model, config) -> list[dict]:
    """Freeze the encoder, add low-rank adapters to the target projections; adapters + head train."""
    from peft import LoraConfig, get_peft_model

    set_trainable(model, False)
    targets = (lora_target_modules(model.encoder) if config.lora_targets == "auto"
               else [t.strip() for t in config.lora_targets.split(",") if t.strip()])
    adapters = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.1,
                          target_modules=targets, bias="none")
    try:
        model.encoder = get_peft_model(model.encoder, adapters)
    except ValueError as exc:
        raise ConfigError(f"LoRA target modules {targets} do not match this encoder's layers: {exc}") from None
    set_trainable(model.head, True)
    adapter_params = [(n, p) for n, p in model.encoder.named_parameters() if p.requires_grad]
    return (decay_groups(model.head.named_parameters(), config.lr_head_finetune, config.weight_decay)
            + decay_groups(adapter_params, config.learning_rate, config.weight_decay))


def _lora_merge(model) -> None:
    """Fold the adapters into the encoder weights so the saved model is a plain encoder."""
    model.encoder = model.encoder.merge_and_unload()


FINE_TUNE_HEAD = ("lr_head_finetune",)  # strategies whose new head trains beside a pretrained encoder

_ENTRIES = [
    Strategy("full", "Full fine-tuning", "Every weight of the pretrained encoder and the head trains (small LR).",
             "encoder", "#4C78A8", "lr_finetune", FINE_TUNE_HEAD, prepare=_fine_tune_all),
    Strategy("frozen", "Frozen encoder (last layer only)",
             "The pretrained encoder is frozen; its features are computed once and only a linear head trains.",
             "features", "#F58518", "lr_head", prepare=_train_head_only),
    Strategy("scratch", "From scratch", "The same architecture with random weights: no pretraining at all.",
             "encoder", "#54A24B", "lr_scratch", pretrained=False, prepare=_train_everything),
    Strategy("tfidf", "TF-IDF + logistic regression", "Classical baseline: word and bigram counts, no neural network.",
             "tfidf", "#E45756", None),
    Strategy("gradual", "Gradual unfreezing (ULMFiT)",
             "The head trains first; each epoch unfreezes one more layer from the top.",
             "encoder", "#72B7B2", "lr_finetune", FINE_TUNE_HEAD, prepare=_gradual_prepare,
             on_epoch_start=gradual_unfreeze),
    Strategy("discriminative", "Discriminative learning rates",
             "Everything trains; each layer further from the head gets the LR of the one above divided by "
             "the layer-wise decay.",
             "encoder", "#B279A2", "lr_finetune", (*FINE_TUNE_HEAD, "lr_decay"), prepare=_discriminative),
    Strategy("top_k", "Partial freezing (top k layers)", "Only the top k encoder layers and the head train.",
             "encoder", "#FF9DA6", "lr_finetune", (*FINE_TUNE_HEAD, "top_k"), prepare=_top_k_layers),
    Strategy("lora", "LoRA adapters", "Low-rank adapters on the attention projections and the head train; the encoder stays frozen.",
             "encoder", "#EECA3B", "lr_lora", (*FINE_TUNE_HEAD, "lora_r", "lora_alpha", "lora_targets"),
             prepare=_lora_prepare, finalize=_lora_merge),
    Strategy("domain_adapt", "Continued pre-training, then full",
             "Masked-word training on the task's own texts first (training texts, plus unlabelled ones if given), "
             "then full fine-tuning.",
             "encoder", "#9D755D", "lr_finetune", (*FINE_TUNE_HEAD, "mlm_steps"), prepare=_fine_tune_all,
             before_fit=continue_pretraining),
    Strategy("head_then_full", "Head first, then everything",
             "Epoch 1 trains the head on a frozen encoder, later epochs fine-tune everything.",
             "encoder", "#BAB0AC", "lr_finetune", FINE_TUNE_HEAD, prepare=_head_then_full_prepare,
             on_epoch_start=_head_then_full_epoch),
]
STRATEGIES: dict[str, Strategy] = {s.id: s for s in _ENTRIES}
DEFAULT_STRATEGIES = ("full", "frozen", "scratch", "tfidf")


def get_strategy(strategy_id: str) -> Strategy:
    """Registry lookup with a clear error."""
    if strategy_id not in STRATEGIES:
        raise ConfigError(f"Unknown strategy '{strategy_id}'; choose from {', '.join(STRATEGIES)}.")
    return STRATEGIES[strategy_id]
