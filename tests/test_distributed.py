"""Data parallelism (core.distributed): `compare --devices 2` trains, in two CPU processes joined by
gloo, the model one process trains with the same global batch, and only the main process writes.

Tolerance: the same held-out accuracy and macro-F1, every epoch's train and validation loss within
1e-5, and every saved weight within 5e-4 (measured here: 1.7e-7 and 2.7e-5). The model has no
dropout, so training is deterministic and the runs differ only in the order floating-point sums are
taken (one batch in one process, or two halves summed); AdamW divides each step by the root of the
gradient's running square, which turns that rounding into visible steps where a gradient is near
zero, hence the looser bound on weights. Twice the global batch moves the losses by 0.04-0.21.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core import distributed
from core.cli import main
from tests.support import make_texts

ROOT = Path(__file__).resolve().parent.parent
LOSS_TOLERANCE, WEIGHT_TOLERANCE = 1e-5, 5e-4
BATCH = 10  # 51 training texts: 5 batches of 10 and one of 1, which leaves one process without a row


@pytest.fixture(scope="module")
def still_model_dir(tmp_path_factory):
    """A 2-layer, 32-wide random BERT without dropout, so that training is deterministic."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from core.models import bundled_model_path

    folder = tmp_path_factory.mktemp("still-bert")
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def toy_csv(tmp_path_factory) -> str:
    """90 labelled toy sentences (tests/support.py) as a CSV file."""
    path = tmp_path_factory.mktemp("toy") / "toy.csv"
    texts, labels = make_texts(45)
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *((t, ("negative", "positive")[y]) for t, y in zip(texts, labels))])
    return str(path)


def compare_args(data: str, model_dir: str, out: Path, batch_size: int = BATCH) -> list[str]:
    """`full` learns the toy task in 8 epochs at these rates (test accuracy 0.96); `frozen` on the random
    encoder's features stays near chance, but trains the feature path."""
    return ["compare", "--data", data, "--n-train", "51", "--n-val", "11", "--n-test", "24",
            "--strategies", "full,frozen", "--epochs", "8", "--patience", "0", "--lr", "3e-3",
            "--lr-head-finetune", "1e-2", "--max-length", "16", "--batch-size", str(batch_size), "--dropout", "0",
            "--precision", "fp32", "--device", "cpu", "--model", model_dir, "--seed", "0", "--out", str(out)]


def runs_by_strategy(out: Path) -> dict[str, dict]:
    return {run["strategy"]: run for run in json.loads((out / "results.json").read_text())["runs"]}


def weights(run: dict) -> dict[str, torch.Tensor]:
    return load_file(str(Path(run["model_dir"]) / "model" / "model.safetensors"))


def gaps(one: dict, other: dict) -> tuple[float, float]:
    """The largest differences between two runs: of a per-epoch train or validation loss, and of a saved weight."""
    losses = max(abs(a[key] - b[key]) for a, b in zip(one["history"], other["history"])
                 for key in ("train_loss", "val_loss"))
    w1, w2 = weights(one), weights(other)
    return losses, max((w1[name] - w2[name]).abs().max().item() for name in w1)


@pytest.fixture(scope="module")
def two_and_one(toy_csv, still_model_dir, tmp_path_factory):
    """The comparison trained by two processes (`--devices 2`), and by one with the same and with twice the batch."""
    folder = tmp_path_factory.mktemp("distributed")
    proc = subprocess.run([sys.executable, "-m", "core", *compare_args(toy_csv, still_model_dir, folder / "two"),
                           "--devices", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert main(compare_args(toy_csv, still_model_dir, folder / "one")) == 0
    assert main(compare_args(toy_csv, still_model_dir, folder / "double", 2 * BATCH)) == 0
    return proc, folder


@pytest.mark.slow
def test_two_processes_train_the_model_one_process_trains(two_and_one):
    _, folder = two_and_one
    two, one = runs_by_strategy(folder / "two"), runs_by_strategy(folder / "one")
    assert set(two) == set(one) == {"full", "frozen"}
    assert one["full"]["test_accuracy"] >= 0.75  # it learned (chance is 0.5): equal accuracies say something
    for strategy in ("full", "frozen"):
        assert two[strategy]["status"] == "finished", two[strategy]["reason"]
        assert two[strategy]["test_accuracy"] == one[strategy]["test_accuracy"]
        assert two[strategy]["macro_f1"] == one[strategy]["macro_f1"]
        assert len(two[strategy]["history"]) == len(one[strategy]["history"]) == 8
        loss_gap, weight_gap = gaps(two[strategy], one[strategy])
        assert loss_gap <= LOSS_TOLERANCE and weight_gap <= WEIGHT_TOLERANCE, (strategy, loss_gap, weight_gap)


@pytest.mark.slow
def test_the_comparison_tells_a_different_global_batch_apart(two_and_one):
    """Had each process taken whole batches (a global batch of 2 x 10), the losses would be far outside
    the tolerance."""
    _, folder = two_and_one
    two, double = runs_by_strategy(folder / "two"), runs_by_strategy(folder / "double")
    for strategy in ("full", "frozen"):
        loss_gap, _ = gaps(two[strategy], double[strategy])
        assert loss_gap > 100 * LOSS_TOLERANCE, (strategy, loss_gap)


@pytest.mark.slow
def test_only_the_main_process_saves_and_prints(two_and_one):
    proc, folder = two_and_one
    assert len(list((folder / "two" / "runs").iterdir())) == 2  # one run per strategy, not one per process
    assert proc.stdout.count("wrote ") == 1 and proc.stdout.count("strategy") == 1


def test_batches_split_into_equal_shares_in_order():
    assert distributed.shard_sizes(10, 2) == [5, 5]
    assert distributed.shard_sizes(5, 2) == [3, 2]
    assert distributed.shard_sizes(1, 3) == [1, 0, 0]  # a process without a row runs one at weight 0


def test_a_single_process_stays_alone():
    assert not distributed.launched() and distributed.is_main()
    assert distributed.data_parallel(torch.nn.Linear(2, 2)) is None
