"""Test data and helpers shared by several test files (test files never import each other)."""

from __future__ import annotations

import random

POSITIVE = ["a wonderful, moving film", "great acting and a clever plot", "I loved every minute",
            "brilliant and funny", "a joy to watch", "superb direction, great cast",
            "touching and beautifully shot", "fantastic fun from start to end"]
NEGATIVE = ["a dull, lifeless film", "terrible acting and a silly plot", "I hated every minute",
            "boring and predictable", "a chore to sit through", "awful direction, weak cast",
            "clumsy and badly shot", "a waste of time from start to end"]


def make_texts(n_per_class: int, seed: int = 0):
    """Labelled toy sentences: (texts, labels) with labels 0 = negative, 1 = positive."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n_per_class):
        texts.append(f"{rng.choice(POSITIVE)} number {i}")
        labels.append(1)
        texts.append(f"{rng.choice(NEGATIVE)} number {i}")
        labels.append(0)
    return texts, labels


GOOD, BAD, FILLER = ["great", "superb", "lovely"], ["awful", "dull", "boring"], ["film", "plot", "cast", "story"]


def rated_rows(n: int, seed: int = 0) -> list[dict]:
    """Toy reviews whose score is (good words - bad words) on a 1..9 scale, and a topic label."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        good, bad = rng.randint(0, 4), rng.randint(0, 4)
        words = rng.sample(GOOD * 2, good) + rng.sample(BAD * 2, bad) + rng.sample(FILLER, 2)
        rng.shuffle(words)
        topic = "music" if i % 2 else "acting"
        rows.append({"review": f"{' '.join(words)} {topic}", "score": 5 + good - bad + rng.uniform(-0.3, 0.3),
                     "topic": topic, "sentiment": "pos" if good >= bad else "neg"})
    return rows


def wait_for_first_step(job, seconds: float) -> None:
    """Poll a core.jobs.Job until its first training step was logged (or `seconds` passed)."""
    import time

    from core import events as ev

    deadline = time.time() + seconds
    while not any(isinstance(e.event, ev.StepLogged) for e in job.events_since(0)) and time.time() < deadline:
        time.sleep(0.05)
