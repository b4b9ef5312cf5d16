"""The Ray executor (core/ray_executor.py) on a local Ray cluster that these tests start once: sweeps and
dashboard jobs end to end, live events, Cancel, failing tasks, saved runs, and the same records as
the local executor. Without an executor configured, Ray is never imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support import wait_for_first_step

from core import events as ev
from core.config import RunConfig
from core.lab_settings import LabSettings, load_settings
from core.jobs import configured_executor
from core.ray_executor import RayExecutor, train_in_task
from core.vary import SIZE, Vary

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance for the whole file: 2 CPUs, a 200 MB object store, no dashboard."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-dev.txt)")
    ray.init(address="local", num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False,
             log_to_driver=False)
    yield RayExecutor("local")
    ray.shutdown()


def wait(job, seconds=90):
    job.join(seconds)
    assert job.done, job.status


def test_without_an_executor_ray_is_never_imported(tmp_path):
    script = f"""
import sys
import core.cli, core.jobs
from core.config import RunConfig
from core.sources import load_source
from core.splits import make_splits
assert core.cli.main(["sweep", "--data", "synthetic", "--synthetic-size", "200", "--strategies", "tfidf",
                      "--sizes", "20", "--seeds", "1", "--n-test", "50", "--out", {str(tmp_path / 'sweep')!r}]) == 0
splits = make_splits(load_source("synthetic", n_synthetic=200), n_train=40, n_val=20, n_test=40, seed=0)
job = core.jobs.Job([RunConfig(strategy="tfidf")], splits, None).start()
job.join(60)
assert job.status == "finished", job.status
assert core.cli.main(["sweep", "--ray-address", "auto", "--strategies", "tfidf"]) == 2  # needs --executor ray
assert "ray" not in sys.modules, "ray was imported"
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TL_LAB_EXECUTOR")}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_settings_choose_the_executor():
    assert configured_executor(LabSettings(executor="local")) is None
    settings = load_settings(Path("/nonexistent"), {"TL_LAB_EXECUTOR": "ray", "TL_LAB_RAY_ADDRESS": "auto"})
    assert (settings.executor, settings.ray_address) == ("ray", "auto")
    executor = configured_executor(settings)
    assert isinstance(executor, RayExecutor) and executor.address == "auto"
    assert configured_executor(settings) is executor  # one per address
    with pytest.raises(ValueError, match="executor must be one of process, local, ray"):
        load_settings(Path("/nonexistent"), {"TL_LAB_EXECUTOR": "slurm"})


def test_lab_settings_send_dashboard_jobs_to_ray(cluster, tiny_splits, monkeypatch):
    from core.jobs import Job

    def marked(config, splits, channel, index, keep_model):
        outcome = train_in_task(config, splits, channel, index, keep_model)
        outcome.result.reason = "trained in a Ray task"
        return outcome

    monkeypatch.setenv("TL_LAB_EXECUTOR", "ray")
    monkeypatch.setenv("TL_LAB_RAY_ADDRESS", "local")  # this process is connected already: that connection
    monkeypatch.setattr(RayExecutor, "train_task", staticmethod(marked))
    job = Job([RunConfig(strategy="tfidf")], tiny_splits, None).start()
    wait(job)
    assert [(r.status, r.reason) for r in job.results] == [("finished", "trained in a Ray task")]


def test_ray_started_by_a_job_outlives_the_job_thread(tmp_path):
    """Ray's processes die with the thread that started them: the executor starts them in one that lasts."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-dev.txt)")
    script = """
from core.config import RunConfig
from core.jobs import Job, SweepJob
from core.ray_executor import RayExecutor
from core.sources import load_source
from core.splits import make_splits
from core.vary import SIZE, Vary
splits = make_splits(load_source("synthetic", n_synthetic=200), n_train=60, n_val=20, n_test=40, seed=0)
executor = RayExecutor("local", num_cpus=1, object_store_memory=100 * 2**20, include_dashboard=False,
                       log_to_driver=False)
job = Job([RunConfig(strategy="tfidf")], splits, None, executor=executor).start()
job.join(60)
assert job.status == "finished" and job.results[0].ok, (job.status, job.error)
sweep = SweepJob(RunConfig(strategy="tfidf"), ["tfidf"], Vary(SIZE, (20,)), 1, splits, executor=executor).start()
sweep.join(60)
assert sweep.status == "finished" and sweep.records[0].status == "finished", (sweep.status, sweep.error)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_sweep_on_ray_gives_the_local_records(cluster, tiny_splits, tiny_model_dir):
    from core.sweep import run_sweep_on_splits

    base = RunConfig(model=tiny_model_dir, epochs=1, max_length=32)
    args = (tiny_splits, base, ["frozen", "tfidf"], Vary(SIZE, (10, 20)), 2)
    seen = []
    remote = cluster.run_sweep(*args, on_record=seen.append)
    local = run_sweep_on_splits(*args)

    def key(r):
        return r.strategy, r.value, r.n_train, r.seed, r.status

    assert [key(r) for r in remote] == [key(r) for r in local] and all(r.status == "finished" for r in remote)
    assert sorted(map(key, seen)) == sorted(map(key, remote))  # on_record saw every run as it ended
    for r, l in zip(remote, local):
        if r.strategy == "tfidf":
            assert r.test_accuracy == l.test_accuracy
        else:  # one thread in the task, two here: sums may round differently
            assert r.test_accuracy == pytest.approx(l.test_accuracy, abs=0.07)


def test_a_dashboard_job_on_ray_streams_events_and_saves_its_runs(cluster, tiny_splits, tiny_model_dir, tmp_path):
    from core.jobs import Job
    from core.predict import load_predictor

    configs = [RunConfig(strategy="tfidf"), RunConfig(strategy="frozen", model=tiny_model_dir, epochs=2)]
    job = Job(configs, tiny_splits, tmp_path, executor=cluster).start()
    wait(job)
    assert job.status == "finished" and [r.status for r in job.results] == ["finished", "finished"]
    events = job.events_since(0)
    assert [e.run_index for e in events if isinstance(e.event, ev.RunFinished)] == [0, 1]
    steps = [e for e in events if isinstance(e.event, ev.StepLogged)]  # live, and told apart by run
    assert steps and {e.run_index for e in steps} == {1} and steps[-1].event.step == steps[-1].event.total_steps
    assert [e.event.epoch for e in events if isinstance(e.event, ev.EpochEvaluated) and e.run_index == 1] == [1, 2]
    saved = sorted(tmp_path.iterdir())
    assert len(saved) == 2 and all(r.model_dir and Path(r.model_dir).parent == tmp_path for r in job.results)
    frozen = load_predictor(job.results[1].model_dir)
    assert frozen.predict(["a wonderful film"])[0].label in ("negative", "positive")
    stored = json.loads((Path(job.results[1].model_dir) / "result.json").read_text())
    assert stored["test_accuracy"] == job.results[1].test_accuracy


def test_cancel_reaches_the_running_task_and_skips_the_queued_one(cluster, tiny_splits, tiny_model_dir, tmp_path,
                                                                  monkeypatch):
    from core.jobs import Job

    monkeypatch.setattr("core.ray_executor.GRACE_SECONDS", 120.0)  # only the stop flag can end it in time

    configs = [RunConfig(strategy="full", model=tiny_model_dir, epochs=50, batch_size=2, patience=0),
               RunConfig(strategy="tfidf")]
    job = Job(configs, tiny_splits, tmp_path, executor=cluster).start()
    wait_for_first_step(job, 60)
    job.cancel()
    wait(job)
    assert job.status == "cancelled"
    assert [r.status for r in job.results] == ["cancelled", "cancelled"]
    assert job.results[0].train_seconds > 0  # ended by train() in the task, which saw the stop flag
    assert [e.run_index for e in job.events_since(0) if isinstance(e.event, ev.RunCancelled)] == [0]
    assert not list(tmp_path.iterdir())  # nothing half-saved


def test_cancel_takes_back_a_task_ray_had_queued(tiny_splits, tiny_model_dir, cluster):
    whole_cluster = RayExecutor("local", cpus_per_run=2)  # one run at a time: the second waits in Ray's queue
    stop = threading.Event()

    def on_event(event):
        if isinstance(event, ev.StepLogged):
            stop.set()

    long_run = RunConfig(strategy="full", model=tiny_model_dir, epochs=50, batch_size=2, patience=0)
    results = whole_cluster.run_queue([long_run, long_run.replace(seed=1)], tiny_splits, None, on_event, stop)
    # Ray starts either one first; the other waits for the CPUs until Cancel takes it back
    assert sorted((r.status, r.reason) for r in results) == [("cancelled", "Cancelled before it started."),
                                                             ("cancelled", "Cancelled by the user.")]


def test_a_task_that_ignores_the_stop_flag_is_interrupted(cluster, tiny_splits, monkeypatch):
    from core.ray_executor import _Relay

    monkeypatch.setattr("core.ray_executor.GRACE_SECONDS", 0.5)

    def stubborn(config, splits, channel, index, keep_model):  # says it started, then never checks the flag
        relay = _Relay(channel, index)
        relay(ev.RunStarted(config.strategy, 1, 1))
        relay.flush(wait=True)
        begun = time.time()
        while time.time() - begun < 60:  # Python at work (ray.cancel interrupts that, not a time.sleep)
            sum(range(1000))

    executor = RayExecutor("local")
    executor.train_task = stubborn
    stop, stopped_at = threading.Event(), []

    def on_event(event):
        if isinstance(event, ev.RunStarted):
            stopped_at.append(time.time())
            stop.set()

    results = executor.run_queue([RunConfig(strategy="tfidf")], tiny_splits, None, on_event, stop)
    assert [(r.status, r.reason) for r in results] == [("cancelled", "Cancelled by the user.")]
    assert time.time() - stopped_at[0] < 30  # interrupted, not left to run its 60 s


def test_failing_runs_and_tasks_become_failed_results_and_the_others_finish(cluster, tiny_splits):
    from core.jobs import SweepJob

    sweep = SweepJob(RunConfig(model="no-such-model"), ["frozen", "tfidf"], Vary(SIZE, (10, 20)), 1, tiny_splits,
                     executor=cluster).start()
    wait(sweep)
    assert sweep.status == "finished"
    statuses = {(r.strategy, r.n_train): r.status for r in sweep.records}
    assert statuses == {("frozen", 10): "failed", ("tfidf", 10): "finished",
                        ("frozen", 20): "failed", ("tfidf", 20): "finished"}
    assert all("no-such-model" in r.reason for r in sweep.records if r.strategy == "frozen")

    def breaking_task(config, splits, channel, index, keep_model):
        if config.seed == 1:
            raise RuntimeError("the task fell over")
        if config.seed == 2:
            os._exit(3)  # the worker process dies
        return train_in_task(config, splits, channel, index, keep_model)

    breaking = RayExecutor("local")
    breaking.train_task = breaking_task
    failures = []
    configs = [RunConfig(strategy="tfidf", seed=seed) for seed in range(3)] + [RunConfig(strategy="tfidf",
                                                                                        device="cuda")]
    results = breaking.run_queue(configs, tiny_splits, None,
                                 lambda e: failures.append(e) if isinstance(e, ev.RunFailed) else None)
    assert [r.status for r in results] == ["finished", "failed", "failed", "failed"]
    assert results[1].reason == "The Ray task failed: RuntimeError: the task fell over"
    assert results[2].reason.startswith("The Ray task failed: WorkerCrashedError: The worker died")
    assert "No node of the Ray cluster can take this run: it needs 1 CPU, 1 GPU" in results[3].reason
    assert len(failures) == 3 and results[1].n_test == len(tiny_splits.test)


def test_the_sweep_command_on_ray_writes_the_local_records(cluster, tmp_path):
    from core.cli import main

    common = ["sweep", "--data", "rotten_tomatoes", "--strategies", "tfidf", "--sizes", "50,100", "--seeds", "2",
              "--n-test", "200"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--executor", "ray", "--ray-address", "local", "--out", str(tmp_path / "ray")]) == 0

    def records(folder):
        payload = json.loads((tmp_path / folder / "sweep.json").read_text())
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in payload["records"]], payload["summary"]

    assert records("ray") == records("local")
    assert len(records("ray")[0]) == 4 and all(r["status"] == "finished" for r in records("ray")[0])
