"""RunResult: what one run produced, in the shape `results.json` stores."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class RunResult:
    """Outcome of one strategy on one data split. `status` is finished, failed or cancelled."""

    strategy: str
    status: str = "finished"
    name: str = ""  # what the user called the run (empty: its strategy id names it)
    reason: str = ""  # why it failed or was cancelled; for a finished run, what it had to change
    model: str = ""
    task: str = "classification"  # of the first target; "regression" fills the test_mae/rmse/r2 fields
    test_accuracy: float | None = None
    macro_f1: float | None = None
    test_mae: float | None = None
    test_rmse: float | None = None
    test_r2: float | None = None
    test_score: float | None = None  # accuracy, R², or their mean over several targets (multi-task)
    score_name: str = "accuracy"
    targets: list = field(default_factory=list)  # held-out metrics per target (name, kind, metrics)
    per_class: list = field(default_factory=list)
    confusion_matrix: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    history: list = field(default_factory=list)  # one dict per epoch
    best_epoch: int | None = None
    train_seconds: float = 0.0
    predict_seconds: float = 0.0
    trainable_params: int = 0
    total_params: int = 0
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    model_dir: str | None = None
    config: dict = field(default_factory=dict)

    @property
    def percent_trainable(self) -> float:
        """Share of parameters that train, in percent."""
        return 100.0 * self.trainable_params / self.total_params if self.total_params else 0.0

    @property
    def ok(self) -> bool:
        return self.status == "finished"

    def set_metrics(self, metrics: list[dict], score: float, score_name: str) -> None:
        """Fill the test fields from per-target metrics (core.tasks.metrics); the first target is the main one."""
        self.targets = metrics
        first = metrics[0]
        self.task = first["kind"]
        if first["kind"] == "classification":
            self.test_accuracy, self.macro_f1 = first["accuracy"], first["macro_f1"]
            self.per_class, self.confusion_matrix = first["per_class"], first["confusion_matrix"]
        else:
            self.test_mae, self.test_rmse, self.test_r2 = first["mae"], first["rmse"], first["r2"]
        self.test_score, self.score_name = score, score_name

    @property
    def score(self) -> float | None:
        """The held-out number runs are ranked by: accuracy, R², or their mean over several targets
        (runs saved before `test_score` existed stored only accuracy)."""
        return self.test_score if self.test_score is not None else self.test_accuracy

    @property
    def headline(self) -> str:
        """The run's main held-out number in words: 'accuracy 0.812' or 'R² 0.41 (MAE 0.62)'."""
        if not self.ok:
            return self.status
        if self.task == "regression" and len(self.targets) <= 1:
            return f"R² {self.test_r2:.3f} (MAE {self.test_mae:.3g})"
        return f"{self.score_name} {self.score:.3f}"

    def to_dict(self) -> dict:
        """Plain-JSON form (adds `percent_trainable`)."""
        out = dataclasses.asdict(self)
        out["percent_trainable"] = self.percent_trainable
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "RunResult":
        """Rebuild from `to_dict` output, ignoring derived or unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def epoch_score(entry: dict, split: str) -> float:
    """An epoch's `split` (train / val) score from a run's history or live progress; runs saved
    before scores had names stored accuracy."""
    return entry.get(f"{split}_score", entry.get(f"{split}_accuracy"))


def score_name_of(entries) -> str:
    """What the epochs' score measures (accuracy unless they say otherwise)."""
    return next((e["score_name"] for e in entries if e.get("score_name")), "accuracy")


def differing_settings(configs: dict[str, dict], ignore=("strategy",)) -> dict[str, str]:
    """For runs' configs by name, the settings where each run differs from the others, in words
    ('lr_finetune=0.0001, epochs=3'); '' where nothing differs. Settings missing in a config count as
    differing only if another run has them."""
    keys = sorted({key for config in configs.values() for key in config} - set(ignore))
    varying = [key for key in keys if len({repr(config.get(key)) for config in configs.values()}) > 1]
    return {name: ", ".join(f"{key}={config.get(key)}" for key in varying) for name, config in configs.items()}
