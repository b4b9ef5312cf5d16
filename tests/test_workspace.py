"""Private and published runs, who may change what, cleaning, and the journal of interrupted work."""

import os
import time

import pytest

from core import journal, workspace
from core.config import RunConfig
from core.jobs import Job
from core.results import RunResult
from core.scheduler import Scheduler
from core.store import new_run_dir, rename_run, save_run

ALICE, BOB = "a" * 32, "b" * 32


def saved(root, session, strategy="tfidf", accuracy=0.8):
    result = RunResult(strategy=strategy, status="finished", test_accuracy=accuracy, labels=["neg", "pos"])
    return save_run(new_run_dir(workspace.session_root(root, session), strategy), result, None, {"data": "toy"})


def test_a_session_lists_only_its_own_runs_and_the_published_ones(tmp_path):
    alice_run = saved(tmp_path, ALICE)
    saved(tmp_path, BOB, "full")
    assert [run.folder for run in workspace.own_runs(tmp_path, ALICE)] == [alice_run]
    assert workspace.published_runs(tmp_path) == []
    copies = workspace.publish(tmp_path, ALICE, [alice_run], "Lesson 1")
    assert [run.folder for run in workspace.published_runs(tmp_path)] == copies
    assert workspace.publication(copies[0]).title == "Lesson 1"
    assert ALICE not in (copies[0] / workspace.PUBLISHED_FILE).read_text()  # only a hash of the publisher
    assert [run.result.strategy for run in workspace.own_runs(tmp_path, BOB)] == ["full"]


def test_published_runs_are_read_only_for_everyone_but_their_publisher(tmp_path):
    alice_run = saved(tmp_path, ALICE)
    [published] = workspace.publish(tmp_path, ALICE, [alice_run], "Lesson 1")
    assert workspace.may_change(tmp_path, ALICE, published)
    assert not workspace.may_change(tmp_path, BOB, published)
    assert not workspace.may_change(tmp_path, BOB, alice_run)
    with pytest.raises(workspace.NotYours):
        workspace.delete_run(tmp_path, BOB, published)
    with pytest.raises(workspace.NotYours):
        workspace.publish(tmp_path, BOB, [alice_run], "not mine")
    workspace.delete_run(tmp_path, ALICE, published)
    assert workspace.published_runs(tmp_path) == []
    assert alice_run.is_dir()  # the private copy stays


def test_session_ids_never_become_paths_unchecked(tmp_path):
    for bad in ("../../etc", "", "ABC", "a/b", None, "a" * 65):
        assert not workspace.valid_session_id(bad)
        with pytest.raises(ValueError):
            workspace.session_root(tmp_path, bad)


def test_clearing_removes_only_the_sessions_private_runs(tmp_path):
    runs = [saved(tmp_path, ALICE) for _ in range(2)]
    workspace.publish(tmp_path, ALICE, runs[:1], "kept")
    saved(tmp_path, BOB)
    assert workspace.clear_session(tmp_path, ALICE) == 2
    assert workspace.own_runs(tmp_path, ALICE) == []
    assert len(workspace.published_runs(tmp_path)) == 1 and len(workspace.own_runs(tmp_path, BOB)) == 1


def test_cleaning_drops_old_unpublished_runs_then_the_oldest_until_under_the_size_limit(tmp_path):
    old, middle, new = (saved(tmp_path, session) for session in (ALICE, BOB, ALICE))
    [published] = workspace.publish(tmp_path, BOB, [middle], "kept")
    now = time.time()
    os.utime(old, (now - 30 * 86400, now - 30 * 86400))
    os.utime(middle, (now - 2 * 86400, now - 2 * 86400))
    assert workspace.clean(tmp_path, keep_days=14, max_bytes=10**9, now=now) == [old]
    size = workspace.folder_bytes(tmp_path)
    assert workspace.clean(tmp_path, keep_days=14, max_bytes=size - 1, now=now) == [middle]  # the oldest left
    assert new.is_dir() and published.is_dir()


def test_rename_keeps_a_run_readable(tmp_path):
    run = saved(tmp_path, ALICE)
    rename_run(run, "baseline")
    assert workspace.own_runs(tmp_path, ALICE)[0].result.name == "baseline"


def test_a_job_is_journalled_until_it_ends_and_what_is_left_reads_back(tiny_splits, tmp_path):
    scheduler = Scheduler(slots=1, short_slots=0)
    holder = scheduler.submit("other", "long", 100)  # keeps the job waiting, as a busy server would
    job = Job([RunConfig(strategy="tfidf")], tiny_splits, None, {"description": "toy data"}, session=ALICE,
              scheduler=scheduler, journal=tmp_path).start()
    [entry] = journal.pending(tmp_path)  # as a restarted server would find it
    assert entry.kind == "compare" and entry.words == "tfidf on toy data"
    assert entry.splits() == tiny_splits
    assert journal.pending(tmp_path, live_ids={job.id}) == []  # not interrupted while it lives
    scheduler.release(holder)
    job.join(60)
    assert job.status == "finished" and journal.pending(tmp_path) == []
