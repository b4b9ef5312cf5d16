"""core.blas: a TF-IDF run's linear algebra on one BLAS thread, the process's limits put back after."""

from __future__ import annotations

import contextlib

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from core import trainers
from core.blas import one_blas_thread
from core.config import RunConfig
from core.training import train


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture(autouse=True)
def two_blas_threads():
    """Two threads to start from, whatever this machine's cores, so that one is a change."""
    with threadpool_limits(limits=2, user_api="blas"):
        assert set(blas_threads()) == {2}
        yield


def test_overlapping_uses_leave_the_limits_as_they_found_them():
    """Two uses that overlap without nesting (as two runs' would): the first to leave does not lift the
    limit, the last puts back what was there."""
    before = blas_threads()
    first, second = one_blas_thread(), one_blas_thread()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert set(blas_threads()) == {1}
    second.__exit__(None, None, None)
    assert blas_threads() == before


def test_a_tfidf_run_fits_on_one_blas_thread_and_the_result_is_unchanged(tiny_splits, monkeypatch):
    fitted_with = []
    fit = trainers._tfidf_model

    def spy(*args, **kwargs):
        fitted_with.extend(blas_threads())
        return fit(*args, **kwargs)

    before = blas_threads()
    monkeypatch.setattr(trainers, "_tfidf_model", spy)
    limited = train(RunConfig(strategy="tfidf"), tiny_splits).result
    assert fitted_with and set(fitted_with) == {1}
    assert blas_threads() == before
    monkeypatch.setattr(trainers, "one_blas_thread", contextlib.nullcontext)  # no limit: OpenBLAS's own threads
    unlimited = train(RunConfig(strategy="tfidf"), tiny_splits).result
    assert limited.test_accuracy == unlimited.test_accuracy and limited.macro_f1 == unlimited.macro_f1
