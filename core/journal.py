"""Work that was queued or training when the server stopped: written when a job starts, removed
when it ends, so whatever is left at the next start was interrupted and can be queued again.

    <session folder>/.pending/<job id>/job.json     what to run (configs or the sweep plan), the data description
    <session folder>/.pending/<job id>/splits.json  the exact texts and labels (the upload may be gone)

Everything is JSON: nothing is unpickled when the server reads it back.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.store import write_json
from core.texts import LabeledTexts, Splits

PENDING = ".pending"


def splits_to_dict(splits: Splits) -> dict:
    return {"train": dataclasses.asdict(splits.train), "val": dataclasses.asdict(splits.val),
            "test": dataclasses.asdict(splits.test), "unlabelled": list(splits.unlabelled)}


def _texts(data: dict) -> LabeledTexts:
    return LabeledTexts(**{**data, "others": tuple(_texts(other) for other in data.get("others", ()))})


def splits_from_dict(data: dict) -> Splits:
    return Splits(_texts(data["train"]), _texts(data["val"]), _texts(data["test"]), tuple(data.get("unlabelled", ())))


@dataclass(frozen=True)
class Pending:
    """One job read back from the journal: its id, what it was (`kind`: compare or sweep) and its plan."""

    folder: Path
    job_id: str
    kind: str
    plan: dict  # compare: {"configs": [...]}; sweep: {"base", "strategies", "setting", "values", "seeds", "n_train"}
    data_info: dict

    def splits(self) -> Splits:
        return splits_from_dict(json.loads((self.folder / "splits.json").read_text()))

    @property
    def words(self) -> str:
        """'full, frozen, tfidf on Rotten Tomatoes (...)' for the page."""
        what = ", ".join(config["strategy"] for config in self.plan.get("configs", [])) if self.kind == "compare" \
            else f"a sweep of {', '.join(self.plan.get('strategies', []))} over {self.plan.get('setting', '')}"
        return f"{what} on {self.data_info.get('description') or self.data_info.get('data', 'your data')}"


def record(session_folder: Path, job_id: str, kind: str, plan: dict, data_info: dict, splits: Splits) -> Path:
    """Write a job's entry (splits first, so an entry with a job.json is always complete)."""
    folder = Path(session_folder) / PENDING / job_id
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "splits.json", splits_to_dict(splits))
    write_json(folder / "job.json", {"job_id": job_id, "kind": kind, "plan": plan, "data": data_info})
    return folder


def remove(session_folder: Path, job_id: str) -> None:
    """The job ended (finished, cancelled or failed): it is not pending any more."""
    shutil.rmtree(Path(session_folder) / PENDING / job_id, ignore_errors=True)


def pending(session_folder: Path, live_ids=()) -> list[Pending]:
    """Entries of jobs that are not running in this process: interrupted by a restart or a crash."""
    found = []
    folder = Path(session_folder) / PENDING
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        if entry.name in live_ids:
            continue
        try:
            job = json.loads((entry / "job.json").read_text())
            found.append(Pending(entry, str(job["job_id"]), str(job["kind"]), dict(job["plan"]), dict(job["data"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half-written by a crash: nothing to offer
    return found
