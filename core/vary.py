"""What a sweep varies: one setting (training size, a learning rate, epochs, max length, ..., label
noise) over a list of values, and what one value changes in a run.

`lr` means each strategy's own base learning rate (the registry's `lr_field`); `label_noise` flips
that share of the *training* labels (seeded), so the test split stays clean; `n_train` is the
training size; any other name is a numeric RunConfig field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from core.config import RunConfig
from core.errors import LabError
from core.strategies import STRATEGIES
from core.texts import LabeledTexts

SIZE, LR, NOISE = "n_train", "lr", "label_noise"
# Values a person would try first, per setting (the dashboard pre-fills them).
EXAMPLES = {SIZE: "100, 300, 1000", LR: "1e-5, 5e-5, 1e-4", "epochs": "1, 2, 4", "max_length": "32, 64, 128",
            "top_k": "1, 2, 4", "lora_r": "2, 8, 32", "dropout": "0, 0.1, 0.3", NOISE: "0, 0.1, 0.3"}
TITLES = {SIZE: "training size", LR: "learning rate (each strategy's own)",
          NOISE: "label noise (share of training labels flipped)"}
_NOT_VARIED = ("seed",)  # seeds are the repetitions of every value


def _config_fields() -> dict[str, type]:
    """Numeric RunConfig fields a sweep may vary, with their types."""
    defaults = RunConfig()
    return {f.name: type(getattr(defaults, f.name)) for f in dataclasses.fields(RunConfig)
            if type(getattr(defaults, f.name)) in (int, float) and f.name not in _NOT_VARIED}


def settings() -> list[str]:
    """Every setting a sweep can vary: the ones with examples first, then the other numeric fields."""
    return [*EXAMPLES, *(name for name in _config_fields() if name not in EXAMPLES)]


@dataclass(frozen=True)
class Vary:
    """One setting and the values a sweep gives it (sorted, without repeats)."""

    setting: str
    values: tuple

    def __post_init__(self):
        kind = int if self.setting == SIZE else float if self.setting in (LR, NOISE) else _config_fields().get(
            self.setting)
        if kind is None:
            raise LabError(f"A sweep cannot vary '{self.setting}'; choose one of {', '.join(settings())}.")
        if not self.values:
            raise LabError(f"Give at least one value for {self.setting}.")
        if kind is int and any(float(v) != int(v) for v in self.values):
            raise LabError(f"{self.setting} takes whole numbers, got {', '.join(f'{v:g}' for v in self.values)}.")
        object.__setattr__(self, "values", tuple(sorted({kind(v) for v in self.values})))
        for value in self.values:
            self._check(value)

    def _check(self, value) -> None:
        if self.setting == SIZE and value < 1:
            raise LabError(f"Training sizes must be above 0, got {value}.")
        if self.setting == NOISE and not 0 <= value < 0.5:
            raise LabError(f"Label noise is a share of training labels from 0 to below 0.5, got {value:g}.")
        if self.setting == LR and not 0 < value <= 1:
            raise LabError(f"Learning rates must be above 0 and at most 1, got {value:g}.")
        if self.setting in _config_fields():
            RunConfig(**{self.setting: value})  # its ConfigError says what is allowed

    @property
    def is_size(self) -> bool:
        return self.setting == SIZE

    @property
    def title(self) -> str:
        """The setting in words, for axes and headings."""
        return self.title_of(self.setting)

    @staticmethod
    def title_of(setting: str) -> str:
        """A setting's name in words: 'learning rate (each strategy's own)', 'epochs', 'max length'."""
        return TITLES.get(setting, setting.replace("_", " "))

    @property
    def log_scale(self) -> bool:
        """Sizes and learning rates are compared on a log axis (their values span decades)."""
        return self.setting in (SIZE, LR) or self.setting.startswith("lr_")

    def words(self, value) -> str:
        """One value in words (see `value_words`)."""
        return value_words(self.setting, value)

    @property
    def axis_title(self) -> str:
        """The x-axis title of a sweep chart: 'training examples (log scale)', 'dropout'."""
        return ("training examples" if self.is_size else self.title) + (" (log scale)" if self.log_scale else "")

    def tick_texts(self, values) -> list[str]:
        """Axis labels for the values run: '1,000' for sizes, '5e-05' for rates, '0.1' otherwise."""
        return [f"{int(v):,}" if self.is_size else f"{v:g}" for v in values]

    def apply(self, value, config: RunConfig, train: LabeledTexts, seed: int) -> tuple[RunConfig, LabeledTexts]:
        """The run's config and training texts with this setting at `value` (size: already sampled)."""
        if self.setting == NOISE:
            return config, with_label_noise(train, value, seed)
        field = STRATEGIES[config.strategy].lr_field if self.setting == LR else self.setting
        if self.is_size or field is None:  # TF-IDF has no learning rate: it runs as it is
            return config, train
        return config.replace(**{field: value}), train


CLASSIC = Vary(SIZE, (100, 300, 1000))  # the data-size sweep: what charts of a sweep show by default


def value_words(setting: str, value) -> str:
    """One value of a setting in words: '1,000 training examples', 'learning rate 5e-05', '10% flipped labels'."""
    if setting == SIZE:
        return f"{int(value):,} training examples"
    if setting == NOISE:
        return f"{value:.0%} flipped labels"
    return f"{Vary.title_of(setting)} {value:g}"


def parse_vary(text: str) -> Vary:
    """'lr=1e-5,5e-5' -> Vary('lr', (1e-05, 5e-05)); a LabError says what is wrong."""
    setting, sep, values = text.partition("=")
    if not sep:
        raise LabError(f"Write what to vary as SETTING=V1,V2,... (e.g. lr=1e-5,5e-5), got '{text}'.")
    try:
        numbers = [float(part) for part in values.replace(" ", "").split(",") if part]
    except ValueError:
        raise LabError(f"The values of {setting.strip()} must be numbers separated by commas, got '{values}'.") from None
    return Vary(setting.strip(), tuple(numbers))


def with_label_noise(data: LabeledTexts, share: float, seed: int) -> LabeledTexts:
    """`data` with round(share x n) labels, chosen at random (seeded), changed to another class."""
    n_flip = round(share * len(data))
    if not n_flip:
        return data
    rng = np.random.default_rng(seed + 7919)  # not the sampling seed: which labels flip is its own draw
    labels = np.asarray(data.labels)
    rows = rng.choice(len(labels), n_flip, replace=False)
    shift = rng.integers(1, len(data.label_names), size=n_flip)  # any class but the true one
    labels[rows] = (labels[rows] + shift) % len(data.label_names)
    return dataclasses.replace(data, labels=tuple(int(label) for label in labels))
