"""Live progress of a job's queue, folded from its event log: what the Train page redraws.

Pure functions over `core.jobs.JobEvent`s and `RunResult`s, so the page stays a thin drawing
script and the folding is tested without Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core import events as ev

@dataclass
class RunProgress:
    """Where one run of the queue stands, and the curves it has drawn so far."""

    index: int
    strategy: str
    status: str = "queued"
    reason: str = ""
    epochs: int = 0
    epoch: int = 0
    step: int = 0
    total_steps: int = 0
    elapsed_seconds: float = 0.0
    losses: list[tuple[int, float]] = field(default_factory=list)  # (optimizer step, training loss)
    epoch_metrics: list[dict] = field(default_factory=list)  # epoch, train/val loss and score
    headline: str = ""  # the finished run's held-out result in words (RunResult.headline)
    train_seconds: float | None = None

    @property
    def fraction(self) -> float:
        """Share of the run's optimizer steps done, 0..1 (1 once it finished)."""
        if self.status == "finished":
            return 1.0
        return min(self.step / self.total_steps, 1.0) if self.total_steps else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left for this run at the pace of its steps so far; None before the first step."""
        if self.status != "running" or not self.step or not self.total_steps:
            return None
        return self.elapsed_seconds / self.step * max(self.total_steps - self.step, 0)


def _apply(run: RunProgress, event) -> None:
    """Update one run with one training event."""
    if isinstance(event, ev.RunStarted):  # also a restart (smaller batch after running out of memory)
        run.status, run.epochs, run.total_steps = "running", event.epochs, event.total_steps
        run.step, run.losses, run.epoch_metrics = 0, [], []
    elif isinstance(event, ev.EpochStarted):
        run.status, run.epoch = "running", event.epoch
    elif isinstance(event, ev.StepLogged):
        run.status, run.epoch, run.step = "running", event.epoch, event.step
        run.total_steps, run.elapsed_seconds = event.total_steps, event.elapsed_seconds
        run.losses.append((event.step, event.loss))
    elif isinstance(event, ev.EpochEvaluated):
        run.epoch_metrics.append({"epoch": event.epoch, "train_loss": event.train_loss,
                                  "train_score": event.train_score, "val_loss": event.val_loss,
                                  "val_score": event.val_score, "score_name": event.score_name})
    elif isinstance(event, ev.RunFailed):
        run.status, run.reason = "failed", event.reason
    elif isinstance(event, ev.RunCancelled):
        run.status = "cancelled"
    elif isinstance(event, ev.RunFinished):
        run.status = "finished"


def fold_progress(strategies: list[str], job_events, results, job_status: str = "running") -> list[RunProgress]:
    """One RunProgress per queued strategy, from the job's events and its (live) results list.

    `results[i]` belongs to `strategies[i]` (the queue appends one result per run, in order), and
    it is the final word on status. When the job itself ended (cancelled or crashed), runs it never
    reached take the job's status.
    """
    runs = [RunProgress(index, strategy) for index, strategy in enumerate(strategies)]
    for job_event in job_events:
        if 0 <= job_event.run_index < len(runs):
            _apply(runs[job_event.run_index], job_event.event)
    for run, result in zip(runs, list(results)):
        run.status, run.reason = result.status, result.reason or run.reason
        run.train_seconds, run.headline = result.train_seconds, result.headline
    if job_status in ("cancelled", "failed"):
        for run in runs:
            if run.status in ("queued", "running"):
                run.status = job_status
    return runs


@dataclass(frozen=True)
class Position:
    """Where a background job stands: run k of n, what trains now, and the share done."""

    index: int  # the run training now, 0-based
    total: int
    now: str  # what trains now, in words ("full", or "frozen, 10 examples, seed 1 of 3")
    fraction: float  # 0..1, for the progress bar
    detail: str = ""  # said after `now`, e.g. " (40%, about 1 min 05 s left)"

    def words(self, bold: bool = False) -> str:
        """'Run 1 of 2: full (40%, about 12 s left)'; `bold` puts what trains now in markdown bold."""
        now = f"**{self.now}**" if bold else self.now
        return f"Run {min(self.index + 1, self.total)} of {self.total}" + (f": {now}{self.detail}" if now else "")


def queue_position(job) -> Position:
    """The position of a `core.jobs.Job`: its current run and that run's share of steps done."""
    runs = progress_of(job)
    current = runs[min(job.current_index, len(runs) - 1)]
    eta = f", about {format_seconds(current.eta_seconds)} left" if current.eta_seconds is not None else ""
    return Position(current.index, len(runs), current.strategy, current.fraction, f" ({current.fraction:.0%}{eta})")


def format_seconds(seconds: float | None) -> str:
    """A duration for people: '0.4 s', '42 s', '3 min 05 s', '1 h 02 min'; '?' when unknown."""
    if seconds is None:
        return "?"
    if seconds < 10:
        return f"{max(seconds, 0):.1f} s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_of(job) -> list[RunProgress]:
    """The progress of every run in a `core.jobs.Job` (safe to call while its thread runs)."""
    return fold_progress([config.strategy for config in job.configs], job.events_since(0),
                         list(job.results), job.status)
