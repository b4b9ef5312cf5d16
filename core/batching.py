"""Tokenize once, batch by length, pad each batch only to its own longest text.

Cost then follows the real tokens: a batch of short sentences is not padded to `max_length`.
"""

from __future__ import annotations

import numpy as np
import torch


def tokenize(tokenizer, texts, max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to `max_length`, no padding."""
    if not texts:
        return []
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    return encoded["input_ids"]


def length_grouped_batches(lengths, batch_size: int, *, shuffle: bool, seed: int = 0) -> list[np.ndarray]:
    """Index batches whose texts have similar lengths.

    Evaluation: sorted by length, so padding is minimal. Training: shuffled, then sorted within
    windows of 50 batches and the batch order shuffled again, so batches stay random but tight.
    """
    lengths = np.asarray(lengths)
    if not shuffle:
        order = np.argsort(-lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    window = batch_size * 50
    chunks = []
    for start in range(0, len(order), window):
        part = order[start:start + window]
        part = part[np.argsort(-lengths[part], kind="stable")]
        chunks += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [chunks[i] for i in rng.permutation(len(chunks))]


def collate(token_ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a batch to its longest member: -> input_ids (batch, seq), attention_mask (batch, seq)."""
    width = max(len(ids) for ids in token_ids)
    input_ids = torch.full((len(token_ids), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(token_ids), width), dtype=torch.long)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


def token_batches(token_ids, batch_size: int, pad_id: int, *, shuffle: bool, seed: int = 0):
    """Yield (indices, input_ids, attention_mask) batches, length-grouped."""
    lengths = [len(ids) for ids in token_ids]
    for indices in length_grouped_batches(lengths, batch_size, shuffle=shuffle, seed=seed):
        ids, mask = collate([token_ids[i] for i in indices], pad_id)
        yield indices, ids, mask
