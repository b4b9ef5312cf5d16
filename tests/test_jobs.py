"""Background jobs: events flow out, cancel works, one failure does not stop the queue."""

from __future__ import annotations

import time

from core import events as ev
from core.config import RunConfig
from core.jobs import Job


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
    deadline = time.time() + 30
    while not any(isinstance(e.event, ev.StepLogged) for e in job.events_since(0)) and time.time() < deadline:
        time.sleep(0.05)
    job.cancel()
    wait(job)
    assert job.status == "cancelled"
    assert [r.status for r in job.results] == ["cancelled", "cancelled"]
    assert not list(tmp_path.iterdir())  # nothing half-saved


def test_events_since_is_incremental(tiny_splits, tmp_path):
    job = Job([RunConfig(strategy="tfidf")], tiny_splits, None).start()
    wait(job)
    everything = job.events_since(0)
    assert job.events_since(len(everything)) == []
    assert job.events_since(1) == everything[1:]
