"""Pools declare what more the loop may pass them (`PoolCapabilities`); the loop never reads
their signatures."""

from __future__ import annotations

import numpy as np

from sealsearch.active.loop import ActiveLoop
from sealsearch.active.members import ALL_CAPABILITIES, PoolCapabilities, capabilities_of
from sealsearch.active.pools import POOLS, AllPool, PoolOptions


class RecordingPool(AllPool):
    """An All pool that records the keywords it was passed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed: list[set[str]] = []

    def update(self, labeled_rows, labels=None, **given):
        self.passed.append(set(given))
        super().update(labeled_rows, labels, **given)

    def score_candidates(self, score, **given):
        self.passed.append(set(given))
        return super().score_candidates(score, **given)


def run_two_rounds(small_dataset, pool) -> list[set[str]]:
    loop = ActiveLoop(small_dataset.embeddings, pool, batch_size=5)
    rows = small_dataset.split_rows("pool")[:6]
    loop.tell(rows, np.array([1, 0, 0, 1, 0, 0]))
    loop.tell(loop.ask(), np.zeros(5, dtype=int))
    return pool.passed


def test_a_pool_gets_the_keywords_it_declares_and_no_others(small_dataset):
    rows = small_dataset.split_rows("pool")
    declared = RecordingPool(small_dataset.embeddings, rows)
    assert run_two_rounds(small_dataset, declared) == [{"vectors"}, {"n", "prune"}, {"vectors"}]

    class Undeclared(RecordingPool):
        capabilities = PoolCapabilities()  # signature still takes everything: declaration decides

    assert run_two_rounds(small_dataset, Undeclared(small_dataset.embeddings, rows)) == [set(), set(), set()]

    class OnlyTopN(RecordingPool):
        capabilities = PoolCapabilities(top_n=True)

    assert run_two_rounds(small_dataset, OnlyTopN(small_dataset.embeddings, rows)) == [set(), {"n"}, set()]


def test_every_built_in_pool_declares_all_and_a_bare_object_declares_none(small_dataset):
    options = PoolOptions(index=None)
    for name in ("all", "randpool"):
        assert (
            capabilities_of(POOLS[name].build(small_dataset.embeddings, small_dataset.split_rows("pool"), options))
            == ALL_CAPABILITIES
        )
    assert capabilities_of(object()) == PoolCapabilities()
