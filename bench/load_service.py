"""Load test of the REST service (`python -m core serve`) on loopback, with locust: latency and
throughput for single texts from many users and for batches of 32, against the one-request-at-a-time
baseline and one large forward batch measured in the same run.

The service serves a `frozen` run on the bundled MiniLM at max length 64, trained with

    python -m core compare --data rotten_tomatoes --n-train 300 --n-test 200 --strategies frozen,tfidf \
        --epochs 1 --max-length 64 --out /tmp/serve_runs

then

    python bench/load_service.py --runs /tmp/serve_runs/runs [--users 50 --seconds 60] [--tag TAG] [--quick]

Steps: start the service (a subprocess, as a user would) and wait for /health; the baseline: one
single-text request at a time (idle latency p50/p95/p99 and texts/s); locust, headless, closed loop
(no think time): --users users posting one text each for --seconds, then --batch-users users posting
--batch-size texts each; stop the service; then one large forward batch of the same model in this
process (tokens/s over real tokens, the best of batch sizes 32/64/256). Writes
bench/results/load_service[.TAG][.quick].json and locust's CSV files next to it.
Targets: under the single-text run every answer is 200 or 503; saturated texts/s >= 3x the baseline;
tokens/s >= 50% of the large forward batch's; idle single-text p50 <= 10 ms.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, ROOT, log, percentile, verdict

TARGETS = {"throughput_vs_baseline_min": 3.0, "tokens_vs_big_batch_min": 0.5, "idle_p50_ms_max": 10.0}


def add_arguments(parser) -> None:
    """This case's options (the load, and the service's settings that matter for speed)."""
    parser.add_argument("--runs", default="/tmp/serve_runs/runs", help="runs folder holding the frozen run")
    parser.add_argument("--users", type=int, default=50, help="locust users posting single texts")
    parser.add_argument("--seconds", type=int, default=60, help="length of the single-text locust run")
    parser.add_argument("--batch-users", type=int, default=16, help="locust users posting batches")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per request in the batch run")
    parser.add_argument("--batch-seconds", type=int, default=60, help="length of the batch locust run")
    parser.add_argument("--sequential", type=int, default=400, help="requests in the one-at-a-time baseline")
    parser.add_argument("--threads", type=int, default=0, help="the service's --threads")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="the service's --max-wait-ms")
    parser.add_argument("--max-queue", type=int, default=1024, help="the service's --max-queue (small: 503s)")
    parser.add_argument("--backend", default="auto", help="the service's --backend (auto: what core.export names)")


def text_pool(n: int = 2000) -> list[str]:
    """Rotten Tomatoes sentences, the data the frozen run was trained on."""
    from core.sources import load_bundled

    return list(load_bundled("rotten_tomatoes").texts[:n])


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(args, port: int, log_file) -> subprocess.Popen:
    """`python -m core serve` on 127.0.0.1:port, answering /health (60 s at most)."""
    import requests

    command = [sys.executable, "-m", "core", "serve", "--runs", args.runs, "--port", str(port),
               "--backend", args.backend, "--threads", str(args.threads),
               "--max-wait-ms", str(args.max_wait_ms), "--max-queue", str(args.max_queue),
               "--max-texts", str(min(64, args.max_queue))]
    process = subprocess.Popen(command, cwd=ROOT, stderr=log_file, stdout=log_file)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}; see {log_file.name}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the service did not answer /health within 60 s")


def frozen_run(url: str) -> dict:
    """The served `frozen` run (GET /models)."""
    import requests

    models = requests.get(url + "/models", timeout=30).json()["models"]
    frozen = [m for m in models if m["strategy"] == "frozen"]
    if not frozen:
        raise RuntimeError(f"no frozen run among {[m['id'] for m in models]}; train it first (see the docstring)")
    return frozen[0]


def sequential_baseline(url: str, model: str, texts: list[str], n: int) -> dict:
    """One single-text request at a time on one keep-alive connection (http.client: the lightest
    client, so the latency is the service's): latency percentiles and texts/s."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)

    def post(text: str) -> None:
        connection.request("POST", "/predict", json.dumps({"model": model, "texts": [text]}),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"the baseline got HTTP {response.status}")

    for text in texts[:20]:  # warm-up: the model loads (or is exported) on the first request
        post(text)
    latencies, started = [], time.perf_counter()
    for text in (texts * (n // len(texts) + 1))[:n]:
        sent = time.perf_counter()
        post(text)
        latencies.append((time.perf_counter() - sent) * 1000)
    seconds = time.perf_counter() - started
    return {"requests": n, "seconds": round(seconds, 2), "texts_per_second": round(n / seconds, 1),
            **{f"p{q}_ms": round(percentile(latencies, q), 2) for q in (50, 95, 99)},
            "mean_ms": round(sum(latencies) / n, 2), "client": "http.client, one keep-alive connection"}


def locust_run(url: str, model: str, texts_file: Path, users: int, seconds: int, batch: int, csv_prefix: Path) -> dict:
    """A headless locust run; its stats (from the CSV files) with errors counted by status."""
    env = {**os.environ, "LOAD_TEXTS": str(texts_file), "LOAD_MODEL": model, "LOAD_BATCH": str(batch)}
    command = ["locust", "-f", str(ROOT / "bench" / "locustfile_service.py"), "--headless", "-u", str(users),
               "-r", str(users), "-t", f"{seconds}s", "--host", url, "--csv", str(csv_prefix), "--only-summary",
               "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    log(f"locust: {users} users x {batch} text(s), {seconds} s")
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=seconds + 120)
    return locust_stats(csv_prefix, batch) | {"command": " ".join(command), "users": users, "seconds": seconds}


def locust_stats(csv_prefix: Path, batch: int) -> dict:
    """Requests, errors by kind, requests/s, texts/s and latency percentiles from locust's CSV files."""
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    with open(f"{csv_prefix}_failures.csv", newline="") as handle:
        errors = {r["Error"]: int(r["Occurrences"]) for r in csv.DictReader(handle)}
    requests_per_second = float(row["Requests/s"])
    failures_per_second = float(row["Failures/s"])
    return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]), "errors": errors,
            "errors_other_than_503": sum(n for error, n in errors.items() if "HTTP 503" not in error),
            "requests_per_second": requests_per_second,
            "ok_texts_per_second": round((requests_per_second - failures_per_second) * batch, 1),
            **{f"p{q}_ms": float(row[f"{q}%"]) for q in (50, 95, 99)}, "mean_ms": float(row["Average Response Time"])}


def service_counters(url: str) -> dict:
    """GET /health: the service's batch and text counters."""
    import requests

    return requests.get(url + "/health", timeout=10).json()


def big_batch_reference(args, model_id: str, texts: list[str]) -> dict:
    """The same model on the same backend in this process, no HTTP: real tokens/s of forward batches
    of 8 to 256 texts, length-grouped (as little padding as the texts allow): the best is the reference."""
    import torch

    from core.batching import tokenize
    from core.service import configure_torch
    from core.service_models import load_model, resolve_backend, servable_runs

    configure_torch(args.threads)
    backend = resolve_backend(args.backend)
    predictor = load_model(servable_runs(Path(args.runs))[model_id].run.folder, backend).inner  # unwrapped
    texts = texts[:512]
    tokens = sum(len(ids) for ids in tokenize(predictor.tokenizer, texts, predictor.max_length))
    rates = {}
    for size in (8, 16, 32, 64, 256):
        predictor.predict_outputs(texts[:size], batch_size=size)  # warm this shape
        seconds = min(timed(lambda: predictor.predict_outputs(texts, batch_size=size)) for _ in range(3))
        rates[size] = round(tokens / seconds)
    return {"backend": backend, "predictor": type(predictor).__name__, "texts": len(texts), "real_tokens": tokens,
            "tokens_per_second_by_batch_size": rates, "best_tokens_per_second": max(rates.values()),
            "torch_threads": torch.get_num_threads()}


def timed(work) -> float:
    """Seconds `work()` takes."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def mean_tokens(runs: str, model_id: str, texts: list[str]) -> float:
    """Real tokens per text of the pool (what a request's text costs on average)."""
    from transformers import AutoTokenizer

    from core.batching import tokenize
    from core.service_models import servable_runs

    served = servable_runs(Path(runs))[model_id]
    tokenizer = AutoTokenizer.from_pretrained(served.run.folder / "model" / "tokenizer", local_files_only=True)
    return sum(len(ids) for ids in tokenize(tokenizer, texts, served.max_length)) / len(texts)


def measure_service(args, texts: list[str], csv_dir: Path) -> dict:
    """Start the service, run the baseline and both locust runs, stop it; the numbers of each step."""
    csv_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    scratch = tempfile.TemporaryDirectory()  # the texts locust posts (not a result)
    texts_file = Path(scratch.name) / "texts.json"
    texts_file.write_text(json.dumps(texts))
    with scratch, open(csv_dir / "service.log", "w") as service_log:
        process = start_service(args, port, service_log)
        try:
            model = frozen_run(url)
            log(f"serving {model['id']} (max length {model['max_length']}); baseline: one request at a time")
            baseline = sequential_baseline(url, model["id"], texts, args.sequential)
            counters = [service_counters(url)]
            single = locust_run(url, model["id"], texts_file, args.users, args.seconds, 1, csv_dir / "single")
            counters.append(service_counters(url))
            batched = locust_run(url, model["id"], texts_file, args.batch_users, args.batch_seconds, args.batch_size,
                                 csv_dir / f"batch{args.batch_size}")
            counters.append(service_counters(url))
        finally:
            process.terminate()
            process.wait(30)
    for stats, (before, after) in zip((single, batched), zip(counters, counters[1:])):
        batches = after["batches"] - before["batches"]
        stats["forward_batches"] = batches
        stats["mean_texts_per_forward_batch"] = round((after["texts"] - before["texts"]) / max(batches, 1), 1)
    return {"model": model, "service_backend": counters[0]["backend"], "baseline": baseline, "single": single,
            "batched": batched}


def run(args) -> dict:
    """The whole measurement; returns what the result file holds after the machine block."""
    if args.quick:
        args.seconds = args.batch_seconds = 5
        args.users, args.batch_users, args.sequential = min(args.users, 10), min(args.batch_users, 4), 50
    texts = text_pool()
    csv_dir = args.results / "load_service" / ((args.tag or "default") + (".quick" if args.quick else ""))
    measured = measure_service(args, texts, csv_dir)
    model_id = measured["model"]["id"]
    tokens_per_text = mean_tokens(args.runs, model_id, texts)
    reference = big_batch_reference(args, model_id, texts)
    return summarise(args, measured, tokens_per_text, reference)


def summarise(args, measured: dict, tokens_per_text: float, reference: dict) -> dict:
    """The numbers, the targets and whether each is met."""
    baseline, single, batched = measured["baseline"], measured["single"], measured["batched"]
    saturated = max(single["ok_texts_per_second"], batched["ok_texts_per_second"])
    for stats in (single, batched):
        stats["ok_tokens_per_second"] = round(stats["ok_texts_per_second"] * tokens_per_text)
    single_tokens = single["ok_tokens_per_second"]
    checks = {
        "single_run_only_200_or_503": single["errors_other_than_503"] == 0,
        "single_users_texts_per_second_vs_baseline": round(single["ok_texts_per_second"] / baseline["texts_per_second"], 2),
        "saturated_texts_per_second_vs_baseline": round(saturated / baseline["texts_per_second"], 2),
        "single_users_tokens_vs_big_batch": round(single_tokens / reference["best_tokens_per_second"], 3),
        "saturated_tokens_vs_big_batch": round(saturated * tokens_per_text / reference["best_tokens_per_second"], 3),
        "idle_p50_ms": baseline["p50_ms"],
    }
    passed = {"no_5xx_but_503": checks["single_run_only_200_or_503"],
              "throughput_3x_baseline": checks["saturated_texts_per_second_vs_baseline"] >= TARGETS["throughput_vs_baseline_min"],
              "tokens_half_of_big_batch": checks["saturated_tokens_vs_big_batch"] >= TARGETS["tokens_vs_big_batch_min"],
              "idle_p50_10ms": baseline["p50_ms"] <= TARGETS["idle_p50_ms_max"]}
    for name, ok in passed.items():
        print(f"{name}: {verdict(ok)}")
    print(json.dumps(checks, indent=1))
    return {**measured, "mean_real_tokens_per_text": round(tokens_per_text, 2), "big_batch": reference,
            "checks": checks, "targets": TARGETS, "pass": passed,
            "settings": {"threads": args.threads or "one per core", "backend": args.backend,
                         "max_wait_ms": args.max_wait_ms, "max_queue": args.max_queue, "runs": args.runs}}


def main() -> None:
    """`python bench/load_service.py ARGS`: run it and write its result file through bench/run.py's writer."""
    import argparse

    import run as runner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="a few seconds per step: checks that it works")
    parser.add_argument("--tag", default="", help="result file load_service.TAG.json")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the result file")
    parser.add_argument("--omp-default", action="store_true", help="keep libgomp's spin-waiting (read by _common)")
    runner.run_case("load_service", parser.parse_args())


if __name__ == "__main__":
    main()
