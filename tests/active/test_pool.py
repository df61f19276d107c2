"""Candidate pools against brute-force recomputation, with a real Faiss Flat index."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealsearch.active.pools import AllPool, SealsPool, make_pool
from sealsearch.errors import InvalidParameterError, UnknownNameError
from sealsearch.index import build_index


@pytest.fixture(scope="module")
def flat_index(small_dataset):
    return build_index(small_dataset.embeddings, small_dataset.split_rows("pool"), "Flat")


def brute_force_seals_pool(dataset, labeled: np.ndarray, k: int) -> np.ndarray:
    """∪ exact kNN (over the pool split, never the query itself) of every labeled row, minus labeled."""
    pool_rows = dataset.split_rows("pool")
    vectors = dataset.embeddings.take(pool_rows).astype(np.float64)
    sims = dataset.embeddings.take(labeled).astype(np.float64) @ vectors.T
    sims[pool_rows[None, :] == labeled[:, None]] = -np.inf
    neighbours = pool_rows[np.argsort(-sims, axis=1, kind="stable")[:, :k]]
    return np.setdiff1d(np.unique(neighbours), labeled)


def test_seals_pool_equals_brute_force_every_round(small_dataset, flat_index):
    rng = np.random.default_rng(1)
    pool = SealsPool(small_dataset.embeddings, flat_index, k=7)
    labeled = np.empty(0, dtype=np.int64)
    batch = rng.choice(small_dataset.split_rows("pool"), size=10, replace=False)
    for _ in range(6):
        pool.update(batch)
        labeled = np.union1d(labeled, batch)
        np.testing.assert_array_equal(np.sort(pool.candidates()), brute_force_seals_pool(small_dataset, labeled, 7))
        np.testing.assert_allclose(
            pool.mean_vector(), small_dataset.embeddings.take(pool.candidates()).mean(axis=0), atol=1e-5
        )
        batch = rng.choice(pool.candidates(), size=min(10, pool.size), replace=False)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_no_labeled_row_is_ever_a_candidate(small_dataset, flat_index, data):
    pool_rows = small_dataset.split_rows("pool")
    k = data.draw(st.integers(1, 12), label="k")
    seals = SealsPool(small_dataset.embeddings, flat_index, k=k)
    everything = AllPool(small_dataset.embeddings, pool_rows)
    labeled = np.empty(0, dtype=np.int64)
    for _ in range(data.draw(st.integers(1, 5), label="rounds")):
        source = seals.candidates() if seals.size and data.draw(st.booleans()) else pool_rows
        batch = np.asarray(
            data.draw(st.lists(st.sampled_from(source.tolist()), min_size=1, max_size=15), label="batch")
        )
        seals.update(batch)
        everything.update(batch)
        labeled = np.union1d(labeled, batch)
        assert not np.isin(seals.candidates(), labeled).any()
        assert not np.isin(everything.candidates(), labeled).any()
        np.testing.assert_array_equal(np.sort(seals.candidates()), brute_force_seals_pool(small_dataset, labeled, k))
        assert everything.size == pool_rows.size - labeled.size


def test_all_pool_is_every_unlabeled_pool_row(small_dataset):
    pool_rows = small_dataset.split_rows("pool")
    pool = AllPool(small_dataset.embeddings, pool_rows)
    labeled = pool_rows[::5]
    pool.update(labeled)
    pool.update(labeled[:3])  # repeated rows change nothing
    np.testing.assert_array_equal(np.sort(pool.candidates()), np.setdiff1d(pool_rows, labeled))
    assert pool.size == pool_rows.size - labeled.size
    np.testing.assert_allclose(
        pool.mean_vector(), small_dataset.embeddings.take(pool.candidates()).mean(axis=0), atol=1e-5
    )


def test_randpool_is_a_fixed_random_fraction(small_dataset):
    pool_rows = small_dataset.split_rows("pool")
    pool = make_pool("randpool", small_dataset.embeddings, pool_rows, fraction=0.1, rng=np.random.default_rng(0))
    assert pool.size == round(0.1 * pool_rows.size)
    assert np.isin(pool.candidates(), pool_rows).all()
    first = pool.candidates()[:4]
    pool.update(first)
    assert not np.isin(first, pool.candidates()).any()


def test_pool_errors_are_named(small_dataset, flat_index):
    with pytest.raises(InvalidParameterError, match="k must be a positive integer"):
        SealsPool(small_dataset.embeddings, flat_index, k=0)
    with pytest.raises(UnknownNameError, match="did you mean 'seals'"):
        make_pool("seal", small_dataset.embeddings, small_dataset.split_rows("pool"), index=flat_index)
    with pytest.raises(InvalidParameterError, match="needs a kNN index"):
        make_pool("seals", small_dataset.embeddings, small_dataset.split_rows("pool"))


def brute_force_knn(dataset, rows: np.ndarray, k: int) -> np.ndarray:
    pool_rows = dataset.split_rows("pool")
    sims = dataset.embeddings.take(rows).astype(np.float64) @ dataset.embeddings.take(pool_rows).astype(np.float64).T
    sims[pool_rows[None, :] == rows[:, None]] = -np.inf
    return pool_rows[np.argsort(-sims, axis=1, kind="stable")[:, :k]]


def expected_adaptive_growth(dataset, batches, k: int, max_growth: int = 8, used_up: float = 0.5):
    """The rule of the AdaptivePool docstring, replayed with brute-force neighbours: after each
    labeled batch, every labeled positive p (k_p starting at k) doubles k_p, up to max_growth × k,
    when at least `used_up` of its k_p exact neighbours are labeled, or when the batch brought no
    new positive. Yields (labeled rows, {positive: k_p}) after each batch."""
    labeled = np.empty(0, dtype=np.int64)
    k_of: dict[int, int] = {}
    for rows, truth in batches:
        labeled = np.concatenate([labeled, rows])
        for row in rows[truth == 1]:
            k_of[int(row)] = k
        stalled = not truth.any()
        for row, k_p in list(k_of.items()):
            neighbours = brute_force_knn(dataset, np.array([row]), k_p)[0]
            if (np.isin(neighbours, labeled).mean() >= used_up or stalled) and k_p < k * max_growth:
                k_of[row] = min(2 * k_p, k * max_growth)
        yield labeled, dict(k_of)


def test_adaptive_pool_is_seals_plus_grown_positive_neighbourhoods(small_dataset, flat_index):
    """Members = ∪ kNN(labeled, k) ∪ kNN(positive p, k_p) minus labeled, with k_p from the
    documented growth rule computed independently (not read back from the pool)."""
    rare = small_dataset.rows_in_split(small_dataset.concept_rows("rare"), "pool")
    others = np.setdiff1d(small_dataset.split_rows("pool"), rare)
    pool = make_pool("adaptive", small_dataset.embeddings, small_dataset.split_rows("pool"), index=flat_index, k=5)
    rng = np.random.default_rng(3)
    first = rare[:1]
    batches = [
        rare[:3],
        rng.choice(others, 8, replace=False),  # no positive: every positive doubles (stall)
        rare[3:8],
        np.setdiff1d(brute_force_knn(small_dataset, first, 10)[0], rare[:8]),  # the first's neighbourhood, used up
        rng.choice(others, 8, replace=False),
    ]
    batches = [(rows, np.isin(rows, rare).astype(np.int8)) for rows in batches]
    grown_by = set()
    for (rows, truth), (labeled, k_of) in zip(
        batches, expected_adaptive_growth(small_dataset, batches, 5), strict=True
    ):
        pool.update(rows, truth)
        positives = labeled[np.isin(labeled, rare)]
        assert pool.positive_k.tolist() == [k_of[int(row)] for row in positives]
        expected = set(brute_force_knn(small_dataset, labeled, 5).ravel())
        for row, k_p in k_of.items():
            expected |= set(brute_force_knn(small_dataset, np.array([row]), k_p).ravel())
        np.testing.assert_array_equal(np.sort(pool.candidates()), np.setdiff1d(sorted(expected), labeled))
        grown_by.add(tuple(sorted(set(k_of.values()))))
    # the replay exercised growth: positives at several sizes, up to the cap
    assert {5, 10, 20, 40} <= {k_p for sizes in grown_by for k_p in sizes}


def test_adaptive_grows_a_positive_once_its_neighbours_are_labeled(small_dataset, flat_index):
    rare = small_dataset.rows_in_split(small_dataset.concept_rows("rare"), "pool")
    pool = make_pool("adaptive", small_dataset.embeddings, small_dataset.split_rows("pool"), index=flat_index, k=4)
    pool.update(rare[:1], np.ones(1, dtype=np.int8))
    assert pool.positive_k.tolist() == [4]
    neighbours = brute_force_knn(small_dataset, rare[:1], 4)[0]
    truth = np.isin(neighbours, rare).astype(np.int8)
    assert truth.any()  # a new positive arrives, so the growth below comes from the used-up rule, not a stall
    pool.update(neighbours, truth)  # all 4 neighbours labeled: used up, so the first positive doubles
    assert pool.positive_k[0] == 8
    assert pool.size > 0 and not np.isin(pool.candidates(), np.r_[rare[:1], neighbours]).any()


def test_adaptive_without_labels_is_the_seals_pool(small_dataset, flat_index):
    rows = small_dataset.split_rows("pool")[:20]
    adaptive = make_pool("adaptive", small_dataset.embeddings, small_dataset.split_rows("pool"), index=flat_index, k=6)
    seals = SealsPool(small_dataset.embeddings, flat_index, k=6)
    adaptive.update(rows)
    seals.update(rows)
    np.testing.assert_array_equal(adaptive.candidates(), seals.candidates())


def test_an_index_holding_test_rows_is_refused(small_dataset, flat_index):
    store, pool_rows = small_dataset.embeddings, small_dataset.split_rows("pool")
    everything = build_index(store, np.arange(store.n), "Flat")  # test rows too: their neighbours would leak
    n_test = small_dataset.split_rows("test").size
    for name in ("seals", "adaptive"):
        with pytest.raises(
            InvalidParameterError, match=f"holds {n_test} of its {store.n} rows outside.*seals index build"
        ):
            make_pool(name, store, pool_rows, index=everything, k=5)
    with pytest.raises(InvalidParameterError, match="outside the pool split"):
        SealsPool(store, everything, 5, eligible_rows=pool_rows)
    subset = build_index(store, pool_rows[::2], "Flat")  # fewer rows than the split is fine
    assert make_pool("seals", store, pool_rows, index=subset, k=5).size == 0
    assert make_pool("seals", store, pool_rows, index=flat_index, k=5).size == 0
