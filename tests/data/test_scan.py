"""Out-of-core scoring: the SEALS candidate buffer and the block scan of the All baseline."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import sealsearch.data.scan
from sealsearch.active.learner import positive_proba
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.members import PoolCapabilities
from sealsearch.active.pools import AdaptivePool, AllPool, SealsPool
from sealsearch.active.strategies import STRATEGY_NAMES
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.scan import score_matrix, score_rows
from sealsearch.experiments.simulate import GroundTruthOracle, seed_set
from sealsearch.index import build_index


@pytest.fixture(scope="module")
def flat_index(small_dataset):
    return build_index(small_dataset.embeddings, small_dataset.split_rows("pool"), "Flat")


class MemmapSealsPool(SealsPool):
    """The scoring path the buffer replaced: every ask re-reads the candidates from the memory
    map, in blocks of 262,144 rows; its `score_candidates` takes no n or prune, and it says so."""

    capabilities = PoolCapabilities(vectors=True)

    def candidate_vectors(self) -> np.ndarray:
        return self.embeddings.take(self.candidates())

    def score_candidates(self, score) -> np.ndarray:
        rows = self.candidates()
        blocks = [score(self.embeddings.take(rows[s : s + 262_144])) for s in range(0, rows.size, 262_144)]
        return np.concatenate(blocks) if blocks else np.empty(0)


class MemmapAdaptivePool(AdaptivePool, MemmapSealsPool):
    pass


def run_batches(dataset, pool, strategy: str, rounds: int = 6) -> list:
    pool_rows = dataset.split_rows("pool")
    positives = dataset.concept_rows("rare")
    oracle = GroundTruthOracle(positives)
    loop = ActiveLoop(dataset.embeddings, pool, strategy=strategy, batch_size=15, seed=3)
    seed = seed_set(dataset.rows_in_split(positives, "pool"), pool_rows, 3, 9, np.random.default_rng(3))
    loop.tell(seed, oracle.label(seed))
    batches = []
    for _ in range(rounds):
        batch = loop.ask()
        batches.append(batch)
        loop.tell(batch, oracle.label(batch.rows))
    return batches


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
@pytest.mark.parametrize("buffered, memmapped", [(SealsPool, MemmapSealsPool), (AdaptivePool, MemmapAdaptivePool)])
def test_buffer_gives_the_same_batches_and_scores_as_rereading_the_memmap(
    small_dataset, flat_index, strategy, buffered, memmapped
):
    new = run_batches(small_dataset, buffered(small_dataset.embeddings, flat_index, k=8), strategy)
    old = run_batches(small_dataset, memmapped(small_dataset.embeddings, flat_index, k=8), strategy)
    for a, b in zip(new, old, strict=True):
        np.testing.assert_array_equal(a.rows, b.rows)
        # Fused float32 products (sealsearch.active.fused) round by block layout: ~1e-7 relative.
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)


def test_buffer_scored_in_many_parallel_blocks_gives_the_same_batches(small_dataset, flat_index, monkeypatch):
    old = run_batches(small_dataset, MemmapSealsPool(small_dataset.embeddings, flat_index, k=8), "maxent")
    monkeypatch.setattr(sealsearch.data.scan, "BLOCK_BYTES", 64 * 4 * small_dataset.embeddings.dim)  # 64-row blocks
    new = run_batches(small_dataset, SealsPool(small_dataset.embeddings, flat_index, k=8), "maxent")
    for a, b in zip(new, old, strict=True):
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)


@pytest.mark.parametrize("pool_class", [SealsPool, AdaptivePool])
def test_buffer_matches_the_store_after_many_random_updates(small_dataset, flat_index, pool_class):
    store = small_dataset.embeddings
    pool_rows = small_dataset.split_rows("pool")
    positives = small_dataset.concept_rows("rare")
    rng = np.random.default_rng(7)
    pool = pool_class(store, flat_index, k=6)
    for step in range(40):
        # labeled rows come from the pool (they leave it), from anywhere (new neighbourhoods), or repeat
        source = pool.candidates() if pool.size and rng.random() < 0.6 else pool_rows
        rows = rng.choice(source, size=min(int(rng.integers(1, 12)), source.size), replace=False)
        pool.update(rows, np.isin(rows, positives).astype(np.int8))
        if step % 3 == 0 or step == 39:  # reads between several updates exercise the deferred merge
            vectors = pool.candidate_vectors()
            np.testing.assert_array_equal(vectors, store.take(pool.candidates()))
            assert not vectors.flags.writeable
    assert pool.size > 100


def test_all_pool_streams_the_same_scores_as_a_gather(small_dataset, monkeypatch):
    store = small_dataset.embeddings
    pool = AllPool(store, small_dataset.split_rows("pool"))
    pool.update(pool.candidates()[::9])
    w = np.random.default_rng(0).normal(size=store.dim).astype(np.float32)
    expected = store.take(pool.candidates()) @ w
    monkeypatch.setattr(sealsearch.data.scan, "BLOCK_BYTES", 50 * 4 * store.dim)  # many blocks, two threads
    np.testing.assert_allclose(pool.score_candidates(lambda v: v @ w), expected, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def half_precision_store(tmp_path_factory) -> EmbeddingStore:
    """200k × 128 float16 on disk: any read of the whole matrix allocates its 102 MB float32 copy."""
    path = tmp_path_factory.mktemp("f16") / "embeddings.npy"
    vectors = np.random.default_rng(0).normal(size=(200_000, 128)).astype(np.float16)
    np.save(path, vectors)
    return EmbeddingStore.open(path, verify=False)


def traced_peak(function):
    tracemalloc.start()
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("rows", ["all", "pool split", "scattered"])
def test_block_scan_never_materialises_the_matrix(half_precision_store, rows):
    store = half_precision_store
    full_bytes = store.n * store.dim * 4
    rng = np.random.default_rng(1)
    chosen = {
        "all": None,
        "pool split": np.flatnonzero(rng.random(store.n) < 0.9),  # dense ranges, read as slices
        "scattered": np.sort(rng.choice(store.n, size=20_000, replace=False)),  # gathered
    }[rows]
    model = LogisticRegression().fit(store.take(np.arange(200)), np.arange(200) % 2)
    largest = []

    def score(vectors: np.ndarray) -> np.ndarray:
        largest.append(len(vectors))
        return positive_proba(model, vectors)

    scores, peak = traced_peak(lambda: score_rows(store, chosen, score))
    expected_rows = np.arange(store.n) if chosen is None else chosen
    np.testing.assert_allclose(scores[::997], positive_proba(model, store.take(expected_rows[::997])), rtol=1e-6)
    assert max(largest) < store.n / 2
    assert peak < 0.25 * full_bytes, f"peak {peak / 1e6:.1f} MB of a {full_bytes / 1e6:.0f} MB matrix"


def test_all_round_never_materialises_the_pool(half_precision_store):
    store = half_precision_store
    pool_rows = np.flatnonzero(np.random.default_rng(2).random(store.n) < 0.9)
    loop = ActiveLoop(store, AllPool(store, pool_rows), strategy="maxent", batch_size=50)
    loop.tell(pool_rows[:200], np.arange(200) % 2)
    assert loop.fit() is not None  # trained outside the measurement
    batch, peak = traced_peak(loop.ask)
    assert batch.rows.size == 50 and not np.isin(batch.rows, loop.labeled_rows).any()
    full_bytes = store.n * store.dim * 4
    assert peak < 0.25 * full_bytes, f"peak {peak / 1e6:.1f} MB of a {full_bytes / 1e6:.0f} MB matrix"


def test_score_matrix_and_score_rows_handle_empty_and_unsorted_rows(small_dataset):
    store = small_dataset.embeddings
    w = np.ones(store.dim, dtype=np.float32)
    assert score_matrix(np.empty((0, store.dim), dtype=np.float32), lambda v: v @ w).shape == (0,)
    assert score_rows(store, np.empty(0, dtype=np.int64), lambda v: v @ w).shape == (0,)
    rows = np.array([40, 3, 41, 3, 39, 42])  # any order, repeats allowed
    np.testing.assert_allclose(score_rows(store, rows, lambda v: v @ w), store.take(rows) @ w, rtol=1e-6)
