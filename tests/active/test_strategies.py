"""Strategies against their textbook formulas, and the loop's batch against brute-force argmax."""

from __future__ import annotations

import numpy as np
import pytest

from sealsearch.active.learner import positive_proba
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool
from sealsearch.active.strategies import (
    STRATEGIES,
    STRATEGY_NAMES,
    ScoringContext,
    check_strategy,
    information_density,
    kcenter_greedy,
    select_top,
    select_top_distinct,
)
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.errors import UnknownNameError
from sealsearch.index import build_index


def unit_rows(rng, n, dim):
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def naive_entropy(p):
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def naive_information_density(proba, candidates, pool):
    """φ_ID(z) = φ_MaxEnt(z) × (1/|P|) Σ_p cos(z, p), with the full pairwise matrix."""
    cos = (candidates @ pool.T) / (np.linalg.norm(candidates, axis=1)[:, None] * np.linalg.norm(pool, axis=1)[None, :])
    return naive_entropy(proba) * cos.mean(axis=1)


def test_information_density_mean_vector_equals_pairwise_formula():
    rng = np.random.default_rng(0)
    pool = unit_rows(rng, 400, 24)
    candidates = pool[:150]
    proba = rng.uniform(0.01, 0.99, size=150)
    ctx = ScoringContext(candidates, pool.astype(np.float64).mean(axis=0), rng)
    fast = information_density(proba, ctx)
    np.testing.assert_allclose(fast, naive_information_density(proba, candidates.astype(np.float64), pool), atol=1e-5)


@pytest.mark.parametrize("name", [n for n, s in STRATEGIES.items() if s.uses_model])
def test_scorers_are_elementwise_so_chunking_changes_nothing(name):
    rng = np.random.default_rng(3)
    vectors = unit_rows(rng, 300, 8)
    proba = rng.uniform(0, 1, size=300)
    mean = vectors.mean(axis=0).astype(np.float64)
    scorer = STRATEGIES[name].function
    whole = scorer(proba, ScoringContext(vectors, mean, rng))
    parts = np.concatenate(
        [scorer(proba[s : s + 70], ScoringContext(vectors[s : s + 70], mean, rng)) for s in range(0, 300, 70)]
    )
    assert whole.shape == (300,) and np.isfinite(whole).all()
    np.testing.assert_allclose(whole, parts, rtol=1e-6)


def test_maxent_is_finite_for_certain_float32_probabilities():
    proba = np.array([0.0, 1.0, 0.5, 1 - 1e-9], dtype=np.float32)
    scores = STRATEGIES["maxent"].function(
        proba, ScoringContext(np.zeros((4, 2), np.float32), np.zeros(2), np.random.default_rng())
    )
    assert np.isfinite(scores).all()
    assert scores.argmax() == 2


@pytest.mark.parametrize("n", [1, 5, 50, 200, 250])
def test_select_top_matches_stable_argsort_with_ties(n):
    rng = np.random.default_rng(n)
    scores = rng.integers(0, 20, size=200).astype(float)  # many ties
    scores[7] = np.nan
    expected = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")[: min(n, 200)]
    np.testing.assert_array_equal(select_top(scores, n), expected)


@pytest.mark.parametrize("n", [1, 5, 30, 60, 200])
def test_select_top_ranks_minus_inf_and_nan_last_by_position(n):
    """A pruned scan's output: most rows -inf, a few NaN, ties among the rest."""
    rng = np.random.default_rng(n)
    scores = rng.integers(0, 5, size=200).astype(float)
    scores[rng.random(200) < 0.8] = -np.inf
    scores[rng.choice(200, 4, replace=False)] = np.nan
    expected = np.argsort(-np.where(np.isnan(scores), -np.inf, scores), kind="stable")[:n]
    np.testing.assert_array_equal(select_top(scores, n), expected)


def naive_kcenter(candidates, labeled, n):
    chosen: list[int] = []
    for _ in range(n):
        centres = np.vstack([labeled] + [candidates[chosen]]) if chosen else labeled
        distance = (1 - candidates @ centres.T).min(axis=1)
        distance[chosen] = -np.inf
        chosen.append(int(np.argmax(distance)))
    return np.array(chosen)


def test_kcenter_greedy_matches_naive_recomputation():
    rng = np.random.default_rng(5)
    candidates, labeled = unit_rows(rng, 200, 6), unit_rows(rng, 30, 6)
    fast = kcenter_greedy(ScoringContext(candidates, np.zeros(6), rng, labeled), 12)
    np.testing.assert_array_equal(fast, naive_kcenter(candidates.astype(np.float64), labeled.astype(np.float64), 12))


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
@pytest.mark.parametrize("pool_name", ["seals", "all"])
def test_batch_is_brute_force_argmax_over_candidates(small_dataset, strategy, pool_name):
    store = small_dataset.embeddings
    pool_rows = small_dataset.split_rows("pool")
    index = build_index(store, pool_rows, "Flat")
    pool = make_pool(pool_name, store, pool_rows, index=index, k=10)
    loop = ActiveLoop(store, pool, strategy=strategy, batch_size=25, seed=11)
    rare = np.intersect1d(small_dataset.concept_rows("rare"), pool_rows)
    seed = np.concatenate([rare[:3], np.setdiff1d(pool_rows, rare)[:40]])
    loop.tell(seed, np.isin(seed, rare).astype(int))

    candidates = pool.candidates()
    vectors = store.take(candidates).astype(np.float64)
    proba = positive_proba(loop.fit(), store.take(candidates))
    if strategy == "maxent":
        scores = naive_entropy(proba)
    elif strategy == "mlp":
        scores = proba
    elif strategy == "id":
        scores = naive_information_density(proba, vectors, vectors)
    elif strategy == "random":
        scores = np.random.default_rng([11, 1]).random(candidates.size)  # seed 11, round 1
    if strategy == "kcenter":
        expected = candidates[naive_kcenter(vectors, store.take(seed).astype(np.float64), 25)]
    else:
        expected = candidates[np.argsort(-scores, kind="stable")[:25]]
    batch = loop.ask()
    if strategy == "id":  # float32 fast path vs float64 formula: compare scores, tie-tolerant
        chosen = np.searchsorted(candidates, batch.rows)
        np.testing.assert_allclose(scores[chosen], np.sort(scores)[::-1][:25], atol=1e-6)
    else:
        np.testing.assert_array_equal(batch.rows, expected)
    assert not np.isin(batch.rows, seed).any()


def test_unknown_strategy_suggests_a_name():
    with pytest.raises(UnknownNameError, match="did you mean 'maxent'"):
        check_strategy("maxnet")


def naive_distinct(scores, vectors, n, threshold):
    """Walk the whole stable ranking; keep a row unless it is too close to one already kept."""
    kept = []
    for i in np.argsort(-scores, kind="stable"):
        if all(float(vectors[i] @ vectors[j]) <= threshold for j in kept):
            kept.append(i)
        if len(kept) == n:
            break
    return np.array(kept, dtype=np.int64)


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.95])
def test_select_top_distinct_matches_the_naive_greedy_walk(threshold):
    rng = np.random.default_rng(4)
    base = unit_rows(rng, 60, 8)
    # Near-duplicate groups: every base row has 4 jittered copies.
    vectors = np.repeat(base, 5, axis=0) + 0.02 * rng.normal(size=(300, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = rng.random(300)
    picks = select_top_distinct(scores, lambda positions: vectors[positions], 20, threshold)
    np.testing.assert_array_equal(picks, naive_distinct(scores, vectors, 20, threshold))
    sims = vectors[picks] @ vectors[picks].T
    assert (sims[~np.eye(picks.size, dtype=bool)] <= threshold).all()


def test_select_top_distinct_returns_fewer_only_when_everything_is_a_duplicate():
    vectors = np.tile(np.eye(1, 8, dtype=np.float32), (50, 1))  # 50 identical rows
    picks = select_top_distinct(np.arange(50.0), lambda positions: vectors[positions], 10, 0.9)
    assert picks.tolist() == [49]


def test_loop_with_dedup_never_proposes_near_duplicates(small_dataset):
    store = small_dataset.embeddings
    pool_rows = small_dataset.split_rows("pool")
    pool = make_pool("all", store, pool_rows)
    loop = ActiveLoop(store, pool, strategy="mlp", batch_size=30, seed=2, dedup=0.8)
    rare = np.intersect1d(small_dataset.concept_rows("rare"), pool_rows)
    seed = np.concatenate([rare[:3], np.setdiff1d(pool_rows, rare)[:40]])
    loop.tell(seed, np.isin(seed, rare).astype(int))
    batch = loop.ask()
    vectors = store.take(batch.rows)
    sims = vectors @ vectors.T
    assert batch.rows.size == 30 and (sims[~np.eye(30, dtype=bool)] <= 0.8).all()
    plain = ActiveLoop(store, make_pool("all", store, pool_rows), strategy="mlp", batch_size=30, seed=2)
    plain.tell(seed, np.isin(seed, rare).astype(int))
    assert not np.array_equal(plain.ask().rows, batch.rows)  # the rare cluster's near-copies were thinned out


@pytest.mark.parametrize("pool_name", ["all", "seals"])
def test_information_density_on_float16_vectors_is_the_pairwise_formula(pool_name):
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(600, 32)) + 1.5  # one broad cluster: densities far from zero
    store = EmbeddingStore((vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float16))
    pool_rows = np.arange(0, 600, 2)
    pool = make_pool(pool_name, store, pool_rows, index=build_index(store, pool_rows, "Flat"), k=15)
    pool.update(pool_rows[:20])
    candidates = pool.candidates()
    ctx = ScoringContext(store.take(candidates), pool.mean_vector(), rng)
    density = information_density(np.full(candidates.size, 0.5), ctx) / np.log(2)
    exact = store.vectors[candidates].astype(np.float64)
    exact /= np.linalg.norm(exact, axis=1, keepdims=True)
    pairwise = (exact @ exact.T).mean(axis=1)  # every candidate against the whole pool
    np.testing.assert_allclose(density, pairwise, rtol=1e-6)
