"""The scheduler's memory estimates against what training really takes on a GPU.

A class server admits and packs runs by `core.training.estimate_run_bytes` (core.estimate: weights,
gradients, AdamW state and one micro-batch of activations). On a GPU server the memory that runs out
is the GPU's, so this case trains real runs on the GPU and compares, per run, the estimate (less the
host-side allowance `BASE_BYTES`) with the peak the CUDA allocator saw (torch.cuda.max_memory_allocated,
reset before each run) and with what it held from the driver (max_memory_reserved).

Encoders: the bundled MiniLM, and BERT-base and BERT-large shapes built from their configs with
random weights (memory does not depend on the values; the hubs are out of reach). Every run trains one
epoch on 256 IMDb reviews, long enough to fill max length 256 and 512, through core.training.train.
The estimate is safe when it is at least the allocator's peak; useful when it is not far above it.

    python bench/run.py gpu_memory [--tag h200]
    python bench/run.py gpu_memory --quick --allow-cpu   # a smoke check of the code on a CPU
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from _common import log, run_core, warm_up

import torch

from core.config import RunConfig
from core.estimate import BASE_BYTES
from core.models import bundled_model_path
from core.sources import load_bundled
from core.splits import make_splits
from core.training import estimate_run_bytes, release_memory

NEEDS_CUDA = True  # read by bench/run.py: `all` leaves this case out on a machine without a CUDA GPU
SHAPES = {  # BERT configs by size; MiniLM is the bundled model itself
    "bert-base (random weights)": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                                   "intermediate_size": 3072},
    "bert-large (random weights)": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                                    "intermediate_size": 4096},
}
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128}  # --quick
GRID = [  # (strategy, batch size, max length)
    ("full", 32, 256), ("full", 16, 512), ("lora", 32, 256), ("frozen", 32, 256), ("full_checkpointed", 32, 512),
]


def add_arguments(p) -> None:
    p.add_argument("--allow-cpu", action="store_true", help="without a CUDA device, a smoke check (needs --quick)")


def random_encoder(folder: Path, shape: dict) -> str:
    """A BERT of `shape` with random weights, saved with the bundled tokenizer as a local model folder."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, max_position_embeddings=512, **shape)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (bundled_model_path() / name).exists():
            shutil.copy(bundled_model_path() / name, folder / name)
    return str(folder)


def measured(config: RunConfig, splits, cuda: bool) -> dict:
    """One run's estimate and the allocator's peaks."""
    release_memory()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    out = run_core(config, splits)
    estimate = estimate_run_bytes(config, splits) - BASE_BYTES
    peak = torch.cuda.max_memory_allocated() if cuda else None
    reserved = torch.cuda.max_memory_reserved() if cuda else None
    return {"estimate_bytes": estimate, "peak_allocated_bytes": peak, "peak_reserved_bytes": reserved,
            "estimate_over_allocated": estimate / peak if peak else None,
            "safe": estimate >= peak if peak else None, "train_seconds": out["train_seconds"]}


def run(args) -> dict:
    cuda = torch.cuda.is_available()
    if not cuda and not (args.allow_cpu and args.quick):
        raise SystemExit("gpu_memory needs a CUDA GPU and none is visible; a smoke check of the code on this CPU: "
                         "`python bench/run.py gpu_memory --quick --allow-cpu`.")
    n_train = 8 if args.quick else 256
    splits = make_splits(load_bundled("imdb"), n_train=n_train, n_val=8, n_test=8, seed=0)
    warm_up()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {"minilm (bundled)": RunConfig().model}
        shapes = {"tiny-bert (random weights)": TINY} if args.quick else SHAPES
        for name, shape in shapes.items():
            models[name] = random_encoder(Path(tmp) / name.split()[0], shape)
        grid = GRID[:2] + GRID[-1:] if args.quick else GRID
        for model_name, model in models.items():
            for strategy, batch, length in grid:
                checkpointed = strategy.endswith("_checkpointed")
                config = RunConfig(strategy=strategy.removesuffix("_checkpointed"), model=model, batch_size=batch,
                                   max_length=length if not args.quick else 64, epochs=1, seed=0,
                                   gradient_checkpointing=checkpointed)
                log(f"{model_name}: {strategy}, batch {batch}, max length {config.max_length}")
                try:
                    row = measured(config, splits, cuda)
                except Exception as exc:  # noqa: BLE001 - an out-of-memory or a failure is a result too
                    row = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                row.update(model=model_name, strategy=strategy, batch_size=batch, max_length=config.max_length)
                rows.append(row)
                if "error" not in row and cuda:
                    print(f"{model_name:<28} {strategy:<18} b{batch:<3} L{config.max_length:<4} "
                          f"estimate {row['estimate_bytes'] / 2**30:6.2f} GiB, allocated {row['peak_allocated_bytes'] / 2**30:6.2f} "
                          f"GiB, reserved {row['peak_reserved_bytes'] / 2**30:6.2f} GiB ({row['estimate_over_allocated']:.2f}x)")
    judged = [r for r in rows if r.get("safe") is not None]
    return {"settings": {"n_train": n_train, "device": torch.cuda.get_device_name() if cuda else "cpu (smoke check)",
                         "gpu_memory_bytes": torch.cuda.get_device_properties(0).total_memory if cuda else None},
            "runs": rows, "all_safe": all(r["safe"] for r in judged) if judged else None,
            "estimate_over_allocated": {"min": min((r["estimate_over_allocated"] for r in judged), default=None),
                                        "max": max((r["estimate_over_allocated"] for r in judged), default=None)}}


if __name__ == "__main__":  # the same as `python bench/run.py gpu_memory ARGS`
    import run as runner

    runner.main_as_script(__file__)
