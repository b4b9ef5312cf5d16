"""Continued pre-training: masked-word prediction on the task's own texts (domain adaptation).

The encoder learns the vocabulary and style of the task's texts before it sees a label. It reads
the training split's texts and any unlabelled texts of the domain the user adds
(core.texts.Splits.pretraining_texts), never validation or test.
"""

from __future__ import annotations

import torch

from core.batching import token_batches, tokenize
from core.errors import Cancelled, ConfigError
from core.models import family_name

MASK_PROBABILITY = 0.15  # BERT's recipe
MLM_LR = 5e-5


def mask_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer, generator) -> tuple:
    """BERT masking: 15% of real, non-special tokens are predicted; of those 80% [MASK], 10% random, 10% kept.

    Returns (masked input ids, labels with -100 where no prediction is made), both (batch, seq).
    """
    labels = input_ids.clone()
    special = torch.tensor([[t in tokenizer.all_special_ids for t in row] for row in input_ids.tolist()])
    candidates = attention_mask.bool() & ~special
    chosen = (torch.rand(input_ids.shape, generator=generator) < MASK_PROBABILITY) & candidates
    labels[~chosen] = -100
    masked = input_ids.clone()
    roll = torch.rand(input_ids.shape, generator=generator)
    masked[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    random_ids = torch.randint(len(tokenizer), input_ids.shape, generator=generator)
    use_random = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[use_random] = random_ids[use_random]
    return masked, labels


def masked_lm_for(encoder):
    """A masked-LM model whose body IS `encoder` (shared weights), with a fresh prediction head."""
    from transformers import AutoModelForMaskedLM

    try:
        mlm = AutoModelForMaskedLM.from_config(encoder.config)
    except ValueError:  # transformers knows no masked-LM model for this config class
        mlm = None
    if mlm is None or not isinstance(getattr(mlm, mlm.base_model_prefix, None), type(encoder)):
        raise ConfigError(f"{family_name(encoder)} encoders have no masked-language-model head, so domain_adapt "
                          "cannot continue their pre-training; use full.")
    setattr(mlm, mlm.base_model_prefix, encoder)
    mlm.tie_weights()  # the output layer reuses the (now shared) input embeddings
    return mlm


def continue_pretraining(model, tokenizer, texts, config, stop=None) -> int:
    """Train `model.encoder` with masked-LM loss for `config.mlm_steps` steps; returns steps done."""
    if config.mlm_steps == 0:
        return 0
    if tokenizer.mask_token_id is None:
        raise ConfigError("This model's tokenizer has no mask token, so domain_adapt has no words to hide and "
                          "predict; use full.")
    device = next(model.parameters()).device
    mlm = masked_lm_for(model.encoder).to(device).train()
    optimizer = torch.optim.AdamW([p for p in mlm.parameters() if p.requires_grad], lr=MLM_LR, eps=1e-8)
    generator = torch.Generator().manual_seed(config.seed)
    token_ids = tokenize(tokenizer, texts, config.max_length)
    steps = 0
    while steps < config.mlm_steps:
        for _, ids, mask in token_batches(token_ids, config.batch_size, tokenizer.pad_token_id,
                                          shuffle=True, seed=config.seed + steps):
            if stop is not None and stop.is_set():
                raise Cancelled()
            masked, labels = mask_tokens(ids, mask, tokenizer, generator)
            loss = mlm(input_ids=masked.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(mlm.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
            if steps >= config.mlm_steps:
                break
    return steps
