"""Saved runs across sessions: the dashboard saves each browser session's runs in its own folder
(`<runs root>/<session id>/<run id>/`), the CLI saves them straight under a root. This finds both."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.results import RunResult
from core.store import list_runs, read_data_info


@dataclass(frozen=True)
class SavedRun:
    """A finished run read back from disk, with the description of the data it was trained on."""

    folder: Path
    result: RunResult
    data_info: dict

    @property
    def saved_at(self) -> str:
        """'2025-11-27 03:10' from the folder name (<UTC time>-<strategy>-<random>), else ''."""
        try:
            stamp = time.strptime(self.folder.name[:15], "%Y%m%d-%H%M%S")
        except ValueError:
            return ""
        return time.strftime("%Y-%m-%d %H:%M", stamp)

    @property
    def label(self) -> str:
        """One line to pick the run by: strategy, held-out score, data, time (UTC)."""
        headline = self.result.headline  # saved runs are finished runs
        data = self.data_info.get("description") or self.data_info.get("data", "")
        parts = [self.result.strategy, headline, data, f"{self.saved_at} UTC" if self.saved_at else ""]
        return " · ".join(part for part in parts if part)


def find_saved_runs(root: Path) -> list[SavedRun]:
    """Finished runs saved under `root` or one folder below it, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = list_runs(root)
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found += list_runs(folder)
    return _finished(found)


def saved_runs_in(folder: Path) -> list[SavedRun]:
    """Finished runs directly inside `folder` (not below), newest first."""
    return _finished(list_runs(folder))


def _finished(found) -> list[SavedRun]:
    runs = [SavedRun(folder, result, read_data_info(folder)) for folder, result in found if result.ok]
    return sorted(runs, key=lambda run: run.folder.name, reverse=True)


def unique_names(names: list[str]) -> list[str]:
    """Names made distinct for charts and tables: a repeated 'tfidf' becomes 'tfidf #1', 'tfidf #2'."""
    totals, seen, out = Counter(names), Counter(), []
    for name in names:
        seen[name] += 1
        out.append(f"{name} #{seen[name]}" if totals[name] > 1 else name)
    return out
