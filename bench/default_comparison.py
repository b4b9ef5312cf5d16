"""Wall time of the dashboard's default comparison, run as the command line runs it.

    python -m core compare --data rotten_tomatoes --n-train 1000 --n-test 1000
        --strategies full,frozen,scratch,tfidf --epochs 2 --max-length 64
        --out RESULTS/default_comparison[.TAG][_quick]

runs as a subprocess (a fresh interpreter: imports, data and model loading all count) at core's
default precision ("auto": bf16 on a CPU with native bf16); its results.json gives the
per-strategy table. Target: <= 180 s wall.

    python bench/run.py default_comparison [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys

from _common import ROOT, Stopwatch, dtype_name, log, verdict

TARGET_SECONDS = 180.0
FULL_ARGS = ["--data", "rotten_tomatoes", "--n-train", "1000", "--n-test", "1000",
             "--strategies", "full,frozen,scratch,tfidf", "--epochs", "2", "--max-length", "64"]
QUICK_ARGS = ["--data", "rotten_tomatoes", "--n-train", "64", "--n-test", "64",
              "--strategies", "full,frozen,scratch,tfidf", "--epochs", "1", "--max-length", "64"]


def run_compare(cli_args: list[str], out: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run `python -m core compare ... --out OUT` from the repository root; (wall seconds, process)."""
    command = [sys.executable, "-m", "core", "compare", *cli_args, "--out", out]
    log("running: " + " ".join(command[1:]))
    with Stopwatch() as sw:
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return sw.seconds, proc


def strategy_table(results_path) -> list[dict]:
    """One row per strategy from the compare command's results.json."""
    runs = json.loads(results_path.read_text())["runs"]
    keys = ("strategy", "status", "test_accuracy", "macro_f1", "train_seconds", "predict_seconds",
            "best_epoch", "trainable_params")
    return [{k: r.get(k) for k in keys} | {"epochs_run": len(r.get("history", []))} for r in runs]


def run(args) -> dict:
    """Run the comparison once; quick: 64 sentences, 1 epoch."""
    name = "default_comparison" + (f".{args.tag}" if args.tag else "") + ("_quick" if args.quick else "")
    folder = args.results / name
    out = str(folder.relative_to(ROOT) if folder.resolve().is_relative_to(ROOT) else folder)
    cli_args = QUICK_ARGS if args.quick else FULL_ARGS
    seconds, proc = run_compare(cli_args, out)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"compare exited with {proc.returncode}")
    table = strategy_table(folder / "results.json")
    ok = seconds <= TARGET_SECONDS
    print(proc.stdout)
    print(f"wall {seconds:.1f} s (target <= {TARGET_SECONDS:.0f} s: {verdict(ok)}); "
          f"sum of train_seconds {sum(r['train_seconds'] for r in table):.1f} s, "
          f"of predict_seconds {sum(r['predict_seconds'] for r in table):.1f} s")
    results = {"settings": {"precision": "auto", "dtype": dtype_name("auto")},
               "subprocess_command": "python -m core compare " + " ".join(cli_args) + f" --out {out}",
               "wall_seconds": seconds, "strategies": table,
               "sum_train_seconds": sum(r["train_seconds"] for r in table),
               "sum_predict_seconds": sum(r["predict_seconds"] for r in table),
               "stdout_tail": proc.stdout[-2000:],
               "target": {"wall_seconds_max": TARGET_SECONDS, "pass": ok}}
    return results


if __name__ == "__main__":  # the same as `python bench/run.py default_comparison ARGS`
    import run as runner

    runner.main_as_script(__file__)
