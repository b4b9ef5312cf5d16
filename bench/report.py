"""Read every result file and write the performance tables: README.md's summary, bench/README.md's details.

    python bench/report.py            # print the tables and rewrite both files between their markers
    python bench/report.py --check    # write nothing; exit 1 when either file is out of date
    python bench/report.py --quick --results DIR --readme FILE --details FILE   # quick results (the tests)

Reads every *.json directly under the results folder (bench/results, or $BENCH_RESULTS) and runs
nothing; it imports neither torch nor core. Detail tables list every file of a known case; a file of
an unknown case or shape is listed under "Not in the tables" with the reason.

Which file fills a README row: among the case's result files that are not quick (with --quick: only
the quick ones) and whose settings fit the row, the newest. Newest is by the timestamp recorded in
the file; files from before timestamps were recorded (older ui_responsiveness results) count by the
date of the commit that last changed them, else by the file's modification time. The row names its file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("BENCH_RESULTS") or ROOT / "bench" / "results")
TABLE_BEGIN = "<!-- bench-table:begin (written by python bench/report.py from bench/results; edit those, not this) -->"
TABLE_END = "<!-- bench-table:end -->"
DETAILS_BEGIN = "<!-- bench-details:begin (written by python bench/report.py from bench/results) -->"
DETAILS_END = "<!-- bench-details:end -->"
SHAPE_ERRORS = (KeyError, TypeError, IndexError, ValueError, ZeroDivisionError, AttributeError, StopIteration)


@dataclass(frozen=True)
class Result:
    """One result file: its path, its content and when it was measured (ISO 8601)."""

    path: Path
    data: dict
    when: str

    @property
    def case(self) -> str:
        return self.data.get("benchmark") or self.path.name.split(".")[0]

    @property
    def quick(self) -> bool:
        return bool(self.data.get("quick")) or self.path.name.endswith(".quick.json")

    @property
    def machine(self) -> dict:
        return self.data.get("machine") or {}

    @property
    def command(self) -> str:
        return self.machine.get("command") or self.data.get("command") or "(not recorded)"


def measured_at(path: Path, data: dict) -> str:
    """The recorded timestamp; else the date of the commit that last changed the file; else its mtime."""
    stamp = (data.get("machine") or {}).get("timestamp")
    if stamp:
        return stamp
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cI", "--", path.name], cwd=path.parent,
                             capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if out:
        return dt.datetime.fromisoformat(out).astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat(timespec="seconds")


def load_results(folder: Path) -> tuple[list[Result], list[str]]:
    """Every *.json in `folder`, oldest first, and a note for each file that is not a result at all."""
    results, unreadable = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            unreadable.append(f"`{path.name}`: not readable JSON ({exc})")
            continue
        if not isinstance(data, dict):
            unreadable.append(f"`{path.name}`: unknown shape (not a JSON object)")
            continue
        results.append(Result(path, data, measured_at(path, data)))
    return sorted(results, key=lambda r: (r.when, r.path.name)), unreadable


# ---------------------------------------------------------------- small formatting helpers

def ok(flag) -> str:
    """PASS / **FAIL** / - (no target)."""
    return "-" if flag is None else ("PASS" if flag else "**FAIL**")


def load_note(r: Result) -> str:
    """1-minute load average at start and end (2 cores: above 2 means work was waiting)."""
    m, old = r.machine, r.data.get("load_average_1min")
    if m.get("load_average_start") and m.get("load_average_end"):
        return f"load {m['load_average_start'][0]:.1f} -> {m['load_average_end'][0]:.1f}"
    if isinstance(old, dict):
        return f"load {old['start']:.1f} -> {old['end']:.1f}"
    return "load not recorded"


def cpu_note(r: Result) -> str:
    """Short CPU name ("AMD EPYC", "Intel Xeon") and torch threads, or "CPU not recorded"."""
    model = r.machine.get("cpu_model")
    if not model:
        return "CPU not recorded"
    words = re.sub(r"\(R\)|\(TM\)|Processor|CPU|@.*|\d+-Core", " ", model).split()
    return f"{' '.join(words[:2])}, {r.machine.get('torch_threads', '?')} threads"


def day(r: Result) -> str:
    return r.when[:16].replace("T", " ")


def precision_of(settings: dict, default: str) -> str:
    """The dtype a result ran in, or what it was before results recorded it."""
    return settings.get("dtype") or default


# ---------------------------------------------------------------- detail tables, one per case

def prediction_detail(r: Result) -> list[list]:
    s, b = r.data["single"], r.data["batch"]
    return [[r.machine.get("omp_wait_policy", "?"), f"{s['p50_ms']:.1f}", f"{s['p95_ms']:.1f}",
             f"{b['texts_per_second_median']:.0f}", ok(r.data["target"]["pass"])]]


def rt_length_detail(r: Result) -> list[list]:
    d, med = r.data, r.data["medians"]
    return [[f"{med['64']['train_seconds']:.1f}", f"{med['256']['train_seconds']:.1f}",
             f"{d['ratio_train_seconds_256_over_64']:.3f}", f"{d['ratio_loop_seconds_256_over_64']:.3f}",
             ok(d["target"]["pass"])]]


def hardware_detail(r: Result) -> list[list]:
    s = r.data["summary"]
    counted = s.get("flop_counter", {}).get("utilisation")
    dtype = r.data["settings"]["dtype"]  # the 60% target is against the fp32 peak; bf16 is reported only
    return [[dtype, f"{s['peak_gflops']:.1f}", f"{s['step_seconds_median']:.2f}",
             f"{s['achieved_gflops_real_tokens']:.1f}", f"{100 * s['utilisation_real_tokens']:.1f}%",
             "-" if counted is None else f"{100 * counted:.0f}%",
             ok(r.data["target"]["pass"] if dtype == "float32" else None)]]


def frozen_detail(r: Result) -> list[list]:
    rows = []
    default = "not recorded: naive fp32, cached core's default then"
    for x in r.data["results"]:
        sec, acc = x["median_train_seconds"], x["test_accuracy"]
        gain = f"{x['precision_gain']:.2f}x" if "precision_gain" in x else "-"
        rows.append([precision_of(r.data["settings"], default), x["epochs"], len(x["runs"]["cached"]),
                     f"{sec['cached']:.1f}", f"{sec['naive']:.1f}", f"{x['speedup']:.2f}x",
                     f"{acc['cached']:.3f}", f"{acc['naive']:.3f}", gain, ok(x["target"]["pass"])])
    return rows


def default_detail(r: Result) -> list[list]:
    accuracy = ", ".join(f"{s['strategy']} {s['test_accuracy']:.3f}" for s in r.data["strategies"]
                         if s["test_accuracy"] is not None)
    return [[precision_of(r.data.get("settings", {}), "not recorded"), f"{r.data['wall_seconds']:.1f}", accuracy,
             ok(r.data["target"]["pass"])]]


def trainer_detail(r: Result) -> list[list]:
    rows = []
    for name, s in r.data["summary"].items():
        versus = r.data["comparisons"].get(name, {})
        speed = f"{versus['speedup_samples_per_second']:.2f}x" if versus else "-"
        applies = versus.get("target", {}).get("applies")
        rows.append([name, f"{s['samples_per_second']:.2f}", f"{s['loop_seconds']:.0f}", f"{s['test_accuracy']:.3f}",
                     speed, ok(versus["target"]["pass"]) if applies else "-"])
    return rows


def steps_detail(r: Result) -> list[list]:
    d = r.data
    step = d["settings"].get("core_step", "the bench's own step (foreach AdamW)")
    return [[precision_of(d["settings"], "float32"), step, f"{d['samples_per_second']['core']:.2f}",
             f"{d['samples_per_second']['trainer']:.2f}", f"{d['speedup']:.2f}x", f"{d['paired_speedup_median']:.2f}x",
             f"{d['tokens']['core'] / d['tokens']['trainer']:.3f}", ok(d["target"]["pass"])]]


def bf16_detail(r: Result) -> list[list]:
    d = r.data
    return [[f"{d['speedup_bf16']:.2f}x", f"{d['cosine_fp32_bf16']['min']:.4f}",
             f"{d['probe_accuracy']['fp32']:.3f} / {d['probe_accuracy']['bf16']:.3f}",
             f"{d['train_step_speedup_bf16']:.2f}x", ", ".join(d["settings"].get("cpu_flags", []))]]


def optimizer_detail(r: Result) -> list[list]:
    m = r.data["median_seconds"]
    return [[f"{1000 * m['fused']:.0f}", f"{1000 * m['foreach']:.0f}", f"{m['foreach'] / m['fused']:.1f}x"]]


def gpu_imdb_detail(r: Result) -> list[list]:
    d = r.data
    rows = []
    for strategy, x in d["runs"].items():
        peak = x["peak_gpu_memory_bytes"]
        rows.append([d["settings"]["device"], d["settings"]["dtype"], strategy, f"{d['settings']['n_train']:,}",
                     f"{x['samples_per_second']:.0f}", f"{x['end_to_end_samples_per_second']:.0f}",
                     f"{x['seconds_per_25000_reviews']:.1f}", "-" if peak is None else f"{peak / 2**30:.2f}",
                     f"{x['test_accuracy']:.3f}", ok(d["target"]["pass"]) if strategy == "full" else "-"])
    return rows


def gpu_memory_detail(r: Result) -> list[list]:
    gib = lambda b: f"{b / 2**30:.2f}"  # noqa: E731
    return [[x["model"], x["strategy"], x["batch_size"], x["max_length"], gib(x["estimate_bytes"]),
             gib(x["peak_allocated_bytes"]), gib(x["peak_reserved_bytes"]), f"{x['estimate_over_allocated']:.2f}x",
             ok(x["safe"])] for x in r.data["runs"] if x.get("safe") is not None]


def ui_detail(r: Result) -> list[list]:
    d = r.data
    intervals = d["step_line_change_intervals"]
    spread = f"{min(intervals):.2f}-{max(intervals):.2f} s" if intervals else "none seen"
    return [[f"{d['page_switch_median_seconds']:.2f}", f"{d['page_switch_max_seconds']:.2f}", spread,
             f"{d['cancel_seconds']:.2f}", ok(all(d["targets"].values()))]]


def ray_sweep_detail(r: Result) -> list[list]:
    d, equal = r.data, r.data["records"]
    return [[d["tasks"], d["settings"]["workers"], f"{d['local_wall_seconds']:.1f}", f"{d['ray_start_seconds']:.1f}",
             f"{d['ray_sweep_seconds']:.1f}", f"{d['overhead_per_task_seconds']:+.2f}",
             f"{d['overhead_per_task_without_start_seconds']:+.2f}", ok(equal["tfidf_accuracies_equal"]),
             f"{equal['max_abs_accuracy_difference']:.3f}"]]


@dataclass(frozen=True)
class Detail:
    """How one case's files become a detail table."""

    title: str
    columns: tuple[str, ...]
    rows: Callable[[Result], list[list]]


DETAILS = {
    "prediction": Detail("Prediction latency and throughput", (
        "OMP_WAIT_POLICY", "p50 ms", "p95 ms", "batch texts/s", "p50 <= 25 ms"), prediction_detail),
    "rt_length": Detail("Rotten Tomatoes epoch, max length 256 vs 64", (
        "64: train s", "256: train s", "ratio", "loop-only ratio", "<= 1.2"), rt_length_detail),
    "hardware_efficiency": Detail("Full fine-tune step vs matmul peak", (
        "dtype", "peak GFLOP/s", "step s", "GFLOP/s (real tokens)", "of peak", "FlopCounterMode", ">= 60%"),
        hardware_detail),
    "frozen_cache": Detail("Frozen: feature cache vs encoder in every step", (
        "precision (both sides)", "epochs", "runs per side", "cached s", "encoder every step s", "speed-up",
        "acc cached", "acc every step", "cached fp32 / cached", "target"), frozen_detail),
    "default_comparison": Detail("Default comparison, wall time", (
        "precision", "wall s", "test accuracy", "<= 180 s"), default_detail),
    "vs_trainer": Detail("core vs Trainer, whole runs", (
        "variant", "samples/s", "loop s", "held-out acc", "core speed-up vs this", ">= 1.3x"), trainer_detail),
    "vs_trainer_steps": Detail("core vs Trainer, steps interleaved", (
        "precision", "core step", "core samples/s", "Trainer samples/s", "speed-up", "median paired",
        "tokens core / padded", ">= 1.3x"), steps_detail),
    "bf16_features": Detail("Precision: fp32 vs bf16 features and training step", (
        "features, bf16 speed-up", "cosine min", "probe acc fp32 / bf16", "step, bf16 speed-up", "CPU flags"),
        bf16_detail),
    "optimizer_step": Detail("Optimizer step: fused (core) vs foreach AdamW", (
        "fused ms", "foreach ms", "fused speed-up"), optimizer_detail),
    "gpu_imdb": Detail("IMDb on one GPU: 25,000 reviews at max length 256", (
        "GPU", "dtype", "strategy", "train reviews", "loop samples/s", "end-to-end samples/s", "s per 25,000",
        "peak GiB", "held-out acc", "full <= 60 s"), gpu_imdb_detail),
    "gpu_memory": Detail("The scheduler's memory estimate vs the CUDA allocator, one GPU", (
        "encoder", "strategy", "batch", "max length", "estimate GiB", "allocated GiB", "reserved GiB",
        "estimate / allocated", "estimate >= allocated"), gpu_memory_detail),
    "ui_responsiveness": Detail("Dashboard while `full` trains", (
        "switch median s", "switch max s", "refresh intervals", "cancel s", "targets"), ui_detail),
    "ray_sweep": Detail("Ray executor on this machine: the same sweep here and on a local Ray cluster", (
        "tasks", "Ray workers", "local wall s", "Ray start s", "Ray sweep s", "overhead per task s",
        "... without the start", "TF-IDF records equal", "max accuracy difference"), ray_sweep_detail),
}


def detail_table(detail: Detail, results: list[Result], skipped: list[str]) -> list[str]:
    """Markdown table of every file of one case; files whose shape does not fit go to `skipped`."""
    lines = [f"### {detail.title}", "",
             "| file | measured (UTC) | " + " | ".join(detail.columns) + " | noise | CPU |",
             "|" + "---|" * (len(detail.columns) + 4)]
    for r in results:
        try:
            rows = detail.rows(r)
        except SHAPE_ERRORS as exc:
            skipped.append(f"`{r.path.name}`: unknown shape ({type(exc).__name__}: {exc})")
            continue
        for cells in rows:
            lines.append(f"| `{r.path.name}` | {day(r)} | " + " | ".join(str(c) for c in cells)
                         + f" | {load_note(r)} | {cpu_note(r)} |")
    return lines + [""]


def details_text(results: list[Result], unreadable: list[str], quick: bool) -> str:
    """Every detail table, then the files that are in none of them."""
    skipped = list(unreadable)
    lines = []
    for case, detail in DETAILS.items():
        mine = [r for r in results if r.case == case and r.quick == quick]
        if mine:
            lines += detail_table(detail, mine, skipped)
    summarized = {row.case for row in ROWS}  # cases with a row in README.md only, no detail table
    skipped += [f"`{r.path.name}`: " + (f"summarized in README.md ('{r.case}')" if r.case in summarized
                                       else f"unknown case '{r.case}'")
                for r in results if r.case not in DETAILS and r.quick == quick]
    left_out = "full results (--quick)" if quick else "quick results (`*.quick.json`)"
    lines += [f"Not in the tables: {'; '.join(skipped) if skipped else 'none'}. The {left_out} are left out by design."]
    return "\n".join(lines)


# ---------------------------------------------------------------- README rows

def latency(d: dict) -> tuple[str, bool]:
    s = d["single"]
    return (f"{s['p50_ms']:.1f} ms / {s['p95_ms']:.1f} ms; batch of 1,000: "
            f"{d['batch']['texts_per_second_median']:.0f} texts/s", d["target"]["pass"])


def epoch_ratio(d: dict) -> tuple[str, bool]:
    return (f"{d['ratio_train_seconds_256_over_64']:.2f}x (loop only {d['ratio_loop_seconds_256_over_64']:.2f}x; "
            "the same tokens at both lengths)", d["target"]["pass"])


def utilisation(d: dict) -> tuple[str, bool | None]:
    s = d["summary"]
    bf16 = d["settings"]["dtype"] == "bfloat16"
    return (f"{100 * s['utilisation_real_tokens']:.1f}% (step {s['step_seconds_median']:.2f} s = "
            f"{s['achieved_gflops_real_tokens']:.0f} GFLOP/s on real tokens; peak {s['peak_gflops']:.0f} GFLOP/s)",
            None if bf16 else d["target"]["pass"])


def frozen_result(d: dict, epochs: int) -> dict:
    return next(x for x in d["results"] if x["epochs"] == epochs)


def frozen_like_for_like(epochs: int) -> Callable[[dict], tuple[str, bool]]:
    def measure(d: dict) -> tuple[str, bool]:
        x = frozen_result(d, epochs)
        sec, acc = x["median_train_seconds"], x["test_accuracy"]
        return (f"{x['speedup']:.2f}x: cached {sec['cached']:.1f} s vs encoder every step {sec['naive']:.1f} s, "
                f"both {d['settings']['dtype']}, median of {len(x['runs']['cached'])}; accuracy {acc['cached']:.3f} "
                f"vs {acc['naive']:.3f}", x["target"]["pass"])
    return measure


def frozen_fits(epochs: int) -> Callable[[dict], bool]:
    """Only results that record the precision of both sides (older ones mixed bf16 cached with fp32 naive)."""
    return lambda d: "dtype" in d["settings"] and any(x["epochs"] == epochs for x in d["results"])


def precision_gain(d: dict) -> tuple[str, None]:
    x = frozen_result(d, 3)
    sec, acc = x["median_train_seconds"], x["test_accuracy"]
    return (f"{x['precision_gain']:.2f}x: cached frozen run fp32 {sec['cached_fp32']:.1f} s "
            f"vs bf16 {sec['cached']:.1f} s, median of {len(x['runs']['cached'])}; accuracy "
            f"{acc['cached_fp32']:.3f} vs {acc['cached']:.3f}", None)


def precision_probe(d: dict) -> tuple[str, None]:
    return (f"features {d['speedup_bf16']:.2f}x, training step {d['train_step_speedup_bf16']:.2f}x faster in bf16; "
            f"features' cosine to fp32 >= {d['cosine_fp32_bf16']['min']:.4f}, probe accuracy "
            f"{d['probe_accuracy']['fp32']:.3f} vs {d['probe_accuracy']['bf16']:.3f}", None)


def wall_time(d: dict) -> tuple[str, bool]:
    accuracy = " / ".join(f"{s['strategy']} {s['test_accuracy']:.3f}" for s in d["strategies"]
                          if s["test_accuracy"] is not None)
    return f"{d['wall_seconds']:.1f} s; accuracy {accuracy}", d["target"]["pass"]


def trainer_defaults(d: dict) -> tuple[str, bool]:
    c, s = d["comparisons"]["trainer_padded"], d["summary"]
    return (f"{c['speedup_samples_per_second']:.2f}x samples/s; accuracy {s['core']['test_accuracy']:.3f} vs "
            f"{s['trainer_padded']['test_accuracy']:.3f}", c["target"]["pass"])


def trainer_like_for_like(d: dict) -> tuple[str, None]:
    c = d["comparisons"]
    return (f"fp32: {c['core_fp32_vs_trainer_padded']['speedup_samples_per_second']:.2f}x, "
            f"bf16: {c['trainer_bf16']['speedup_samples_per_second']:.2f}x", None)


def trainer_steps(d: dict) -> tuple[str, bool]:
    step = d["settings"].get("core_step", "core side: the bench's own step, foreach AdamW")
    return (f"{d['speedup']:.2f}x (median paired {d['paired_speedup_median']:.2f}x), both "
            f"{precision_of(d['settings'], 'float32')}; {step}", d["target"]["pass"])


def dashboard(d: dict) -> tuple[str, bool]:
    intervals = d["step_line_change_intervals"]
    spread = f"{min(intervals):.2f}-{max(intervals):.2f} s" if intervals else "no change seen"
    return (f"{d['page_switch_median_seconds']:.2f} s / {d['page_switch_max_seconds']:.2f} s; every {spread}; "
            f"{d['cancel_seconds']:.2f} s", all(d["targets"].values()))


def onnx_vs_torch(d: dict) -> tuple[str, None]:
    single, batch = d["single"], d["batch"]
    return (f"single text p50 ONNX {single['onnx']['p50_ms']:.1f} ms vs PyTorch {single['torch']['p50_ms']:.1f} ms "
            f"({d['onnx_speedup_over_torch']['single_p50']:.2f}x); batches of 64: ONNX "
            f"{batch['onnx']['texts_per_second_median']:.0f} vs PyTorch {batch['torch']['texts_per_second_median']:.0f} "
            "texts/s", None)


def service_latency(d: dict) -> tuple[str, bool]:
    base = d["baseline"]
    return (f"{d['service_backend']}: p50 {base['p50_ms']:.1f} / p95 {base['p95_ms']:.1f} / p99 {base['p99_ms']:.1f} ms, "
            f"one request at a time ({base['texts_per_second']:.0f} texts/s)", d["pass"]["idle_p50_10ms"])


def service_load(d: dict) -> tuple[str, bool]:
    single, checks = d["single"], d["checks"]
    return (f"{d['service_backend']}: {single['requests']:,} requests, {single['errors_other_than_503']} errors "
            f"other than 503; p50 {single['p50_ms']:.0f} / p99 {single['p99_ms']:.0f} ms; "
            f"{single['ok_texts_per_second']:.0f} texts/s ({checks['single_users_texts_per_second_vs_baseline']:.2f}x "
            "one at a time)", d["pass"]["no_5xx_but_503"])


def service_saturation(d: dict) -> tuple[str, bool]:
    checks, batched = d["checks"], d["batched"]
    return (f"{d['service_backend']}: {batched['ok_texts_per_second']:.0f} texts/s = "
            f"{checks['saturated_texts_per_second_vs_baseline']:.1f}x one at a time; tokens/s "
            f"{100 * checks['saturated_tokens_vs_big_batch']:.0f}% of the best single large forward batch",
            d["pass"]["throughput_3x_baseline"] and d["pass"]["tokens_half_of_big_batch"])


def ray_overhead(d: dict) -> tuple[str, bool]:
    return (f"local {d['local_wall_seconds']:.0f} s; Ray {d['ray_start_seconds']:.0f} s start + "
            f"{d['ray_sweep_seconds']:.0f} s ({d['settings']['workers']} one-CPU workers): "
            f"{d['overhead_per_task_seconds']:+.1f} s per task ({d['overhead_per_task_without_start_seconds']:+.1f} s "
            "without the start)", d["records"]["tfidf_accuracies_equal"])


def classroom(d: dict, judge_switches: bool = True) -> tuple[str, bool]:
    switches, queue, walls = d["page_switch_seconds"], d["queue"], d["session_wall_seconds"]
    first, server = d["first_curve_seconds"], d.get("server_page_seconds")
    shown = queue.get("shown_start_error_median")
    checks = {"finished": d["all_finished"], "private": d["all_saw_only_their_own_runs"],
              "switch_p95": not judge_switches or (switches["p95"] is not None and switches["p95"] < 1.5),
              "forecast": shown is not None and shown <= 0.2 and queue.get("place_error_median", 1) <= 0.2}
    text = (f"all {d['sessions']} finished: {'yes' if d['all_finished'] else 'NO'}, each saw only its own runs: "
            f"{'yes' if d['all_saw_only_their_own_runs'] else 'NO'}; wall {d['wall_seconds']:.0f} s (a session: "
            f"median {walls['median']:.0f} s, max {walls['max']:.0f} s); first live curve median "
            f"{first['median']:.0f} s; page switch in the browser p50 {fmt(switches['p50'])} / p95 "
            f"{fmt(switches['p95'])} s ({switches['count']} switches)")
    answered = d.get("server_answer_seconds")
    if answered and answered["count"]:
        text += (f"; answered by the server (request sent -> page complete, from the websocket) p50 "
                 f"{answered['p50']:.2f} / p95 {answered['p95']:.2f} s")
    if server:
        text += f", the server's own run of a page p50 {server['p50']:.2f} / p95 {server['p95']:.2f} s"
    if d.get("cpu_seconds"):
        cpu = d["cpu_seconds"]
        text += (f"; CPU: browsers {100 * cpu['browsers'] / cpu['available']:.0f}%, server "
                 f"{100 * cpu['server'] / cpu['available']:.0f}%")
    text += (f"; runs took {queue['actual_over_estimated_seconds_median']:.1f}x their estimate; peak server memory "
             f"{d['peak_server_rss_bytes'] / 2**30:.1f} GB (scheduler bound {d['scheduler_memory_bound_bytes'] / 2**30:.1f} GB)")
    if shown is not None:
        text += (f"; expected start vs actual: as shown while waiting, median error {100 * shown:.0f}% (p90 "
                 f"{100 * queue['shown_start_error_p90']:.0f}%), at submission {100 * queue['start_error_median']:.0f}%; "
                 f"place in line exact for {100 * queue['place_exact_share']:.0f}%")
    else:
        text += (f"; expected end vs actual, median error {100 * queue['session_end_error_median']:.0f}% (worst "
                 f"{100 * queue['session_end_error_max']:.0f}%)")
    return text, all(checks.values())


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def classroom_server(d: dict) -> tuple[str, bool]:
    """The class with the browsers yielding the CPU to the server: its switches are not judged (the
    browsers render late by design), its forecasts and the rest are."""
    text, ok = classroom(d, judge_switches=False)
    return f"browsers' session at nice {d['settings']['browser_group_nice']}: {text}", ok


def page_cost(d: dict) -> tuple[str, None]:
    against = d["settings"]["against"]

    def seconds(state: str, page: str) -> str:
        text = f"{page} {d['this commit'][state][page]['TaskDuration']['median']:.2f}"
        return text + (f" ({d[against][state][page]['TaskDuration']['median']:.2f})" if against else "")

    finished = d["this commit"]["finished"]
    ratio = ", ".join(f"{page} " + (f"{finished[page]['browser_over_server']:.0f}x" if finished[page]["browser_over_server"]
                                    else "- (the server's part within its idle noise)") for page in ("Results", "Train"))
    return (f"seconds of the page's main thread in the browser per switch (median of {d['settings']['switches_each_way']}"
            f"{f'; in brackets: {against}' if against else ''}): after training "
            + ", ".join(seconds("finished", page) for page in ("Results", "Train", "Home"))
            + "; while waiting for its turn " + ", ".join(seconds("waiting", page) for page in ("Results", "Train", "Home"))
            + f". Browser CPU over server CPU: {ratio}", None)


def forecast_replay(d: dict) -> tuple[str, None]:
    against = d["settings"]["against"]
    parts = []
    for name, replayed in d["classes"].items():
        text = f"{name} {100 * replayed['this commit']['start_error_median']:.0f}%"
        if against:
            text += f" ({100 * replayed[against]['start_error_median']:.0f}%)"
        parts.append(text)
    return ("expected start vs the replay's, median error per recorded class: " + ", ".join(parts)
            + (f" (in brackets: the scheduler of {against})" if against else ""), None)


def gpu_full_epoch(d: dict) -> tuple[str, bool]:
    full, frozen = d["runs"]["full"], d["runs"].get("frozen")
    text = (f"{d['settings']['device']}, {d['settings']['dtype']}: {full['seconds_per_25000_reviews']:.1f} s "
            f"({full['samples_per_second']:.0f} samples/s in the loop), held-out accuracy {full['test_accuracy']:.3f}; "
            f"peak {full['peak_gpu_memory_bytes'] / 2**30:.2f} GiB")
    if frozen:
        text += f"; frozen {frozen['test_accuracy']:.3f}"
    return text, d["target"]["pass"]


def gpu_memory_safe(d: dict) -> tuple[str, bool]:
    ratio = d["estimate_over_allocated"]
    judged = [r for r in d["runs"] if r.get("safe") is not None]
    return (f"{d['settings']['device']}: {len(judged)} runs (MiniLM, BERT-base, BERT-large; full, LoRA, frozen, "
            f"checkpointed): the estimate was {ratio['min']:.2f}x to {ratio['max']:.2f}x the allocator's peak",
            d["all_safe"])


def slots(d: dict) -> tuple[str, bool | None]:
    where = "in worker processes" if d.get("executor") == "process" else "in threads of one process"
    accuracies = sorted({run["accuracy"] for part in ("in_turn", "side_by_side") for run in d[part]["runs"]})
    return (f"{where}: two `full` runs in turn {d['in_turn']['wall_seconds']:.0f} s, side by side "
            f"{d['side_by_side']['wall_seconds']:.0f} s ({d['side_by_side_wall_ratio']:.2f}x; each run "
            f"{d['per_run_slowdown']:.2f}x slower); held-out accuracies {', '.join(f'{a:.3f}' for a in accuracies)}",
            None)


def gil_isolation(d: dict) -> tuple[str, bool]:
    parts, ok = [], True
    for name, words in (("full", "`full` MiniLM (200 sentences)"), ("tfidf", "TF-IDF (2,000 sentences)")):
        case = d["cases"][name]
        parts.append(f"{words} alone {case['alone_seconds']:.1f} s; beside {d['busy']} busy server threads: in a thread "
                     f"{case['in_thread_seconds']:.1f} s, in a worker process {case['in_worker_seconds']:.1f} s "
                     f"(other processes taking the CPU only: {case['cpu_only_seconds']:.1f} s)")
        ok = ok and case["in_worker_seconds"] < case["in_thread_seconds"]
    return "; ".join(parts), ok


def gil_isolation_gpu(d: dict) -> tuple[str, bool]:
    case = d["cases"]["full"]
    thread = (f"{case['in_thread_seconds']:.1f} s" if case["in_thread_seconds"] is not None
              else f"still training after {case['in_thread_limit_seconds']:.0f} s (stopped)")
    ok = case["in_thread_seconds"] is None or case["in_worker_seconds"] < case["in_thread_seconds"]
    return (f"200 sentences alone {case['alone_seconds']:.2f} s; beside {d['busy']} busy server threads: in a thread "
            f"{thread}, in a worker process {case['in_worker_seconds']:.2f} s", ok)


def blas_threads(d: dict) -> tuple[str, None]:
    parts = []
    for case, words in (("train rotten_tomatoes 1000", "RT 1,000"), ("train imdb 4000", "IMDb 4,000")):
        idle, busy = d["idle"][case], d["busy"][case]
        parts.append(f"{words}: {idle['openblas_threads']:.2f} -> {idle['one_thread']:.2f} s idle, "
                     f"{busy['openblas_threads']:.2f} -> {busy['one_thread']:.2f} s beside {d['busy_processes']} busy "
                     f"processes (accuracy {idle['test_accuracy']['one_thread']:.3f} both ways)")
    return "; ".join(parts), None


def model_handoff(d: dict) -> tuple[str, None]:
    parts = []
    for case, c in d["cases"].items():
        parts.append(f"{case}: {c['pipe_seconds']:.2f} s through the pipe, {c['staged_seconds']:.2f} s staged "
                     f"({c['speedup']:.1f}x)")
    return f"{d['model_bytes'] / 1e6:.0f} MB; " + "; ".join(parts), None


CLASS_TARGET = "all finish, private; switch p95 < 1.5 s; expected start shown and place within 20%"


@dataclass(frozen=True)
class Row:
    """One line of README.md's table: what it measures, from which case, and how to read a result."""

    what: str
    case: str
    target: str
    measure: Callable[[dict], tuple[str, bool | None]]  # -> (measured, pass / fail / None = no target)
    fits: Callable[[dict], bool] = lambda d: True
    how: str = ""  # the command that produces a fitting result, shown while none exists


ROWS = (
    Row("default dashboard comparison (RT 1,000, full + frozen + scratch + tfidf, 2 epochs), wall time",
        "default_comparison", "<= 180 s", wall_time),
    Row("full fine-tune step, share of the fp32 matmul peak (same run, real tokens only)", "hardware_efficiency",
        ">= 60%", utilisation, lambda d: d["settings"]["dtype"] == "float32"),
    Row("... the same step in bf16 (core's default here), share of the bf16 matmul peak", "hardware_efficiency",
        "(report)", utilisation, lambda d: d["settings"]["dtype"] == "bfloat16"),
    Row("RT epoch at max length 256 vs 64 (dynamic padding: cost follows real tokens)", "rt_length", "<= 1.2x",
        epoch_ratio),
    Row("single-text prediction p50 / p95", "prediction", "p50 <= 25 ms", latency,
        lambda d: d["machine"]["omp_wait_policy"] == "PASSIVE"),
    Row("core vs `transformers.Trainer` (padded to 256) samples/s, steps interleaved", "vs_trainer_steps",
        ">= 1.3x", trainer_steps),
    Row("core vs `Trainer`, whole runs, each with its defaults (core: bf16 here; Trainer: fp32); held-out accuracy",
        "vs_trainer", ">= 1.3x, acc >= Trainer - 0.01", trainer_defaults,
        lambda d: "trainer_padded" in d["comparisons"]),
    Row("... like for like: both fp32 / both bf16", "vs_trainer", "(report)", trainer_like_for_like,
        lambda d: {"core_fp32_vs_trainer_padded", "trainer_bf16"} <= set(d["comparisons"])),
    Row("frozen: feature cache vs encoder in every step, 3 epochs, same precision both sides", "frozen_cache",
        ">= 5x, acc within 0.01", frozen_like_for_like(3), frozen_fits(3),
        "python bench/run.py frozen_cache --epochs 3 --reps 3"),
    Row("frozen: the same, 10 epochs", "frozen_cache", ">= 10x, acc within 0.01", frozen_like_for_like(10),
        frozen_fits(10), "python bench/run.py frozen_cache --epochs 10"),
    Row("precision gain, bf16 vs fp32 autocast on this CPU: frozen run with cache, 3 epochs", "frozen_cache",
        "(report)", precision_gain, lambda d: "precision_gain" in frozen_result(d, 3),
        "python bench/run.py frozen_cache --epochs 3 --reps 3"),
    Row("precision gain: feature pass and full fine-tune step", "bf16_features", "(report)", precision_probe),
    Row("dashboard while `full` trains: page switch median / max; live step line; Cancel to \"cancelled\"",
        "ui_responsiveness", "< 1 s; <= 2 s; one batch", dashboard),
    Row("ONNX (exported run) vs PyTorch, MiniLM `frozen` run, in one process", "onnx_vs_torch", "(report: picks "
        "the service's default)", onnx_vs_torch, lambda d: "onnx_speedup_over_torch" in d,
        "python bench/run.py onnx_vs_torch"),
    Row("REST service, idle single-text latency (default backend)", "load_service", "p50 <= 10 ms", service_latency,
        lambda d: d["service_backend"] == "onnx" and d["settings"].get("max_queue", 1024) >= 1024),
    Row("REST service under 50 locust users x 1 text, 60 s, loopback", "load_service", "only 200 or 503",
        service_load, lambda d: d["service_backend"] == "onnx" and d["settings"].get("max_queue", 1024) >= 1024),
    Row("REST service at saturation (16 users x 32 texts), dynamic batching", "load_service",
        ">= 3x one at a time; tokens/s >= 50% of a big batch", service_saturation,
        lambda d: d["service_backend"] == "onnx" and d["settings"].get("max_queue", 1024) >= 1024),
    Row("... the same with the PyTorch backend", "load_service", ">= 3x one at a time; tokens/s >= 50% of a big batch",
        service_saturation, lambda d: d["service_backend"] == "torch"),
    Row("a class: 5 browser sessions start the default four strategies at once (lesson link, one server)",
        "classroom", CLASS_TARGET, classroom,
        lambda d: d["sessions"] == 5 and d["strategies"] == ["full", "frozen", "scratch", "tfidf"],
        "python bench/run.py classroom --sessions 5 --strategies full,frozen,scratch,tfidf --tag n5"),
    Row("a class: 20 browser sessions start frozen + TF-IDF at once", "classroom",
        CLASS_TARGET, classroom,
        lambda d: d["sessions"] == 20 and d["strategies"] == ["frozen", "tfidf"]
        and d["settings"].get("browser_group_nice") is None and d["settings"]["switch_every_seconds"] == 4.0,
        "python bench/run.py classroom --sessions 20 --strategies frozen,tfidf --tag n20"),
    Row("... the same class, each student switching pages every 10 s instead of 4 s", "classroom",
        CLASS_TARGET, classroom,
        lambda d: d["sessions"] == 20 and d["strategies"] == ["frozen", "tfidf"]
        and d["settings"].get("browser_group_nice") is None and d["settings"]["switch_every_seconds"] == 10.0,
        "python bench/run.py classroom --sessions 20 --strategies frozen,tfidf --switch-every 10 --tag n20_s10"),
    Row("... the same class, the browsers yielding the CPU to the server (as if on the students' laptops)",
        "classroom", "all finish, private; expected start shown and place within 20%", classroom_server,
        lambda d: d["sessions"] == 20 and d["strategies"] == ["frozen", "tfidf"]
        and d["settings"].get("browser_group_nice") == 19,
        "python bench/run.py classroom --sessions 20 --strategies frozen,tfidf --browser-group-nice 19 "
        "--tag n20_server"),
    Row("one page switch: the browser's work for the page (Home is the floor), after training and while waiting",
        "page_cost", "(report)", page_cost, lambda d: "this commit" in d,
        "python bench/run.py page_cost --against 9f84edb"),
    Row("a TF-IDF run: OpenBLAS's threads (numpy's default) vs one BLAS thread (core.blas, the lab's)",
        "blas_threads", "(report)", blas_threads, lambda d: "train imdb 4000" in d["idle"],
        "python bench/run.py blas_threads"),
    Row("a frozen run's model from its worker process to its run folder: through the pipe (before) vs a staging "
        "folder moved into place (now)", "model_handoff", "(report)", model_handoff,
        how="python bench/run.py model_handoff"),
    Row("the scheduler's forecasts replayed on recorded classes (each run as long as it took there)",
        "forecast_replay", "(report)", forecast_replay, how="python bench/run.py forecast_replay --against 52dece7 --tag straggler"),
    Row("one GPU: `full` MiniLM, one epoch over 25,000 IMDb reviews at max length 256 (bf16 autocast)", "gpu_imdb",
        "<= 60 s", gpu_full_epoch, lambda d: d["settings"]["n_train"] > 20_000 and "full" in d["runs"],
        "python bench/run.py gpu_imdb"),
    Row("one GPU: the scheduler's memory estimate vs the CUDA allocator's peak, per run", "gpu_memory",
        "estimate >= peak (admission is safe)", gpu_memory_safe, lambda d: d["settings"]["gpu_memory_bytes"] is not None,
        "python bench/run.py gpu_memory"),
    Row("two MiniLM fine-tunes (2,000 RT sentences, 1 epoch) on this CPU: in turn vs side by side",
        "scheduler_slots", "(report)", slots, lambda d: d["n_train"] == 2000,
        "python bench/run.py scheduler_slots --n-train 2000 --executor process --tag n2000_process"),
    Row("a run beside the server's page work (busy Python threads): trained in the job's thread vs in a worker "
        "process (the default)", "gil_isolation", "worker quicker than thread", gil_isolation,
        lambda d: "full" in d["cases"] and "tfidf" in d["cases"] and not d["machine"]["cuda"],
        "python bench/run.py gil_isolation"),
    Row("... the same on one GPU: a `full` MiniLM run beside four busy server threads", "gil_isolation",
        "worker quicker than thread", gil_isolation_gpu, lambda d: d["machine"]["cuda"] and "full" in d["cases"],
        "python bench/run.py gil_isolation --runs full --thread-limit 90"),
    Row("Ray executor, local cluster on this machine: RT sweep frozen + tfidf x 100/300/1,000 x 2 seeds, "
        "wall and overhead per task vs training here", "ray_sweep", "same TF-IDF records", ray_overhead,
        lambda d: d["settings"]["sizes"] == [100, 300, 1000] and d["settings"]["seeds"] == 2,
        "python bench/run.py ray_sweep"),
)


def pick(row: Row, results: list[Result], quick: bool) -> Result | None:
    """The newest result of the row's case (quick or not) whose settings fit the row."""
    def fits(r: Result) -> bool:
        try:
            return bool(row.fits(r.data))
        except SHAPE_ERRORS:
            return False

    candidates = [r for r in results if r.case == row.case and r.quick == quick and fits(r)]
    return max(candidates, key=lambda r: (r.when, r.path.name), default=None)


def readme_line(row: Row, r: Result | None) -> str:
    """One markdown row: what | measured | target | result | command (file, date, CPU, load)."""
    if r is None:
        how = f"`{row.how}`" if row.how else f"`python bench/run.py {row.case}`"
        return f"| {row.what} | no result yet | {row.target} | - | {how} |"
    try:
        measured, passed = row.measure(r.data)
    except SHAPE_ERRORS as exc:
        measured, passed = f"unreadable result ({type(exc).__name__}: {exc})", None
    return (f"| {row.what} | {measured} ({load_note(r)}) | {row.target} | {ok(passed)} | `{r.command}` "
            f"(`{r.path.name}`, {day(r)}, {cpu_note(r)}) |")


def readme_table(results: list[Result], quick: bool) -> str:
    """README.md's performance table, one row per ROWS entry."""
    lines = ["| what | measured | target | result | command (result file, measured UTC, CPU) |",
             "|---|---|---|---|---|"]
    lines += [readme_line(row, pick(row, results, quick)) for row in ROWS]
    return "\n".join(lines)


# ---------------------------------------------------------------- writing

def between_markers(text: str, begin: str, end: str, body: str, where: Path) -> str:
    """`text` with everything between the two marker lines replaced by `body`."""
    if begin not in text or end not in text:
        raise SystemExit(f"{where} lacks the markers {begin} ... {end}; add them where the generated text goes")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def update(path: Path, begin: str, end: str, body: str, check: bool) -> bool:
    """Rewrite `path` between its markers (unless `check`); True when it was already up to date."""
    old = path.read_text()
    new = between_markers(old, begin, end, body, path)
    if new != old and not check:
        path.write_text(new)
        print(f"updated {path}", file=sys.stderr)
    return new == old


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=RESULTS, help=f"folder of result files (default {RESULTS})")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md", help="file with the bench-table markers")
    p.add_argument("--details", type=Path, default=ROOT / "bench" / "README.md",
                   help="file with the bench-details markers")
    p.add_argument("--quick", action="store_true", help="tables of the .quick.json results instead (tests)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is out of date")
    args = p.parse_args(argv)
    results, unreadable = load_results(args.results)
    table, details = readme_table(results, args.quick), details_text(results, unreadable, args.quick)
    print(f"## README.md table\n\n{table}\n\n## Details\n\n{details}")
    fresh = [update(args.readme, TABLE_BEGIN, TABLE_END, table, args.check),
             update(args.details, DETAILS_BEGIN, DETAILS_END, details, args.check)]
    if args.check and not all(fresh):
        print("out of date: run python bench/report.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
