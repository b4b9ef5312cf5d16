"""Training in worker processes (core/process_executor.py), the dashboard's default: jobs finish and
save loadable runs with their live events, Cancel stops a run in a worker, a worker that dies fails
only its run, and the pool keeps working after both. Real spawned processes, no mocks."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from core import events as ev
from core.config import RunConfig
from core.jobs import Job, SweepJob, configured_executor
from core.lab_settings import LabSettings, load_settings
from core.predict import load_predictor
from core.process_executor import ProcessExecutor, shared_executor
from core.store import list_runs
from core.training import train
from core.vary import SIZE, Vary
from tests.support import wait_for_first_step


@pytest.fixture(scope="module")
def executor():
    pool = ProcessExecutor(keep_warm=1)
    yield pool
    pool.close()


def wait(job, seconds=120):
    job.join(seconds)
    assert job.done, job.status


def worker_pids(executor) -> list[int]:
    return [worker.process.pid for worker in executor._idle]


def test_a_job_trains_in_a_worker_and_saves_runs_that_load_and_predict(executor, tiny_model_dir, tiny_splits,
                                                                       tmp_path):
    configs = [RunConfig(strategy="tfidf"), RunConfig(strategy="frozen", model=tiny_model_dir, epochs=2)]
    job = Job(configs, tiny_splits, tmp_path, executor=executor).start()
    wait(job)
    assert [(r.strategy, r.status) for r in job.results] == [("tfidf", "finished"), ("frozen", "finished")]
    kinds = [(e.run_index, type(e.event).__name__) for e in job.events_since(0)]
    assert (1, "EpochEvaluated") in kinds and kinds[-1] == (1, "RunFinished")  # live curves came back
    here = train(configs[0], tiny_splits)  # the same run in this process: the same held-out scores
    assert job.results[0].test_accuracy == pytest.approx(here.result.test_accuracy)
    saved = list_runs(tmp_path)
    assert len(saved) == 2
    for folder, result in saved:
        predictor = load_predictor(folder)
        assert predictor.predict_outputs(["a fine film", "a dull film"]).shape[0] == 2
    pid = worker_pids(executor)
    assert pid and pid[0] != os.getpid()  # it trained in another process, which stays warm
    assert "TL_LAB_FEATURE_CACHE" not in os.environ  # the workers' shared cache is theirs: this process unchanged
    assert staged(executor) == []  # the models the workers wrote were moved into the runs


def staged(executor) -> list:
    """What is left in the folder the workers write models to."""
    return sorted(Path(executor._staging).rglob("*")) if executor._staging else []


def test_a_run_whose_saving_fails_leaves_no_model_files_behind(executor, tiny_model_dir, tiny_splits, tmp_path):
    runs = tmp_path / "runs"
    runs.write_text("a file where the runs folder should be")  # saving cannot make its folder
    job = Job([RunConfig(strategy="frozen", model=tiny_model_dir, epochs=1)], tiny_splits, runs,
              executor=executor).start()
    wait(job)
    assert job.results[0].status == "failed" and "saving the run failed" in job.results[0].reason
    assert executor._staging and staged(executor) == []


def test_cancel_stops_a_run_in_a_worker_and_the_worker_trains_the_next_job(executor, tiny_model_dir,
                                                                           tiny_splits, tmp_path):
    long = RunConfig(strategy="full", model=tiny_model_dir, epochs=20, batch_size=2)
    job = Job([long, RunConfig(strategy="tfidf")], tiny_splits, tmp_path, executor=executor).start()
    wait_for_first_step(job, 60)
    assert any(isinstance(e.event, ev.StepLogged) for e in job.events_since(0)), "no step came back from the worker"
    asked = time.time()
    job.cancel()
    wait(job, 30)
    assert time.time() - asked < 5  # the worker read "stop" at a batch: no waiting for the grace period
    assert job.status == "cancelled"
    assert [r.status for r in job.results] == ["cancelled", "cancelled"]
    after = Job([RunConfig(strategy="tfidf")], tiny_splits, tmp_path, executor=executor).start()
    wait(after)
    assert [r.status for r in after.results] == ["finished"]


def test_a_worker_killed_mid_run_fails_that_run_only(executor, tiny_model_dir, tiny_splits, tmp_path):
    long = RunConfig(strategy="full", model=tiny_model_dir, epochs=50, batch_size=2)
    job = Job([long, RunConfig(strategy="tfidf")], tiny_splits, tmp_path, executor=executor).start()
    wait_for_first_step(job, 60)
    assert any(isinstance(e.event, ev.StepLogged) for e in job.events_since(0)), "no step came back from the worker"
    busy = [child.pid for child in psutil.Process().children() if "core.process_executor" in child.cmdline()
            and child.pid not in worker_pids(executor)]
    assert len(busy) == 1
    os.kill(busy[0], signal.SIGKILL)  # what the kernel's out-of-memory killer does
    wait(job)
    assert job.status == "finished"  # the job went on
    first, second = job.results
    assert first.status == "failed"
    assert first.reason == "The training process was ended by SIGKILL: the system may have run out of memory."
    assert second.status == "finished"  # on a new worker
    failed = [e.event for e in job.events_since(0) if isinstance(e.event, ev.RunFailed)]
    assert [f.reason for f in failed] == [first.reason]  # the page's live view hears of it too
    assert [folder.name.split("-")[2] for folder, _ in list_runs(tmp_path)] == ["tfidf"]
    assert staged(executor) == []


def test_a_sweep_trains_its_cells_in_workers(executor, tiny_splits):
    job = SweepJob(base=RunConfig(), strategies=["tfidf"], vary=Vary(SIZE, (8, 16)), seeds=1, splits=tiny_splits,
                   executor=executor).start()
    wait(job)
    assert [(r.n_train, r.status) for r in job.records] == [(8, "finished"), (16, "finished")]


def test_the_lab_settings_choose_worker_processes_by_default(monkeypatch):
    assert LabSettings().executor == "process"
    assert isinstance(configured_executor(LabSettings()), ProcessExecutor)
    assert configured_executor(LabSettings()) is shared_executor()  # one pool per server process
    assert configured_executor(LabSettings(executor="local")) is None
    with pytest.raises(ValueError, match="executor must be one of process, local, ray, not 'threads'"):
        load_settings(Path("/nonexistent"), {"TL_LAB_EXECUTOR": "threads"})


def test_runs_side_by_side_in_workers_are_reproducible(tiny_model_dir, tiny_splits):
    """Two students train the same seeded run at once: each worker has its own random generator, so both get
    the result a run alone gets (in threads of one process they drew from one generator)."""
    pool = ProcessExecutor(keep_warm=2)
    config = RunConfig(strategy="full", model=tiny_model_dir, epochs=2, batch_size=4, device="cpu")  # CUDA kernels
    try:  # may add in any order
        jobs = [Job([config], tiny_splits, None, executor=pool).start() for _ in range(2)]
        for job in jobs:
            wait(job)
        alone = Job([config], tiny_splits, None, executor=pool).start()
        wait(alone)
    finally:
        pool.close()
    losses = [[entry["train_loss"] for entry in job.results[0].history] for job in (*jobs, alone)]
    assert losses[0] == losses[1] == losses[2]
    assert len({job.results[0].test_accuracy for job in (*jobs, alone)}) == 1


def test_a_worker_started_under_streamlit_does_not_run_the_page_script(executor, tiny_splits, tmp_path, monkeypatch):
    """Streamlit puts the page script in sys.modules["__main__"]; multiprocessing's spawn would run it again
    in every worker, which then died before training (the first class run with workers failed so)."""
    import types

    script = tmp_path / "app.py"
    script.write_text("raise SystemExit('the page script ran in a worker')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(__import__("sys").modules, "__main__", page)
    fresh = ProcessExecutor(keep_warm=0)  # a new worker, started now
    job = Job([RunConfig(strategy="tfidf")], tiny_splits, None, executor=fresh).start()
    wait(job)
    assert [(r.status, r.reason) for r in job.results] == [("finished", "")]
