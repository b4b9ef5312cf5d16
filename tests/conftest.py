"""Shared fixtures: a tiny random BERT saved like a real checkpoint, and tiny labelled splits
(their texts come from tests/support.py)."""

from __future__ import annotations

import os

import pytest

from tests.support import make_texts

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# precision "auto" is bf16 on CPUs with native bf16 and fp32 elsewhere: tests pin fp32 so that they
# behave alike on every CI machine; the bf16 path has tests of its own that ask for it by name.
os.environ.setdefault("TL_LAB_FP32", "1")
# Unit tests train in the job's own thread, where their monkeypatches reach the training; the worker
# processes that a server trains in by default have tests of their own (test_process_executor.py), and
# the servers started for browser tests (tests/live_app.py) use them.
os.environ.setdefault("TL_LAB_EXECUTOR", "local")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer, 32-wide random BERT with the bundled tokenizer, saved as safetensors."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from core.models import bundled_model_path

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    import torch

    torch.manual_seed(0)  # the same tiny model every session: tests must not depend on luck
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_splits():
    """Train 40 / val 16 / test 16 toy sentences, balanced."""
    from core.texts import LabeledTexts, Splits

    def part(n, seed):
        texts, labels = make_texts(n, seed)
        return LabeledTexts(tuple(texts), tuple(labels), ("negative", "positive"))

    return Splits(part(20, 1), part(8, 2), part(8, 3))
