"""Background jobs: events flow out, cancel works, one failure does not stop the queue or the sweep."""

from __future__ import annotations

import json
import threading
import time

from core import events as ev
from core.config import RunConfig
from core.jobs import PACE_AFTER, Job, SweepJob
from core.progress import progress_of
from core.results import RunResult
from core.sweep import PlannedRun
from core.training import TrainOutcome
from core.vary import SIZE, Vary
from tests.support import wait_for_first_step


def wait(job, seconds=60):
    job.join(seconds)
    assert job.done, job.status


def test_job_runs_queue_in_background(tiny_model_dir, tiny_splits, tmp_path):
    configs = [RunConfig(strategy="tfidf"), RunConfig(strategy="frozen", model=tiny_model_dir, epochs=1)]
    job = Job(configs, tiny_splits, tmp_path).start()
    wait(job)
    assert job.status == "finished"
    assert [r.strategy for r in job.results] == ["tfidf", "frozen"]
    finished = [e for e in job.events_since(0) if isinstance(e.event, ev.RunFinished)]
    assert [e.run_index for e in finished] == [0, 1]
    assert len(list(tmp_path.iterdir())) == 2  # both runs saved


def test_failure_in_one_run_keeps_the_rest(tiny_model_dir, tiny_splits, tmp_path):
    configs = [RunConfig(strategy="full", model=tiny_model_dir, max_length=4096, epochs=1),
               RunConfig(strategy="tfidf")]
    job = Job(configs, tiny_splits, tmp_path).start()
    wait(job)
    assert [r.status for r in job.results] == ["failed", "finished"]
    assert "4096" in job.results[0].reason
    failed = [e for e in job.events_since(0) if isinstance(e.event, ev.RunFailed)]
    assert failed and failed[0].run_index == 0


def test_cancel_stops_current_and_skips_queued(tiny_model_dir, tiny_splits, tmp_path):
    configs = [RunConfig(strategy="full", model=tiny_model_dir, epochs=50, batch_size=2, patience=0),
               RunConfig(strategy="tfidf")]
    job = Job(configs, tiny_splits, tmp_path).start()
    wait_for_first_step(job, 30)
    job.cancel()
    wait(job)
    assert job.status == "cancelled"
    assert [r.status for r in job.results] == ["cancelled", "cancelled"]
    assert not list(tmp_path.iterdir())  # nothing half-saved


def test_a_training_run_tells_the_scheduler_its_time_left_at_its_own_pace(tiny_model_dir, tiny_splits, tmp_path):
    configs = [RunConfig(strategy="full", model=tiny_model_dir, epochs=10, batch_size=2, patience=0)]
    job = Job(configs, tiny_splits, tmp_path).start()
    wait_for_first_step(job, 30)
    deadline, left, seen_early = time.time() + 30, None, False
    while left is None and time.time() < deadline:
        before = progress_of(job)[0].fraction  # steps only go forward
        left = job.tickets[0].left()  # what core.scheduler's forecast reads for a running ticket
        if before >= PACE_AFTER:
            assert left is not None
        seen_early |= left is None  # before a fifth of the steps: the pace still carries loading the model
        time.sleep(0.02)
    assert seen_early and progress_of(job)[0].fraction >= PACE_AFTER
    job.cancel()
    wait(job)
    assert left is not None and left > 0
    assert job.tickets[0].left is None  # over: the scheduler's list of finished tickets keeps no job alive


def test_events_since_is_incremental(tiny_splits, tmp_path):
    job = Job([RunConfig(strategy="tfidf")], tiny_splits, None).start()
    wait(job)
    everything = job.events_since(0)
    assert job.events_since(len(everything)) == []
    assert job.events_since(1) == everything[1:]


# ---------------------------------------------------------------- data-size sweep


def test_sweep_job_records_every_run_and_summarises_them(tiny_splits):
    sweep = SweepJob(RunConfig(strategy="tfidf"), ["tfidf"], Vary(SIZE, (20, 10)), 2, tiny_splits, {"data": "toy"}).start()
    wait(sweep)
    assert sweep.status == "finished" and sweep.current_run is None
    assert [(r.n_train, r.seed) for r in sweep.records] == [(10, 0), (10, 1), (20, 0), (20, 1)]
    payload = sweep.payload()
    assert payload["config"]["values"] == [10, 20] and payload["config"]["n_test"] == len(tiny_splits.test)
    assert [row["runs"] for row in payload["summary"]] == [2, 2]
    assert payload["winners"] == {10: "tfidf", 20: "tfidf"}


def test_sweep_job_shows_records_as_they_arrive_and_cancel_stops_it(tiny_splits, monkeypatch):
    released, calls = threading.Semaphore(0), []

    def paced_train(config, splits, on_event=None, stop=None):  # one run per release, or until Cancel
        calls.append(config.strategy)
        while not released.acquire(timeout=0.05):
            if stop.is_set():
                return TrainOutcome(RunResult(config.strategy, status="cancelled", reason="Cancelled by the user."))
        return TrainOutcome(RunResult(config.strategy, test_accuracy=0.75, macro_f1=0.74))

    monkeypatch.setattr("core.sweep.train", paced_train)
    sweep = SweepJob(RunConfig(), ["full", "tfidf"], Vary(SIZE, (10, 20)), 2, tiny_splits).start()
    assert sweep.records == [] and sweep.current_run == PlannedRun(10, 0, "full")
    released.release()
    deadline = time.time() + 10
    while len(sweep.records) < 1 and time.time() < deadline:
        time.sleep(0.02)
    assert [r.status for r in sweep.records] == ["finished"] and sweep.current_run == PlannedRun(10, 0, "tfidf")
    sweep.cancel()
    wait(sweep)
    assert sweep.status == "cancelled"
    assert [r.status for r in sweep.records] == ["finished", "cancelled"]
    assert len(calls) == 2  # the 6 remaining runs never started


def test_a_failing_strategy_is_recorded_with_its_reason_while_the_others_go_on(tiny_splits):
    sweep = SweepJob(RunConfig(model="no-such-model"), ["frozen", "tfidf"], Vary(SIZE, (10, 20)), 1, tiny_splits).start()
    wait(sweep)
    assert sweep.status == "finished"
    statuses = {(r.strategy, r.n_train): r.status for r in sweep.records}
    assert statuses == {("frozen", 10): "failed", ("tfidf", 10): "finished",
                        ("frozen", 20): "failed", ("tfidf", 20): "finished"}
    assert all("no-such-model" in r.reason for r in sweep.records if r.strategy == "frozen")
    assert [row["strategy"] for row in sweep.payload()["summary"]] == ["tfidf", "tfidf"]


def test_a_crashing_sweep_fails_with_the_reason(tiny_splits):
    sweep = SweepJob(RunConfig(strategy="tfidf"), ["tfidf"], Vary(SIZE, (10_000,)), 1, tiny_splits).start()
    wait(sweep)
    assert sweep.status == "failed" and "training size of 10000 is impossible" in sweep.error


def test_worker_thread_runs_at_lower_priority(tiny_splits, monkeypatch):
    import os
    import threading

    from core import jobs

    seen = {}
    original = jobs._yield_cpu_to_the_ui

    def record():
        original()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    monkeypatch.setattr(jobs, "_yield_cpu_to_the_ui", record)
    wait(Job([RunConfig(strategy="tfidf")], tiny_splits, None).start())
    assert seen["nice"] >= jobs.WORKER_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < jobs.WORKER_NICENESS  # caller unchanged


def test_a_crash_while_saving_leaves_earlier_runs_loadable_and_nothing_half_written(tmp_path, tiny_splits,
                                                                                   monkeypatch):
    from core.compare import run_queue
    from core.predict import TfidfPredictor, load_predictor
    from core.saved_runs import find_saved_runs

    root = tmp_path / "runs"
    first = run_queue([RunConfig(strategy="tfidf")], tiny_splits, root)
    real_save = TfidfPredictor.save

    def save_then_crash(self, folder):
        real_save(self, folder)  # the model is on disk, then the process "dies" before result.json
        raise OSError("No space left on device")

    monkeypatch.setattr(TfidfPredictor, "save", save_then_crash)
    second = run_queue([RunConfig(strategy="tfidf", seed=1), RunConfig(strategy="tfidf", seed=2)], tiny_splits, root)
    assert [r.status for r in second] == ["failed", "failed"]
    assert "saving the run failed (OSError: No space left on device)" in second[0].reason
    saved = find_saved_runs(root)
    assert [run.result.config["seed"] for run in saved] == [0] and first[0].ok
    assert sorted(p.name for p in root.iterdir()) == [saved[0].folder.name]  # no partial folder remains
    assert load_predictor(saved[0].folder).predict(["a wonderful film"])[0].label in ("negative", "positive")


def test_a_partial_folder_left_by_a_killed_process_is_never_listed(tmp_path):
    from core.saved_runs import find_saved_runs
    from core.store import list_runs, save_run

    root = tmp_path / "runs"
    save_run(root / "20250101-000001-tfidf-aaaaaa", RunResult("tfidf", test_accuracy=0.7))
    partial = root / ".partial-20250101-000002-full-bbbbbb"
    partial.mkdir()
    # killed after result.json but before the rename: it reads as a run, yet its model may be half there
    (partial / "result.json").write_text(json.dumps(RunResult("full", test_accuracy=0.9).to_dict()))
    assert [folder.name for folder, _ in list_runs(root)] == ["20250101-000001-tfidf-aaaaaa"]
    assert [run.folder.name for run in find_saved_runs(root)] == ["20250101-000001-tfidf-aaaaaa"]
