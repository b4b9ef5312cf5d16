"""A few end-to-end checks with the real bundled MiniLM and real reviews (offline, <= 64 reviews)."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import RunConfig
from core.models import DEFAULT_MODEL, load_encoder
from core.predict import load_predictor
from core.sources import load_source
from core.splits import make_splits
from core.store import save_run
from core.training import train

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def imdb_small():
    return make_splits(load_source("imdb"), n_train=64, n_val=16, n_test=32, seed=0)


def test_bundled_encoder_loads_offline_with_mean_pooling():
    bundle = load_encoder(DEFAULT_MODEL)
    assert bundle.pooling == "mean"
    assert bundle.max_positions == 512
    assert sum(p.numel() for p in bundle.encoder.parameters()) == pytest.approx(22.7e6, rel=0.01)


def test_frozen_and_full_on_real_reviews_and_reload(imdb_small, tmp_path):
    frozen = train(RunConfig(strategy="frozen", epochs=2, max_length=64), imdb_small)
    assert frozen.result.status == "finished", frozen.result.reason
    assert frozen.result.trainable_params == 384 * 2 + 2
    full = train(RunConfig(strategy="full", epochs=1, max_length=64), imdb_small)
    assert full.result.status == "finished", full.result.reason
    assert full.result.trainable_params == full.result.total_params
    save_run(tmp_path / "full", full.result, full.predictor)
    texts = list(imdb_small.test.texts[:8])
    np.testing.assert_allclose(full.predictor.predict_proba(texts),
                               load_predictor(tmp_path / "full").predict_proba(texts), atol=1e-5)
