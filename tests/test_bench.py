"""The bench suite as a user meets it: every case's quick mode writes a result file with the machine
block and sane numbers, and bench/report.py turns a folder of results into README.md's table."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# The suite's cases, all offline. Left out: ui_responsiveness (Streamlit, Playwright and Chromium, about a
# minute even in quick mode; tests/test_browser.py drives the same live app), and the service and ONNX cases
# (load_service, onnx_vs_torch), which come with the serving and export work and start a service or save a run.
CASES = ("prediction", "rt_length", "hardware_efficiency", "frozen_cache", "default_comparison", "vs_trainer",
         "vs_trainer_steps", "bf16_features", "optimizer_step", "scheduler_slots")
FROZEN_ROW = "| frozen: feature cache vs encoder in every step, 3 epochs, same precision both sides |"
PRECISION_ROW = "| precision gain, bf16 vs fp32 autocast on this CPU: frozen run with cache, 3 epochs |"
MARKERS = ("<!-- bench-table:begin (written by python bench/report.py from bench/results; edit those, not this) -->\n"
           "<!-- bench-table:end -->\n")
DETAIL_MARKERS = ("<!-- bench-details:begin (written by python bench/report.py from bench/results) -->\n"
                  "<!-- bench-details:end -->\n")


def bench(script: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`python bench/SCRIPT ARGS` from the repository root; fails the test with its output if it fails."""
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    assert proc.returncode == 0, f"{script} {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def report(results: Path, tmp_path: Path, *args: str) -> tuple[str, subprocess.CompletedProcess]:
    """Run report.py on `results` into a scratch README and details file; (README table text, process)."""
    readme, details = tmp_path / "README.md", tmp_path / "details.md"
    readme.write_text("# Performance\n\n" + MARKERS + "\nprose after the table\n")
    details.write_text(DETAIL_MARKERS)
    proc = bench("report.py", "--results", str(results), "--readme", str(readme), "--details", str(details), *args,
                 timeout=120)
    return readme.read_text(), proc


def numbers(node, path: tuple = ()):
    """(path of keys, value) for every number in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from numbers(v, (*path, str(k)))
    elif isinstance(node, list):
        for v in node:
            yield from numbers(v, path)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, node


def snapshot(folder: Path) -> dict:
    """Modification time of each file this module's runs would write into `folder` (None: absent);
    other files there may change meanwhile (other work adds results)."""
    names = [f"{case}.quick.json" for case in CASES] + ["frozen_cache.bf16.quick.json", "default_comparison_quick"]
    return {name: (folder / name).stat().st_mtime_ns if (folder / name).exists() else None for name in names}


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory) -> Path:
    """The cases in quick mode, in one runner process, into a temporary folder; then frozen_cache at
    precision bf16, which adds its fp32 side (the precision gain). Nothing lands in bench/results."""
    folder = tmp_path_factory.mktemp("bench-results")
    before = snapshot(BENCH / "results")
    bench("run.py", *CASES, "--quick", "--results", str(folder))
    bench("run.py", "frozen_cache", "--quick", "--precision", "bf16", "--tag", "bf16", "--results", str(folder))
    assert snapshot(BENCH / "results") == before
    return folder


@pytest.mark.slow
def test_every_case_writes_a_result_with_its_machine_and_sane_numbers(quick_results):
    for case in CASES:
        result = json.loads((quick_results / f"{case}.quick.json").read_text())
        assert result["benchmark"] == case and result["quick"] is True
        machine = result["machine"]
        for key in ("timestamp", "command", "git_commit", "cpu_model", "torch", "load_average_end"):
            assert machine[key] not in (None, ""), (case, key)
        assert machine["case_seconds"] > 0
        for path, value in numbers(result):
            assert math.isfinite(value), (case, path)
            if any(key.endswith("seconds") for key in path):  # train_seconds, median_train_seconds, ...
                assert value >= 0, (case, path, value)
            if any(key.endswith("accuracy") for key in path):  # test_accuracy, probe_accuracy (not gaps)
                assert 0 <= value <= 1, (case, path, value)


@pytest.mark.slow
def test_quick_frozen_cache_compares_like_with_like(quick_results):
    result = json.loads((quick_results / "frozen_cache.bf16.quick.json").read_text())
    assert result["settings"]["dtype"] == "bfloat16"
    (run,) = result["results"]
    assert set(run["runs"]) == {"cached", "naive", "cached_fp32"}
    assert run["speedup"] > 0 and run["precision_gain"] > 0
    assert run["median_train_seconds"]["naive"] > 0
    # Same features, batches and dropout masks on both sides: the same trained head.
    assert abs(run["test_accuracy"]["cached"] - run["test_accuracy"]["naive"]) <= 0.05


@pytest.mark.slow
def test_report_writes_the_readme_table_from_a_folder_of_results(quick_results, tmp_path):
    readme, proc = report(quick_results, tmp_path, "--quick")
    table = readme.split("<!-- bench-table:end -->")[0]
    frozen = next(line for line in table.splitlines() if line.startswith(FROZEN_ROW))
    assert "both bfloat16" in frozen and "frozen_cache.bf16.quick.json" in frozen
    gain = next(line for line in table.splitlines() if line.startswith(PRECISION_ROW))
    assert "x: cached frozen run fp32" in gain
    assert readme.endswith("prose after the table\n")
    assert "unknown shape" not in proc.stdout
    assert report(quick_results, tmp_path, "--quick")[0] == readme  # rerunning changes nothing


def test_readme_table_is_up_to_date_with_bench_results():
    proc = subprocess.run([sys.executable, str(BENCH / "report.py"), "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, "README.md's performance table is stale: run python bench/report.py"


def test_report_reads_every_file_and_names_the_ones_it_cannot_read(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for path in (BENCH / "results").glob("*.json"):
        shutil.copy(path, results / path.name)
    (results / "frozen_cache.odd.json").write_text(json.dumps({"benchmark": "frozen_cache", "results": [{}]}))
    (results / "mystery.json").write_text(json.dumps({"benchmark": "mystery"}))
    readme, proc = report(results, tmp_path)
    assert "`frozen_cache.odd.json`: unknown shape" in proc.stdout
    assert "`mystery.json`: unknown case 'mystery'" in proc.stdout
    assert FROZEN_ROW in readme


def bench_module(name: str):
    """bench/NAME.py as a module (bench/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_classroom_times_a_page_switch_from_the_websocket_frames():
    """The server's part of a switch: from the rerun request for another page to the end of that
    page's full run; a fragment's redraw, a rerun of the same page and a switch while not timing are
    not switches."""
    import base64

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    def frame(message, at: float) -> dict:
        return {"timestamp": at, "response": {"opcode": 2, "payloadData":
                                              base64.b64encode(message.SerializeToString()).decode()}}

    def rerun(page: str, at: float, fragment: str = "") -> dict:
        message = BackMsg()
        message.rerun_script.page_script_hash, message.rerun_script.fragment_id = page, fragment
        return frame(message, at)

    def delta(at: float) -> dict:
        message = ForwardMsg()
        message.delta.new_element.markdown.body = "# Results"
        return frame(message, at)

    def finished(status, at: float) -> dict:
        message = ForwardMsg()
        message.script_finished = status
        return frame(message, at)

    times = bench_module("classroom").SocketTimes()
    times.on_sent(rerun("train", 1.0))  # the first page of the session: no switch
    times.on_received(finished(ForwardMsg.FINISHED_SUCCESSFULLY, 1.5))
    times.timing = True
    times.on_sent(rerun("results", 10.0))
    times.on_received({"timestamp": 10.1, "response": {"opcode": 1, "payloadData": "not protobuf"}})
    times.on_received(delta(10.25))
    times.on_received(finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, 10.3))  # a fragment of the old page
    times.on_received(delta(10.4))
    times.on_received(finished(ForwardMsg.FINISHED_SUCCESSFULLY, 10.75))
    times.on_sent(rerun("results", 11.0, fragment="live"))  # a fragment's redraw
    times.on_sent(rerun("results", 12.0))  # the same page again (a widget)
    times.on_received(finished(ForwardMsg.FINISHED_SUCCESSFULLY, 12.5))
    times.timing = False
    times.on_sent(rerun("train", 13.0))  # after the student's training ended
    times.on_received(finished(ForwardMsg.FINISHED_SUCCESSFULLY, 14.0))
    assert times.to_complete == [pytest.approx(0.75)]
    assert times.to_first_element == [pytest.approx(0.25)]
