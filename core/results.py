"""RunResult: what one run produced, in the shape `results.json` stores."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class RunResult:
    """Outcome of one strategy on one data split. `status` is finished, failed or cancelled."""

    strategy: str
    status: str = "finished"
    reason: str = ""
    model: str = ""
    test_accuracy: float | None = None
    macro_f1: float | None = None
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
