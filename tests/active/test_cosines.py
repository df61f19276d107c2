"""Cached cosine bounds (information density's pruning on the All pool) against exact cosines."""

from __future__ import annotations

import numpy as np

import sealsearch.data.scan
from sealsearch.active.cosines import CosineBounds
from sealsearch.active.fused import fused_row_function
from sealsearch.active.learner import default_learner
from sealsearch.active.pools import AllPool
from sealsearch.active.strategies import as_strategy, select_top


def exact_cosines(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float64)
    return vectors @ mean / np.linalg.norm(vectors, axis=1)


def test_bounds_hold_as_the_mean_moves_and_the_rows_are_read_once(small_dataset):
    store = small_dataset.embeddings
    rows = small_dataset.split_rows("pool")
    vectors = store.take(rows)
    bounds = CosineBounds(store, rows, renormalise=False)
    rng = np.random.default_rng(0)
    mean = vectors.astype(np.float64).mean(axis=0)
    largest = np.abs(exact_cosines(vectors, mean)).max()
    for step in (0.0, 0.01, 0.05, 0.2, 1.0):  # times the largest cosine: the last one renews the reference
        moved = mean + step * largest * rng.normal(size=mean.size) / np.sqrt(mean.size)
        row_bounds = bounds.bounds(moved, rows)
        got = row_bounds(0, rows.size)
        assert got.dtype == np.float32 and got.shape == rows.shape
        assert got.max() <= row_bounds.most  # the one number that cuts z for every block
        assert np.all(exact_cosines(vectors, moved) <= got), step
        assert bounds.passes == (2 if step == 1.0 else 1)


def test_information_density_on_the_all_pool_prunes_with_the_bounds_and_selects_the_same(small_dataset, monkeypatch):
    monkeypatch.setattr(sealsearch.data.scan, "BLOCK_BYTES", 64 * 16 * 4)  # 64-row blocks: many of them
    store = small_dataset.embeddings
    rows = small_dataset.split_rows("pool")
    positives = small_dataset.concept_rows("rare")
    pool = AllPool(store, rows)
    rng = np.random.default_rng(1)
    labeled = np.r_[rng.choice(np.intersect1d(positives, rows), 4, replace=False), rng.choice(rows, 30, replace=False)]
    labeled = np.unique(labeled)
    pool.update(labeled)
    strategy = as_strategy("id")
    for _ in range(5):
        model = default_learner().fit(store.take(labeled), np.isin(labeled, positives).astype(int))
        fused = fused_row_function(strategy, model, pool.mean_vector(), unit_rows=True)
        full = pool.score_candidates(fused)
        pruned = pool.score_candidates(fused, n=10, prune=True)
        np.testing.assert_array_equal(select_top(pruned, 10), select_top(full, 10))
        kept = np.isfinite(pruned)
        np.testing.assert_array_equal(pruned[kept], full[kept])
        assert kept.mean() < 0.5
        batch = pool.candidates()[select_top(pruned, 10)]
        labeled = np.union1d(labeled, batch)
        pool.update(batch)
    assert pool._cosines.passes == 1  # the rows' cosines were read once for all five rounds
