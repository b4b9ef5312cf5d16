"""The scheduler: slots, fairness across sessions, short work, memory, cancel, forecasts, crashes."""

import threading

import pytest

from core.config import RunConfig
from core.jobs import Job
from core.lab_settings import LabSettings, check_session_limits, load_settings
from core.errors import LimitError
from core.scheduler import LOAD_RUN_SECONDS, Scheduler


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def running(scheduler: Scheduler) -> list[str]:
    return [t.label for t in scheduler.tickets() if t.state == "running"]


def finish(scheduler: Scheduler, label: str) -> None:
    scheduler.release(next(t for t in scheduler.tickets() if t.label == label))


def test_one_slot_runs_one_long_training_at_a_time_in_fair_order():
    scheduler = Scheduler(slots=1, short_slots=0, clock=Clock())
    for i in range(3):
        scheduler.submit("alice", f"alice-{i}", 100, chain="a")
    scheduler.submit("bob", "bob-0", 100, chain="b")
    assert running(scheduler) == ["alice-0"]
    finish(scheduler, "alice-0")
    # Bob's one run goes before Alice's second: Alice was already given 100 s.
    assert running(scheduler) == ["bob-0"]
    finish(scheduler, "bob-0")
    assert running(scheduler) == ["alice-1"]


def test_a_chain_runs_in_order_and_one_run_at_a_time():
    scheduler = Scheduler(slots=2, short_slots=0, clock=Clock())
    scheduler.submit("alice", "first", 10, chain="a")
    scheduler.submit("alice", "second", 10, chain="a")
    assert running(scheduler) == ["first"]  # the second slot stays free: the chain's next run waits


def test_short_work_does_not_wait_behind_a_long_fine_tune():
    scheduler = Scheduler(slots=1, short_slots=1, short_seconds=30, clock=Clock())
    scheduler.submit("alice", "full", 600, chain="a")
    scheduler.submit("bob", "full", 600, chain="b")
    scheduler.submit("carol", "tfidf", 3, chain="c")
    assert running(scheduler) == ["full", "tfidf"]  # carol's TF-IDF took the short place at once
    scheduler.submit("dave", "full", 600, chain="d")
    assert sorted(t.session for t in scheduler.tickets() if t.state == "running") == ["alice", "carol"]


def test_memory_packs_runs_and_refuses_what_never_fits():
    scheduler = Scheduler(slots=4, short_slots=0, memory_bytes=10 * 2**30, clock=Clock())
    scheduler.submit("alice", "big", 100, memory=6 * 2**30, chain="a")
    scheduler.submit("bob", "big too", 100, memory=6 * 2**30, chain="b")
    assert running(scheduler) == ["big"]  # both would not fit together
    with pytest.raises(LimitError, match=r"about 20\.0 GB .* 10\.0 GB this server allows"):
        scheduler.submit("carol", "huge", 100, memory=20 * 2**30)
    finish(scheduler, "big")
    assert running(scheduler) == ["big too"]


def test_forecast_plays_the_policy_forward():
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)
    a = [scheduler.submit("alice", f"a{i}", 100, chain="a") for i in range(2)]
    b = scheduler.submit("bob", "b0", 50, chain="b")
    forecast = scheduler.forecast()
    start = clock.now
    assert forecast[a[0].id].place == 0 and forecast[a[0].id].end == pytest.approx(start + 100)
    assert (forecast[b.id].place, forecast[b.id].start) == (1, pytest.approx(start + 100))
    assert (forecast[a[1].id].place, forecast[a[1].id].start) == (2, pytest.approx(start + 150))
    assert b.predicted_start == pytest.approx(start + 100)  # recorded when it was submitted
    clock.now += 130  # alice's first run overran its estimate: it is expected to end soon
    scheduler._forecast = None
    assert scheduler.forecast()[b.id].start > clock.now


def test_a_run_slower_than_planned_moves_the_forecasts_by_its_own_pace():
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)
    running_run = scheduler.submit("alice", "full", 50, chain="a", group="full")
    same = scheduler.submit("bob", "full", 50, chain="b", group="full")
    other = scheduler.submit("carol", "tfidf", 10, chain="c", group="tfidf")
    clock.now += 10
    running_run.left = lambda: 80.0  # its steps say: 80 s more, where the plan said 40
    scheduler._forecast = None
    forecast = scheduler.forecast()
    assert forecast[running_run.id].end == pytest.approx(clock.now + 80)
    assert forecast[same.id].start == pytest.approx(clock.now + 80)
    assert forecast[same.id].end - forecast[same.id].start == pytest.approx(50 * 90 / 50)  # full runs slow now
    # TF-IDF too: a run of 50 s going slower measures the machine's load
    assert forecast[other.id].end - forecast[other.id].start == pytest.approx(10 * 1.8)
    running_run.left = lambda: 5.0  # ahead of plan: the plan stands (it still has its test predictions to do)
    scheduler._forecast = None
    assert scheduler.forecast()[same.id].start == pytest.approx(clock.now + 40)


def test_one_straggler_beside_runs_on_plan_does_not_slow_its_strategys_queue():
    """Two frozen runs side by side: one crawls (a worker starting up), the other is on plan. The queued
    frozen runs are expected at the quicker one's pace; only when both are slow is the machine."""
    clock = Clock()
    scheduler = Scheduler(slots=2, short_slots=0, clock=clock)
    slow, on_plan, queued = (scheduler.submit(who, "frozen", 4, chain=who, group="frozen") for who in "abc")
    clock.now += 2
    slow.left = lambda: 30.0  # its steps say: 30 s more, where the plan said 2
    on_plan.left = lambda: 2.0
    forecast = scheduler.forecast()
    assert forecast[slow.id].end == pytest.approx(clock.now + 30)  # its own end moves
    assert forecast[queued.id].start == pytest.approx(clock.now + 2)
    assert forecast[queued.id].end - forecast[queued.id].start == pytest.approx(4)
    on_plan.left = lambda: 6.0  # now both slower than planned: 2x the quicker of them
    scheduler._forecast = None
    forecast = scheduler.forecast()
    assert forecast[queued.id].end - forecast[queued.id].start == pytest.approx(4 * (2 + 6) / 4)


def test_a_run_with_no_steps_that_overran_is_expected_to_overrun_as_much_again():
    """TF-IDF logs no steps: once it has run past its estimate, that overrun is all there is to go by."""
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)
    running_run = scheduler.submit("alice", "tfidf", 2, chain="a", group="tfidf")
    same = scheduler.submit("bob", "tfidf", 2, chain="b", group="tfidf")
    clock.now += 1.5  # within its estimate: the plan stands
    scheduler._forecast = None
    assert scheduler.forecast()[same.id].start == pytest.approx(clock.now + 0.5)
    clock.now += 4.5  # 6 s of an estimated 2: it is expected to take 4 s more, and the next TF-IDF run 10 s
    scheduler._forecast = None
    forecast = scheduler.forecast()
    assert forecast[running_run.id].end == pytest.approx(clock.now + 4)
    assert forecast[same.id].start == pytest.approx(clock.now + 4)
    assert forecast[same.id].end - forecast[same.id].start == pytest.approx(10)


def test_a_cancelled_wait_gives_the_place_back():
    scheduler = Scheduler(slots=1, short_slots=0)
    scheduler.submit("alice", "long", 100, chain="a")
    waiting = scheduler.submit("bob", "queued", 100, chain="b")
    stop = threading.Event()
    stop.set()
    assert scheduler.acquire(waiting, stop) is False
    assert waiting.state == "withdrawn" and [t.label for t in scheduler.tickets()] == ["long"]


def test_a_crashing_job_never_stops_another_sessions_job(tiny_splits, tmp_path):
    scheduler = Scheduler(slots=1, short_slots=0)
    broken = Job([RunConfig(strategy="frozen", model="no-such-model")], tiny_splits, None, session="alice",
                 scheduler=scheduler)
    fine = Job([RunConfig(strategy="tfidf")], tiny_splits, tmp_path, session="bob", scheduler=scheduler)
    broken.start(), fine.start()
    broken.join(60), fine.join(60)
    assert broken.results[0].status == "failed"
    assert fine.status == "finished" and fine.results[0].status == "finished"
    assert scheduler.tickets() == []  # every place was given back
    assert set(scheduler._group_pace) == {"tfidf"}  # only the finished run calibrates estimates


def test_cancelling_a_queued_job_never_starts_it(tiny_splits):
    scheduler = Scheduler(slots=1, short_slots=0)
    holder = scheduler.submit("alice", "long", 100, chain="a")
    job = Job([RunConfig(strategy="tfidf")] * 2, tiny_splits, None, session="bob", scheduler=scheduler).start()
    waiting = job.waiting()
    assert waiting is not None and waiting.place == 1
    job.cancel()
    job.join(10)
    assert job.status == "cancelled"
    assert [r.reason for r in job.results] == ["Cancelled before it started."] * 2
    scheduler.release(holder)


def test_settings_come_from_the_file_then_the_environment(tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text("slots = 2\nmax_epochs = 5\n")
    settings = load_settings(path, {"TL_LAB_MAX_EPOCHS": "3"})
    assert (settings.long_slots, settings.max_epochs, settings.short_slots) == (2, 3, 1)
    assert LabSettings().long_slots >= 1
    with pytest.raises(ValueError, match="max_epochs must be a number"):
        load_settings(path, {"TL_LAB_MAX_EPOCHS": "many"})
    path.write_text("slotz = 2\n")
    with pytest.raises(ValueError, match="Unknown lab setting"):
        load_settings(path, {})


def test_session_limits_name_the_limit_that_was_hit():
    settings = LabSettings(max_queued_runs=4, max_train=1000, max_epochs=5)
    check_session_limits(settings, queued_runs=2, new_runs=2, n_train=1000, epochs=[5, 5])
    with pytest.raises(LimitError, match="5 runs queued .* limit here is 4"):
        check_session_limits(settings, queued_runs=3, new_runs=2, n_train=10, epochs=[1])
    with pytest.raises(LimitError, match="2,000 training examples .* limit of 1,000"):
        check_session_limits(settings, queued_runs=0, new_runs=1, n_train=2000, epochs=[1])
    with pytest.raises(LimitError, match="9 epochs .* limit of 5"):
        check_session_limits(settings, queued_runs=0, new_runs=1, n_train=10, epochs=[1, 9])


def test_estimates_are_calibrated_by_what_this_server_measured():
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)
    first = scheduler.submit("alice", "tfidf", 2, chain="a", group="tfidf")
    clock.now += 8  # it took four times its estimate (a busy machine, saving the run)
    scheduler.release(first)
    scheduler.submit("alice", "full", 100, chain="a", group="full")
    later = scheduler.submit("bob", "tfidf", 2, chain="b", group="tfidf")
    assert scheduler.expected_seconds(later) == pytest.approx(8)
    forecast = scheduler.forecast()[later.id]
    assert forecast.end - forecast.start == pytest.approx(8)


def test_calibration_follows_the_last_runs_so_a_class_load_shows_quickly():
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)

    def run_taking(seconds: float) -> None:
        ticket = scheduler.submit("alice", "frozen", 10, chain="a", group="frozen")
        clock.now += seconds
        scheduler.release(ticket)

    for _ in range(5):
        run_taking(10)  # the teacher's quiet rehearsals: on estimate
    run_taking(30)
    run_taking(30)  # the class started: runs take three times as long
    later = scheduler.submit("bob", "frozen", 10, chain="b", group="frozen")
    assert scheduler.expected_seconds(later) == pytest.approx(30)  # not the median of all seven (10 s)


def test_a_long_run_slower_than_planned_moves_every_strategys_forecast():
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)
    first = scheduler.submit("alice", "full", 60, chain="a", group="full")
    clock.now += 120  # twice its estimate: the whole class pressed Start
    scheduler.release(first)
    full = scheduler.submit("bob", "full", 60, chain="b", group="full")
    tfidf = scheduler.submit("carol", "tfidf", 2, chain="c", group="tfidf")
    assert scheduler.expected_seconds(full) == pytest.approx(120)
    assert scheduler.expected_seconds(tfidf) == pytest.approx(4)  # the machine is slower for every strategy


def test_a_short_runs_surprise_is_mostly_its_own_strategys():
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)
    first = scheduler.submit("alice", "frozen", 6, chain="a", group="frozen")
    clock.now += 2  # a third of its estimate: the encoder was already loaded, which says nothing of a fine-tune
    scheduler.release(first)
    frozen = scheduler.submit("bob", "frozen", 6, chain="b", group="frozen")
    full = scheduler.submit("carol", "full", 60, chain="c", group="full")
    assert scheduler.expected_seconds(frozen) == pytest.approx(2)  # its own strategy: as long as the last one
    assert scheduler.expected_seconds(full) == pytest.approx(60 * (1 / 3) ** (6 / LOAD_RUN_SECONDS))


def test_work_one_run_does_for_all_is_expected_once():
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)
    encode = {"test-set vectors": 6.0}  # of each frozen run's 7 s, 6 s encode texts they all share
    runs = [scheduler.submit(who, "frozen", 7, chain=who, group="frozen", shared=encode) for who in "abc"]
    forecast = scheduler.forecast()
    assert [forecast[t.id].end - forecast[t.id].start for t in runs] == pytest.approx([7, 1, 1])
    clock.now += 7
    scheduler.release(runs[0])
    assert scheduler.expected_seconds(runs[1]) == pytest.approx(1)  # not calibrated down: 7 s was as planned
    scheduler.withdraw([runs[2]])
    scheduler.release(runs[1], completed=False)  # cancelled: the vectors it was to reuse are still there
    later = scheduler.submit("d", "frozen", 7, chain="d", group="frozen", shared=encode)
    assert scheduler.expected_seconds(later) == pytest.approx(1)


def test_a_run_started_beside_the_one_doing_the_shared_work_is_expected_to_end_after_it():
    """Two places: the second frozen run starts while the first encodes the texts they share, and waits
    for those vectors (core.features). Its wait is not taken for a slow machine."""
    clock = Clock()
    scheduler = Scheduler(slots=2, short_slots=0, clock=clock)
    encode = {"test-set vectors": 6.0}
    first, second, third = (scheduler.submit(who, "frozen", 7, chain=who, group="frozen", shared=encode)
                            for who in "abc")
    assert first.state == second.state == "running" and third.state == "waiting"
    forecast = scheduler.forecast()
    assert forecast[first.id].end == pytest.approx(1007)
    assert forecast[second.id].end == pytest.approx(1007)  # not 1001: the vectors come at 1007
    assert forecast[third.id].start == pytest.approx(1007) and forecast[third.id].end == pytest.approx(1008)
    clock.now += 5  # the second has crawled 5 s where it expected 1: it is waiting, not slow
    forecast = scheduler.forecast()
    assert forecast[second.id].end == pytest.approx(1007)
    assert forecast[third.id].end - forecast[third.id].start == pytest.approx(1)


def test_a_cancelled_run_leaves_its_shared_work_to_the_next():
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)
    encode = {"test-set vectors": 6.0}
    first = scheduler.submit("a", "frozen", 7, chain="a", group="frozen", shared=encode)
    second = scheduler.submit("b", "frozen", 7, chain="b", group="frozen", shared=encode)
    assert scheduler.expected_seconds(second) == pytest.approx(1)
    clock.now += 2
    scheduler.release(first, completed=False)  # cancelled while encoding: nothing was kept
    assert scheduler.expected_seconds(second) == pytest.approx(7)
    assert running(scheduler) == ["frozen"] and second.state == "running"


def test_the_order_forecast_holds_when_runs_take_longer_than_planned():
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)
    tickets = [scheduler.submit(who, f"{who}{i}", 10, chain=who, group="frozen") for who in "ab" for i in range(3)]
    places = {ticket_id: forecast.place for ticket_id, forecast in scheduler.forecast().items()}
    forecast_order = [t.label for t in sorted(tickets, key=lambda t: places[t.id])]
    started = []
    for seconds in (30, 10, 10, 10, 10, 10):  # the first run is slow (the class's start), then as planned
        ticket = next(t for t in scheduler.tickets() if t.state == "running")
        started.append(ticket.label)
        clock.now += seconds
        scheduler.release(ticket)
    # A session's share grows by what its runs were expected to take when queued, not by estimates that
    # changed while they waited, so the queue keeps the order it showed.
    assert started == forecast_order == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_a_waiting_ticket_keeps_the_forecasts_its_session_was_shown():
    clock = Clock()
    scheduler = Scheduler(slots=1, short_slots=0, clock=clock)
    first = scheduler.submit("alice", "a0", 100, chain="a")
    waiting = scheduler.submit("bob", "b0", 50, chain="b")
    for _ in range(4):  # pages ask every 2 s; one forecast is kept every SHOWN_EVERY seconds
        scheduler.forecast()
        clock.now += 2
    assert [round(at - 1000) for at, *_ in waiting.shown] == [0, 6]
    at, start, end, place = waiting.shown[-1]
    assert (start, end, place) == (pytest.approx(1100), pytest.approx(1150), 1)
    assert first.shown == []  # running work has no wait to forecast
    scheduler.release(first)
    scheduler.forecast()
    assert len(waiting.shown) == 2  # it runs now: nothing more is kept


def test_a_run_that_would_not_fit_in_memory_is_refused_before_it_starts(tiny_splits, tiny_model_dir):
    from core.training import estimate_run_bytes

    small = RunConfig(strategy="full", model=str(tiny_model_dir), batch_size=8, max_length=32)
    huge = small.replace(batch_size=4096, max_length=8192)
    assert estimate_run_bytes(huge, tiny_splits) > 100 * estimate_run_bytes(small, tiny_splits)
    scheduler = Scheduler(slots=1, memory_bytes=4 * 2**30)
    with pytest.raises(LimitError, match="GB of memory, more than the 4.0 GB this server allows"):
        Job([small, huge], tiny_splits, None, scheduler=scheduler,
            memory=[estimate_run_bytes(c, tiny_splits) for c in (small, huge)])
    assert scheduler.tickets() == []  # nothing of the refused job stays in line


def test_on_a_gpu_server_the_memory_bound_is_the_gpus_memory(monkeypatch):
    from types import SimpleNamespace

    import torch

    from core import lab_settings

    host = lab_settings.default_memory_bytes()  # this machine: 70% of its RAM, no GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: SimpleNamespace(total_memory=8 * 2**30))
    assert lab_settings.default_memory_bytes() == min(host, int(0.9 * 8 * 2**30))
    assert LabSettings().memory_bytes == lab_settings.default_memory_bytes()
    assert LabSettings(memory_gb=2).memory_bytes == 2 * 2**30  # a setting still wins
