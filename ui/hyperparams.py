"""Hyperparameter inputs generated from RunConfig's fields: defaults come from RunConfig, the
labels and help texts from here. A field added to RunConfig later appears under "More settings"
with its name as label, so the form never falls behind the config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import streamlit as st

from core.config import RunConfig
from core.models import DEFAULT_MODEL, DEVICES, POOLINGS
from core.precision import PRECISIONS
from core.strategies import STRATEGIES
from ui.setup import fixed_by_lesson
from ui.state import kept, kept_value, lesson_hides

DEFAULTS = RunConfig()
CONFIG_FIELDS = {field.name: field for field in dataclasses.fields(RunConfig)}
KEY_PREFIX = "hp_"
NOT_IN_FORM = ("strategy", "model")  # chosen with their own widgets
MAIN_FIELDS = ("max_length", "batch_size", "epochs")  # shown first, with what the chosen strategies read


@dataclass(frozen=True)
class FieldHelp:
    label: str
    help: str
    choices: tuple = ()


def _users(field: str) -> str:
    """Titles of the strategies that read a RunConfig field (as their learning rate or a setting)."""
    return ", ".join(s.title for s in STRATEGIES.values() if field == s.lr_field or field in s.settings)


FIELDS = {
    "max_length": FieldHelp("Max length (tokens)", "Each text is cut after this many tokens. Longer keeps more "
                            "context; each training step then costs more. The Data page shows how many texts get cut."),
    "batch_size": FieldHelp("Batch size", "Texts per training step. Larger batches give smoother gradients and "
                            "use more memory."),
    "epochs": FieldHelp("Epochs", "Passes over the training set. Early stopping (patience) may end a run sooner."),
    "lr_finetune": FieldHelp("Learning rate: fine-tuning", "Step size when pretrained weights train. Keep it small "
                             f"(1e-5 to 5e-5) so pretraining is not erased. Used by: {_users('lr_finetune')}."),
    "lr_scratch": FieldHelp("Learning rate: from scratch", "Random weights need bigger steps (around 5e-4). "
                            f"Used by: {_users('lr_scratch')}."),
    "lr_head": FieldHelp("Learning rate: head only", "A lone linear layer on frozen features tolerates a large "
                         f"rate (around 1e-2). Used by: {_users('lr_head')}."),
    "lr_head_finetune": FieldHelp("Learning rate: new head while fine-tuning", "The freshly initialised head learns "
                                  f"faster than the pretrained encoder under it. Used by: {_users('lr_head_finetune')}."),
    "lr_lora": FieldHelp("Learning rate: LoRA adapters", "Adapters start at zero and are few, so they take a larger "
                         f"rate than full fine-tuning. Used by: {_users('lr_lora')}."),
    "dropout": FieldHelp("Dropout", "Share of features zeroed at random before the head while training; "
                         "fights overfitting."),
    "warmup_ratio": FieldHelp("Warmup share", "Share of steps during which the learning rate climbs from 0; "
                              "avoids large early updates that damage pretrained weights."),
    "weight_decay": FieldHelp("Weight decay", "Pulls weights towards zero (AdamW); never applied to biases and "
                              "LayerNorm."),
    "patience": FieldHelp("Early-stopping patience (epochs)", "Stop after this many epochs without a better "
                          "validation score (accuracy, or R² for numbers) and keep the best epoch. 0 turns it off."),
    "seed": FieldHelp("Seed", "Same seed + same settings + same data = same result on this machine."),
    "grad_accum_steps": FieldHelp("Gradient accumulation", "Batches added up before each update: a larger "
                                  "effective batch without more memory."),
    "max_grad_norm": FieldHelp("Gradient clipping norm", "Gradients longer than this are scaled down; guards "
                               "against loss spikes."),
    "pooling": FieldHelp("Pooling", "How token vectors become one text vector. 'auto' follows the encoder's own "
                         "recipe (mean for sentence-transformers, else [CLS]).", choices=POOLINGS),
    "device": FieldHelp("Device", "'auto' uses a CUDA GPU when there is one, else the CPU.",
                        choices=DEVICES),
    "precision": FieldHelp("Precision", "'auto' runs the matmuls in bfloat16 where the chip does it natively "
                           "(recent CPUs and GPUs; weights stay fp32), else fp32. fp16 is for older GPUs.",
                           choices=PRECISIONS),
    "class_weighted": FieldHelp("Class-weighted loss", "Each class's loss counts in proportion to 1 / its share of "
                                "the training texts, so a rare class is not ignored. For imbalanced labels."),
    "gradient_checkpointing": FieldHelp("Gradient checkpointing", "Recompute each layer's activations in the "
                                        "backward pass instead of keeping them: less memory for long texts, "
                                        "slower steps (MiniLM, 16 texts x 256 tokens on a CPU: peak memory "
                                        "3.2 -> 2.1 GB, about 1.5x the time per step). Only where the encoder "
                                        "is fine-tuned."),
    "top_k": FieldHelp("Top k layers (partial freezing)", "How many of the top encoder layers train."),
    "lr_decay": FieldHelp("Layer-wise LR decay (discriminative)", "Learning rate divided by this for each layer "
                          "further from the head (ULMFiT uses 2.6)."),
    "lora_r": FieldHelp("LoRA rank", "Size of the low-rank adapters (LoRA strategy)."),
    "lora_alpha": FieldHelp("LoRA alpha", "Scale of the adapters' updates (LoRA strategy)."),
    "lora_targets": FieldHelp("LoRA target layers", "Which weights get adapters (LoRA strategy): 'auto' picks the "
                              "encoder family's attention query and value projections (query,value for BERT, "
                              "q_lin,v_lin for DistilBERT, query_proj,value_proj for DeBERTa-v2), or give "
                              "comma-separated module names."),
    "mlm_steps": FieldHelp("Domain-adaptation steps", "Masked-language-model steps on the training texts before "
                           "fine-tuning (domain adaptation strategy)."),
}


def model_input() -> str:
    """The encoder: the bundled MiniLM, any Hugging Face id, or a local folder (or the one a lesson link fixed)."""
    model = kept_value(KEY_PREFIX + "model", DEFAULT_MODEL)
    if fixed_by_lesson("encoder", model):
        return model
    return st.text_input("Encoder (Hugging Face id or local folder)", **kept(KEY_PREFIX + "model", DEFAULT_MODEL),
                         help=f"Default: {DEFAULT_MODEL}, bundled, works offline. Other ids need internet access "
                              "the first time; a run that cannot load its model fails with the reason.").strip()


def max_length_input() -> int:
    """The max length widget (the Data and Train pages share it, so both show the same value); a
    lesson link that fixed the hyperparameters fixed it too."""
    if lesson_hides("hyperparameters"):
        return kept_value(KEY_PREFIX + "max_length", DEFAULTS.max_length)
    return _field_input(CONFIG_FIELDS["max_length"])


def hyperparameter_inputs(strategies: list[str]) -> dict:
    """Every RunConfig field except strategy and model, as {field name: value}.

    The main fields and what the chosen `strategies` read (their learning rate and settings, from
    the registry) come first; the rest sits in an expander. When a lesson link fixed them, its values
    are used and said in a caption, and no input is drawn.
    """
    if lesson_hides("hyperparameters"):
        values = {name: kept_value(KEY_PREFIX + name, getattr(DEFAULTS, name))
                  for name in CONFIG_FIELDS if name not in NOT_IN_FORM}
        changed = [f"{FIELDS[name].label if name in FIELDS else name} {value}" for name, value in values.items()
                   if value != getattr(DEFAULTS, name)]
        fixed_by_lesson("hyperparameters", "; ".join(changed) + ("; the rest at their defaults" if changed else "")
                        or "all at their defaults")
        return values
    chosen = {name for s in strategies for name in (STRATEGIES[s].lr_field, *STRATEGIES[s].settings) if name}
    fields = [f for f in CONFIG_FIELDS.values() if f.name not in NOT_IN_FORM]
    common = [f for f in fields if f.name in MAIN_FIELDS or f.name in chosen]
    rare = [f for f in fields if f not in common]
    values = {}
    columns = st.columns(3)
    for i, field in enumerate(common):
        with columns[i % 3]:
            values[field.name] = _field_input(field)
    with st.expander("More settings (rarely changed; the defaults are the recommended values)"):
        columns = st.columns(3)
        for i, field in enumerate(rare):
            with columns[i % 3]:
                values[field.name] = _field_input(field)
    return values


def _field_input(field: dataclasses.Field):
    """One widget for one RunConfig field, chosen by the type of its default value."""
    default = getattr(DEFAULTS, field.name)
    spec = FIELDS.get(field.name, FieldHelp(field.name.replace("_", " ").capitalize(), ""))
    bound = kept(KEY_PREFIX + field.name, default)
    help_text = f"{spec.help} Default: {default}.".strip()
    if spec.choices:
        return st.selectbox(spec.label, spec.choices, help=help_text, **bound)
    if isinstance(default, bool):
        return st.checkbox(spec.label, help=help_text, **bound)
    if isinstance(default, str):
        return st.text_input(spec.label, help=help_text, **bound)
    if isinstance(default, int):
        return st.number_input(spec.label, step=1, help=help_text, **bound)
    if field.name.startswith("lr_") and default < 0.1:  # learning rates read best as 2.0e-05
        return st.number_input(spec.label, step=default / 10, format="%.1e", help=help_text, **bound)
    return st.number_input(spec.label, step=0.05 if default < 1 else 0.1, format="%.2f", help=help_text, **bound)
