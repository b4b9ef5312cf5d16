"""Print the results tables of bench/README.md from bench/results/*.json (markdown on stdout).

    python bench/report.py

Reads only what the other scripts wrote; runs nothing, so it is cheap to rerun after new results.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict | None:
    """One result file by stem (e.g. "frozen_cache.e3"), or None when it is missing."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def ok(flag) -> str:
    """PASS / FAIL / n/a."""
    return "n/a" if flag is None else ("PASS" if flag else "**FAIL**")


def load_note(d: dict) -> str:
    """Load averages at start and end of a run: the noise it ran under."""
    m = d["machine"]
    return f"load {m['load_average_start'][0]:.1f} -> {m['load_average_end'][0]:.1f}"


def prediction_rows() -> list[str]:
    """Latency and throughput rows (PASSIVE and libgomp-default runs)."""
    rows = []
    for stem in ("prediction", "prediction.run2", "prediction.omp-default"):
        d = load(stem)
        if d:
            s, b = d["single"], d["batch"]
            rows.append(f"| `{d['machine']['command']}` | {d['machine']['omp_wait_policy']} | {s['p50_ms']:.1f} | "
                        f"{s['p95_ms']:.1f} | {b['texts_per_second_median']:.0f} | <= 25 ms p50 | "
                        f"{ok(d['target']['pass'])} | {load_note(d)} |")
    return ["| command | OMP_WAIT_POLICY | p50 ms | p95 ms | batch texts/s (1,000) | target | result | noise |",
            "|---|---|---|---|---|---|---|---|", *rows]


def rt_length_rows() -> list[str]:
    """Epoch cost ratio 256 vs 64."""
    rows = []
    for stem in ("rt_length", "rt_length.run2"):
        d = load(stem)
        if d:
            med = d["medians"]
            rows.append(f"| `{d['machine']['command']}` | {med['64']['train_seconds']:.1f} | "
                        f"{med['256']['train_seconds']:.1f} | {d['ratio_train_seconds_256_over_64']:.3f} | "
                        f"{d['ratio_loop_seconds_256_over_64']:.3f} | <= 1.2 | {ok(d['target']['pass'])} | {load_note(d)} |")
    return ["| command | 64: train s | 256: train s | ratio | loop-only ratio | target | result | noise |",
            "|---|---|---|---|---|---|---|---|", *rows]


def hardware_rows() -> list[str]:
    """Peak, step rate and utilisation."""
    rows = []
    for stem in ("hardware_efficiency", "hardware_efficiency.run2"):
        d = load(stem)
        if d:
            s = d["summary"]
            rows.append(f"| `{d['machine']['command']}` | {s['peak_gflops']:.1f} | {s['step_seconds_median']:.2f} | "
                        f"{s['achieved_gflops_real_tokens']:.1f} | {100 * s['utilisation_real_tokens']:.0f}% | "
                        f"{100 * s['flop_counter']['utilisation']:.0f}% | >= 60% | {ok(d['target']['pass'])} | "
                        f"{load_note(d)} |")
    return ["| command | matmul peak GFLOP/s | step s (16x128) | achieved GFLOP/s (real tokens) | utilisation | "
            "FlopCounterMode utilisation | target | result | noise |", "|---|---|---|---|---|---|---|---|---|", *rows]


def frozen_rows() -> list[str]:
    """Cached vs naive frozen training, per epoch count."""
    rows = []
    for stem in ("frozen_cache", "frozen_cache.e3", "frozen_cache.e10"):
        d = load(stem)
        for r in (d or {}).get("results", []):
            sec, acc = r["median_train_seconds"], r["test_accuracy"]
            rows.append(f"| `{d['machine']['command']}` | {r['epochs']} | {sec['cached']:.1f} | {sec['naive']:.1f} | "
                        f"{r['speedup']:.2f}x | >= {r['target']['speedup_min']}x | {acc['cached']:.3f} | "
                        f"{acc['naive']:.3f} | {ok(r['target']['pass'])} | {load_note(d)} |")
    return ["| command | epochs | cached s | naive s | speed-up | target | acc cached | acc naive | result | noise |",
            "|---|---|---|---|---|---|---|---|---|---|", *rows]


def trainer_rows() -> list[str]:
    """Core vs Trainer samples/s and accuracy."""
    rows = []
    for stem in ("vs_trainer", "vs_trainer.dynamic"):
        d = load(stem)
        if not d:
            continue
        for name, s in d["summary"].items():
            cmp = d["comparisons"].get(name, {})
            speed = f"{cmp['speedup_samples_per_second']:.2f}x" if cmp else "-"
            target = ">= 1.3x, acc >= -0.01" if cmp.get("target", {}).get("applies") else "-"
            result = ok(cmp["target"]["pass"]) if cmp.get("target", {}).get("applies") else "-"
            rows.append(f"| `{d['machine']['command']}` | {name} | {s['samples_per_second']:.2f} | "
                        f"{s['loop_seconds']:.0f} | {s['end_to_end_seconds']:.0f} | {s['test_accuracy']:.3f} | "
                        f"{speed} | {target} | {result} | {load_note(d)} |")
    return ["| command | variant | samples/s | loop s | end-to-end s | held-out acc | core speed-up vs this | "
            "target | result | noise |", "|---|---|---|---|---|---|---|---|---|---|", *rows]


def default_rows() -> list[str]:
    """The default comparison's wall time and per-strategy table."""
    d = load("default_comparison")
    if not d:
        return []
    lines = ["| command | wall s | target | result | noise |", "|---|---|---|---|---|",
             f"| `{d['machine']['command']}` | {d['wall_seconds']:.0f} | <= 180 s | {ok(d['target']['pass'])} | "
             f"{load_note(d)} |", "", "| strategy | status | test acc | macro-F1 | train s | predict s | epochs |",
             "|---|---|---|---|---|---|---|"]
    for r in d["strategies"]:
        acc = f"{r['test_accuracy']:.3f}" if r["test_accuracy"] is not None else "-"
        f1 = f"{r['macro_f1']:.3f}" if r["macro_f1"] is not None else "-"
        lines.append(f"| {r['strategy']} | {r['status']} | {acc} | {f1} | {r['train_seconds']:.1f} | "
                     f"{r['predict_seconds']:.1f} | {r['epochs_run']} |")
    return lines


def steps_rows() -> list[str]:
    """Step-interleaved core vs Trainer (vs_trainer_steps.py)."""
    d = load("vs_trainer_steps")
    if not d:
        return []
    r, t = d["samples_per_second"], d["tokens"]
    return ["| command | core samples/s | Trainer-step samples/s | speed-up (sum) | median paired | "
            "tokens core / padded | target | result | noise |", "|---|---|---|---|---|---|---|---|---|",
            f"| `{d['machine']['command']}` | {r['core']:.2f} | {r['trainer']:.2f} | {d['speedup']:.2f}x | "
            f"{d['paired_speedup_median']:.2f}x | {t['core'] / t['trainer']:.3f} | >= 1.3x | {ok(d['target']['pass'])} | "
            f"{load_note(d)} |"]


def probe_rows() -> list[str]:
    """bf16 autocast and fused AdamW probes (no targets)."""
    rows = ["| command | measured |", "|---|---|"]
    d = load("bf16_features")
    if d:
        rows.append(f"| `{d['machine']['command']}` | features {d['speedup_bf16']:.2f}x faster in bf16 autocast "
                    f"(cosine to fp32 >= {d['cosine_fp32_bf16']['min']:.4f}; probe accuracy {d['probe_accuracy']['fp32']:.3f}"
                    f" fp32 vs {d['probe_accuracy']['bf16']:.3f} bf16); training step {d['train_step_speedup_bf16']:.2f}x faster |")
    d = load("optimizer_step")
    if d:
        m = d["median_seconds"]
        rows.append(f"| `{d['machine']['command']}` | clip + AdamW step + zero_grad: foreach {1000 * m['foreach']:.0f} ms, "
                    f"fused {1000 * m['fused']:.0f} ms |")
    return rows


def main() -> None:
    """Every table, one after another."""
    sections = [("Prediction", prediction_rows), ("Rotten Tomatoes epoch cost", rt_length_rows),
                ("Hardware efficiency", hardware_rows), ("Frozen feature cache", frozen_rows),
                ("Default comparison", default_rows), ("Core vs Trainer", trainer_rows),
                ("Core vs Trainer, step-interleaved", steps_rows), ("Probes", probe_rows)]
    for title, rows in sections:
        print(f"### {title}\n")
        print("\n".join(rows()) + "\n")


if __name__ == "__main__":
    main()
