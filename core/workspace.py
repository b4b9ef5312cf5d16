"""Where a class server keeps runs: one private folder per browser session, one published folder
for everyone, and the rules that keep a term of classes from filling the disk.

    <runs root>/sessions/<session id>/<run id>/   a session's own runs (nobody else lists them)
    <runs root>/published/<run id>/               runs a session published (everyone sees them;
                                                  published.json says who published them)

Session ids are random hex strings (ui.state); they are checked before they become a path, and a
published run records only a hash of its publisher's id.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import LabError
from core.saved_runs import SavedRun, saved_runs_in
from core.store import PARTIAL_PREFIX, write_json

SESSIONS = "sessions"
PUBLISHED = "published"
PUBLISHED_FILE = "published.json"
_SESSION_ID = re.compile(r"[0-9a-f]{12,64}")


class NotYours(LabError):
    """A session tried to change a run it does not own."""


def valid_session_id(text) -> bool:
    """Whether `text` can be a session id (lowercase hex, 12 to 64 characters): nothing else becomes a path."""
    return isinstance(text, str) and _SESSION_ID.fullmatch(text) is not None


def session_root(root: Path, session: str) -> Path:
    """The private folder of one session."""
    if not valid_session_id(session):
        raise ValueError(f"Not a session id: {session!r}")
    return Path(root) / SESSIONS / session


def published_root(root: Path) -> Path:
    return Path(root) / PUBLISHED


def owner_tag(session: str) -> str:
    """What a published run stores about its publisher: a hash, so the session id itself never leaks."""
    return hashlib.sha256(session.encode()).hexdigest()[:16]


def own_runs(root: Path, session: str) -> list[SavedRun]:
    """A session's private runs, oldest first."""
    return sorted(saved_runs_in(session_root(root, session)), key=lambda run: run.folder.name)


def published_runs(root: Path) -> list[SavedRun]:
    """Every published run, newest first."""
    return saved_runs_in(published_root(root))


@dataclass(frozen=True)
class Publication:
    """Who published a run (a hash), under which title, and when (UTC, 'YYYY-MM-DD HH:MM')."""

    owner: str
    title: str
    at: str


def publication(run_folder: Path) -> Publication | None:
    """The publication record of a published run, or None."""
    try:
        data = json.loads((Path(run_folder) / PUBLISHED_FILE).read_text())
        return Publication(str(data["owner"]), str(data.get("title", "")), str(data.get("at", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def publish(root: Path, session: str, run_folders: list[Path], title: str) -> list[Path]:
    """Copy some of a session's own runs into the published folder under one title; returns the copies.

    The session keeps its private runs; the copies are read-only for everyone else."""
    own = session_root(root, session).resolve()
    title = " ".join(str(title).split())[:80] or "Published comparison"
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    copies = []
    for folder in run_folders:
        folder = Path(folder)
        if folder.resolve().parent != own:
            raise NotYours("Only this session's own runs can be published.")
        target = published_root(root) / folder.name
        if target.exists():  # published before: publishing again changes nothing
            copies.append(target)
            continue
        partial = target.parent / f"{PARTIAL_PREFIX}{folder.name}"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(folder, partial)
        write_json(partial / PUBLISHED_FILE, {"owner": owner_tag(session), "title": title, "at": stamp})
        partial.rename(target)
        copies.append(target)
    return copies


def may_change(root: Path, session: str, run_folder: Path) -> bool:
    """A session may rename or delete its own runs and the runs it published, nothing else."""
    folder = Path(run_folder).resolve()
    if folder.parent == session_root(root, session).resolve():
        return True
    record = publication(folder)
    return folder.parent == published_root(root).resolve() and record is not None \
        and record.owner == owner_tag(session)


def delete_run(root: Path, session: str, run_folder: Path) -> None:
    """Delete a run the session may change (NotYours otherwise)."""
    if not may_change(root, session, run_folder):
        raise NotYours("This run belongs to someone else: it can be read, not deleted.")
    shutil.rmtree(run_folder)


def clear_session(root: Path, session: str) -> int:
    """Delete every private run of a session (published copies stay); returns how many."""
    runs = own_runs(root, session)
    for run in runs:
        shutil.rmtree(run.folder, ignore_errors=True)
    return len(runs)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())


def clean(root: Path, keep_days: float, max_bytes: int, now: float | None = None) -> list[Path]:
    """Remove unpublished runs older than `keep_days`, then the oldest unpublished runs until the runs
    folder is under `max_bytes`; published runs are only ever removed by their publisher. Returns what went."""
    now = time.time() if now is None else now
    sessions = Path(root) / SESSIONS
    if not sessions.is_dir():
        return []
    private = sorted((run for session in sessions.iterdir() if session.is_dir() for run in session.iterdir()
                      if run.is_dir() and not run.name.startswith(".")), key=lambda run: run.stat().st_mtime)
    removed = [run for run in private if now - run.stat().st_mtime > keep_days * 86400]
    kept = [run for run in private if run not in removed]
    total = folder_bytes(root) - sum(folder_bytes(run) for run in removed)
    while kept and total > max_bytes:
        oldest = kept.pop(0)
        total -= folder_bytes(oldest)
        removed.append(oldest)
    for run in removed:
        shutil.rmtree(run, ignore_errors=True)
    return removed
