"""Lessons by link: a dashboard setup (data choice and sizes, strategies, encoder, hyperparameters,
which controls students do not see) as short query parameters, and back.

Parameter names are the command line's flags without the dashes (`data`, `n-train`, `lr`, `epochs`,
`max-length`, ...) plus `strategies` and `hide`, and a link holds only what differs from the
defaults: the default setup is the bare address. Every value is checked against the choices and
ranges the app itself uses (the strategy registry, `RunConfig`'s own validation, the synthetic
generator's difficulties); what cannot be used is left at its default and said in words. An
uploaded file cannot be in a link (it lives in one person's browser session, not on the server),
nor can a local folder as the encoder: a link names a bundled or synthetic source and a Hugging
Face model id.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import quote, urlencode

from core.cli import HYPERPARAMETERS
from core.config import RunConfig
from core.errors import ConfigError
from core.models import DEFAULT_MODEL
from core.sources import BUNDLED
from core.strategies import DEFAULT_STRATEGIES, STRATEGIES
from core.synthetic import DIFFICULTIES

SOURCES = (*BUNDLED, "synthetic")  # what a link may name; uploads cannot be in a link
DEFAULT_SOURCE = "rotten_tomatoes"
SYNTHETIC_SIZES = (4, 100_000)  # the Data page's range for "Number of reviews" (the generator needs 4)
LABEL_NOISE_STEP = 0.05  # the Data page's slider: 0 to 0.45 in steps of 0.05 (the generator refuses 0.5)
LABEL_NOISE_MAX = 0.45
MAX_SPLIT = SYNTHETIC_SIZES[1]  # no source a link can name has more rows; the split itself checks the real count
HIDEABLE = {"data": "the data choice and sizes", "strategies": "the strategies", "encoder": "the encoder",
            "hyperparameters": "the hyperparameters"}
STREAMLIT_PARAMS = ("embed", "embed_options")  # Streamlit's own; not ours to judge
LINK_MARK = "lesson"  # every link carries lesson=1: even the default setup then opens on the Train page
MAX_PARAMS = 64  # a link with more parameters than the app has settings is not a lesson
MAX_VALUE_CHARS = 200
SHOWN_CHARS = 40  # a tampered value is quoted only this far in the sentence

FLAGS = {flag.lstrip("-"): (name, kind) for flag, (name, kind, _) in HYPERPARAMETERS.items()}
FIELD_FLAGS = {name: flag for flag, (name, _) in FLAGS.items()}
SIZE_PARAMS = {"n-train": "n_train", "n-val": "n_val", "n-test": "n_test"}
SYNTHETIC_PARAMS = {"synthetic-size": "synthetic_size", "difficulty": "difficulty", "label-noise": "label_noise"}
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
_TEXT = re.compile(r"[A-Za-z0-9_.,/-]+")  # free-text settings (LoRA targets): module names and commas only
_INTEGER = re.compile(r"[+-]?\d{1,12}")
_NUMBER = re.compile(r"[+-]?(\d{1,12}(\.\d{0,20})?|\.\d{1,20})([eE][+-]?\d{1,3})?")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class DataChoice:
    """Labelled texts that need no upload: a bundled set or synthetic reviews, and the split sizes.

    `n_train` / `n_test` None mean the Data page's defaults for this data (they depend on its size);
    `n_val` 0 means 20% of the training size."""

    source: str = DEFAULT_SOURCE
    n_train: int | None = None
    n_val: int = 0
    n_test: int | None = None
    synthetic_size: int = 2000
    difficulty: str = "medium"
    label_noise: float = 0.0


@dataclass(frozen=True)
class Lesson:
    """A setup anyone can open: data, strategies, the config (encoder and hyperparameters; its
    strategy field is unused) and the controls hidden from students (keys of HIDEABLE)."""

    data: DataChoice = field(default_factory=DataChoice)
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    config: RunConfig = field(default_factory=RunConfig)
    hidden: tuple[str, ...] = ()

    def __post_init__(self):  # one spelling per lesson: tuples, hidden groups in HIDEABLE's order
        object.__setattr__(self, "strategies", tuple(self.strategies))
        object.__setattr__(self, "hidden", tuple(group for group in HIDEABLE if group in self.hidden))


class _Ignored(ValueError):
    """A parameter value that cannot be used; the message says why, in a few words."""


def to_query(lesson: Lesson) -> dict[str, str]:
    """The query parameters that open `lesson`: only values that differ from the defaults, in a fixed order."""
    params: dict[str, str] = {}
    data, plain = lesson.data, DataChoice()
    if data.source != plain.source:
        params["data"] = data.source
    for name, attribute in SIZE_PARAMS.items():
        if getattr(data, attribute) != getattr(plain, attribute):
            params[name] = str(getattr(data, attribute))
    if data.source == "synthetic":
        for name, attribute in SYNTHETIC_PARAMS.items():
            if getattr(data, attribute) != getattr(plain, attribute):
                params[name] = _text(getattr(data, attribute))
    if tuple(lesson.strategies) != DEFAULT_STRATEGIES:
        params["strategies"] = ",".join(lesson.strategies)
    defaults = RunConfig()
    for name, (attribute, _) in FLAGS.items():
        value = getattr(lesson.config, attribute)
        if value != getattr(defaults, attribute):
            params[name] = _text(value)
    if lesson.hidden:
        params["hide"] = ",".join(lesson.hidden)
    return params


def link_query(lesson: Lesson) -> str:
    """The query string of a link to `lesson`: the mark, then the values that differ from the defaults."""
    return urlencode({LINK_MARK: "1", **to_query(lesson)}, safe=",/", quote_via=quote)


def from_query(params: Mapping[str, str]) -> tuple[Lesson, list[str]]:
    """The lesson a link's query parameters describe, and what was ignored, each as 'name=value (why)'.

    Never raises: a value that is malformed, out of range or unknown is left at its default; an
    unknown parameter is ignored. `ignored_sentence` turns the list into one sentence."""
    ignored: list[str] = []
    data_values: dict = {}
    config_values: dict = {}
    strategies, hidden = DEFAULT_STRATEGIES, ()
    items = list(params.items())
    if len(items) > MAX_PARAMS:
        ignored.append(f"{len(items) - MAX_PARAMS} parameters beyond the first {MAX_PARAMS}")
        items = items[:MAX_PARAMS]
    for name, raw in items:
        name, raw = str(name), str(raw)
        if name in STREAMLIT_PARAMS or name == LINK_MARK:
            continue
        try:
            if len(raw) > MAX_VALUE_CHARS:
                raise _Ignored(f"longer than {MAX_VALUE_CHARS} characters")
            value = raw.strip()
            if name == "data":
                data_values["source"] = _source(value)
            elif name in SIZE_PARAMS:
                data_values[SIZE_PARAMS[name]] = _whole(value, 0, MAX_SPLIT)
            elif name in SYNTHETIC_PARAMS:
                data_values[SYNTHETIC_PARAMS[name]] = _synthetic(name, value)
            elif name == "strategies":
                strategies = _names(value, STRATEGIES, "strategy")
            elif name == "hide":
                hidden = _names(value, HIDEABLE, "control that can be hidden")
            elif name in FLAGS:
                attribute, kind = FLAGS[name]
                config_values[attribute] = _setting(attribute, kind, value)
            else:
                raise _Ignored("not a setting of this app")
        except _Ignored as why:
            ignored.append(f"{_quoted(name, 30)}={_quoted(raw, SHOWN_CHARS)} ({why})")
    source = data_values.get("source", DEFAULT_SOURCE)
    if source != "synthetic":
        extra = [name for name, attribute in SYNTHETIC_PARAMS.items() if attribute in data_values]
        for name in extra:
            ignored.append(f"{name} (only for data=synthetic)")
            data_values.pop(SYNTHETIC_PARAMS[name])
    try:
        config = RunConfig(**config_values)
    except ConfigError as exc:  # each value passed alone; a combination RunConfig refuses leaves them all out
        ignored.append(f"the hyperparameters together ({str(exc).rstrip('.')})")
        config = RunConfig()
    lesson = Lesson(DataChoice(**data_values), strategies, config, hidden)
    return lesson, ignored


def ignored_sentence(ignored: list[str]) -> str:
    """One sentence for people: what a link held that could not be used ('' when nothing)."""
    if not ignored:
        return ""
    return "Ignored from this lesson link, the defaults are used instead: " + "; ".join(ignored) + "."


def model_problem(model: str) -> str | None:
    """Why `model` cannot be in a link (None when it can): links name Hugging Face ids, never folders."""
    if model == DEFAULT_MODEL:
        return None
    if len(model) > 96 or ".." in model or not _HUB_ID.fullmatch(model):
        return "not a Hugging Face model id; a link cannot name a local folder"
    return None


def without_unlinkable(lesson: Lesson) -> tuple[Lesson, list[str]]:
    """`lesson` with what a link cannot hold set to its default, and what that was, in words."""
    notes = []
    if lesson.data.source not in SOURCES:
        notes.append("an uploaded file cannot be in a link, so the link opens the default data "
                     f"({DEFAULT_SOURCE.replace('_', ' ').title()})")
        lesson = dataclasses.replace(lesson, data=DataChoice())
    if model_problem(lesson.config.model):
        notes.append("the encoder is not a Hugging Face model id (a local folder cannot be in a link), "
                     "so the link opens the default encoder")
        lesson = dataclasses.replace(lesson, config=lesson.config.replace(model=DEFAULT_MODEL))
    return lesson, notes


def _source(value: str) -> str:
    if value not in SOURCES:
        raise _Ignored(f"not one of {', '.join(SOURCES)}; an uploaded file cannot be in a link")
    return value


def _synthetic(name: str, value: str):
    if name == "difficulty":
        if value not in DIFFICULTIES:
            raise _Ignored(f"not one of {', '.join(DIFFICULTIES)}")
        return value
    if name == "synthetic-size":
        return _whole(value, *SYNTHETIC_SIZES)
    noise = _number(value)
    steps = noise / LABEL_NOISE_STEP
    if not 0 <= noise <= LABEL_NOISE_MAX or abs(steps - round(steps)) > 1e-6:
        raise _Ignored(f"must be 0 to {LABEL_NOISE_MAX} in steps of {LABEL_NOISE_STEP}")
    return round(round(steps) * LABEL_NOISE_STEP, 2)


def _names(value: str, known, what: str) -> tuple[str, ...]:
    """Comma-separated names, each one of `known`, each once; an unknown one rejects the whole value."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        shown = ", ".join(_quoted(name, 20) for name in unknown[:3])
        raise _Ignored(f"not a {what}: {shown}" if unknown else "empty")
    return tuple(dict.fromkeys(names))


def _setting(attribute: str, kind, value: str):
    """One RunConfig field from text, validated by RunConfig itself."""
    if kind is bool:
        if value.lower() not in _TRUE + _FALSE:
            raise _Ignored("must be true or false")
        parsed = value.lower() in _TRUE
    elif kind is int:
        if not _INTEGER.fullmatch(value):
            raise _Ignored("must be a whole number")
        parsed = int(value)
    elif kind is float:
        parsed = _number(value)
    elif attribute == "model":
        if problem := model_problem(value):
            raise _Ignored(problem)
        parsed = value
    else:
        if not _TEXT.fullmatch(value):
            raise _Ignored("may hold only letters, digits, commas and . _ / -")
        parsed = value
    try:
        RunConfig(**{attribute: parsed})
    except ConfigError as exc:
        message = str(exc).rstrip(".")
        raise _Ignored(message[message.index(" must ") + 1:] if " must " in message else message) from None
    return parsed


def _whole(value: str, low: int, high: int) -> int:
    if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
        raise _Ignored(f"must be a whole number from {low:,} to {high:,}")
    return int(value)


def _number(value: str) -> float:
    if not _NUMBER.fullmatch(value) or not math.isfinite(float(value)):
        raise _Ignored("not a number")
    return float(value)


def _text(value) -> str:
    """A value as a link shows it: true/false, the shortest exact form of a number."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def _quoted(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
