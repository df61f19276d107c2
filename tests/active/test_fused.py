"""Fused scoring (one float32 product per block) against the general predict_proba path, and
pruned scans (only the m best scored exactly) against full ones."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sealsearch.active.loop as loop_module
from sealsearch.active.fused import fused_row_function
from sealsearch.active.learner import SimilarityModel, default_learner, linear_form, positive_proba
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool
from sealsearch.active.strategies import (
    STRATEGIES,
    ScoringContext,
    Strategy,
    as_strategy,
    kcenter_greedy,
    maxent,
    select_top,
)
from sealsearch.data.codes import Sq8Codes
from sealsearch.data.scan import score_matrix
from sealsearch.errors import InvalidParameterError
from sealsearch.experiments.simulate import GroundTruthOracle, seed_set
from sealsearch.index import build_index


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def models(rng: np.random.Generator, dim: int):
    X = unit(rng, 300, dim)
    y = (X[:, 0] + 0.3 * rng.normal(size=300) > 0.1).astype(int)
    yield "logistic", default_learner().fit(X, y)
    yield "logistic C=1", LogisticRegression().fit(X, y)
    yield "sgd log", SGDClassifier(loss="log_loss", random_state=0).fit(X, y)
    yield "sgd huber", SGDClassifier(loss="modified_huber", random_state=0).fit(X, y)
    yield "cold start +", SimilarityModel().fit(X[y == 1], np.ones(int(y.sum()), dtype=int))
    yield "cold start -", SimilarityModel().fit(X[y == 0], np.zeros(int((y == 0).sum()), dtype=int))


@pytest.mark.parametrize("strategy", ["maxent", "mlp", "id"])
def test_fused_scores_equal_the_general_path(strategy):
    rng = np.random.default_rng(0)
    dim = 32
    pool = unit(rng, 5000, dim)
    pool_mean = pool.astype(np.float64).mean(axis=0)
    chosen = as_strategy(strategy)
    for name, model in models(rng, dim):
        fused = fused_row_function(chosen, model, pool_mean)
        assert fused is not None, name
        ctx = ScoringContext(pool, pool_mean, np.random.default_rng(0))
        general = chosen.function(positive_proba(model, pool), ctx)
        got = fused(pool)
        assert got.dtype == np.float64 and got.shape == general.shape
        np.testing.assert_allclose(got, general, rtol=1e-5, atol=1e-7, err_msg=name)
        # Same top 50 (as a set; the order may differ only between scores tied to ~1e-6).
        assert set(select_top(got, 50)) == set(select_top(general, 50)), name


def test_other_learners_and_scorers_keep_the_general_path():
    rng = np.random.default_rng(1)
    X = unit(rng, 200, 8)
    y = (X[:, 0] > 0).astype(int)
    mean = X.mean(axis=0)
    assert linear_form(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)) is None
    assert linear_form(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)) is None
    assert linear_form(SGDClassifier(loss="hinge").fit(X, y)) is None
    assert fused_row_function(as_strategy(lambda p, ctx: p), default_learner().fit(X, y), mean) is None
    assert fused_row_function(STRATEGIES["kcenter"], default_learner().fit(X, y), mean) is None


@pytest.mark.parametrize("strategy", ["maxent", "mlp", "id"])
@pytest.mark.parametrize("pool_name", ["seals", "all", "seals-sq8", "all-skip", "seals-dedup"])
def test_a_fused_loop_asks_what_the_general_loop_asks(small_dataset, monkeypatch, strategy, pool_name):
    """Fused and pruned (the loop's default), against predict_proba over every candidate; with
    codes (the approximate pass pruned to rerank·n), skipped rows (n + skipped kept) and dedup
    (no pruning: it walks further down the ranking)."""
    index = build_index(small_dataset.embeddings, small_dataset.split_rows("pool"), "Flat")
    pool_rows = small_dataset.split_rows("pool")
    positives = small_dataset.concept_rows("rare")
    oracle = GroundTruthOracle(positives)
    kind, _, variant = pool_name.partition("-")
    codes = Sq8Codes.build(small_dataset.embeddings) if variant == "sq8" else None

    def run() -> list[np.ndarray]:
        rng = np.random.default_rng(0)
        seed = seed_set(np.intersect1d(positives, pool_rows), pool_rows, 3, 5, rng)
        pool = make_pool(kind, small_dataset.embeddings, pool_rows, index=index, k=10, codes=codes)
        loop = ActiveLoop(small_dataset.embeddings, pool, strategy=strategy, batch_size=10, seed=0,
                          dedup=0.999 if variant == "dedup" else None)  # fmt: skip
        loop.tell(seed, oracle.label(seed))
        asked = []
        for _ in range(6):
            batch = loop.ask()
            if variant == "skip":  # the best two set aside: the next ten come from below them
                loop.skip(batch.rows[:2])
                batch = loop.ask()
            asked.append(batch.rows)
            loop.tell(batch, oracle.label(batch.rows))
        return asked

    fused = run()
    monkeypatch.setattr(loop_module, "fused_row_function", lambda *args, **kwargs: None)
    general = run()
    agreeing = sum(len(np.intersect1d(a, b)) for a, b in zip(fused, general, strict=True))
    assert agreeing == sum(len(a) for a in general)


def tied_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Unit rows where a third are copies of others (exact ties in every score)."""
    rows = unit(rng, n, dim)
    copies = rng.choice(n, size=n // 3, replace=False)
    rows[copies] = rows[rng.choice(n, size=copies.size)]
    return rows


@pytest.mark.parametrize("strategy", ["maxent", "mlp", "id"])
@pytest.mark.parametrize("scale", [1.0, 40.0, 400.0])  # 400: probabilities saturate, scores tie at 1 or the clip
def test_a_pruned_scan_selects_what_the_full_scan_selects(strategy, scale):
    rng = np.random.default_rng(int(scale) + len(strategy))
    dim = 24
    rows = tied_rows(rng, 6000, dim)
    chosen = as_strategy(strategy)
    pruned_anything = False
    for name, model in models(rng, dim):
        if hasattr(model, "coef_"):
            model.coef_ = model.coef_ * scale
        for unit_rows in (True, False):
            fused = fused_row_function(chosen, model, rows[:500].mean(axis=0), unit_rows=unit_rows)
            full = score_matrix(rows, fused, block=97)
            for m in (1, 7, 100, 6000):
                for workers in (1, 2):
                    got = score_matrix(rows, fused.pruned(m), block=97, workers=workers)
                    kept = np.isfinite(got)
                    np.testing.assert_array_equal(got[kept], full[kept])  # the same numbers where computed
                    assert np.all(got[~kept] == -np.inf)
                    np.testing.assert_array_equal(select_top(got, m), select_top(full, m), err_msg=f"{name} m={m}")
                    pruned_anything |= m <= 100 and kept.mean() < 0.5
    assert pruned_anything  # the bounds prune, not only stay safe


@pytest.mark.parametrize("strategy", ["maxent", "mlp", "id"])
def test_a_pruned_scan_counts_only_the_rows_it_is_asked_about(strategy):
    """Rows of a block that are not candidates (labeled rows, a buffer's dead entries) must not
    raise the threshold: here the best-scoring rows are outside `rows`."""
    rng = np.random.default_rng(3)
    vectors = unit(rng, 3000, 16)
    model = default_learner().fit(vectors[:300], (vectors[:300, 0] > 0).astype(int))
    fused = fused_row_function(as_strategy(strategy), model, vectors.mean(axis=0), unit_rows=True)
    full = fused(vectors)
    outside = select_top(full, 200)
    rows = np.setdiff1d(np.arange(vectors.shape[0]), outside)
    got = score_matrix(vectors, fused.pruned(10), rows=rows, block=256)
    np.testing.assert_array_equal(select_top(got, 10), select_top(full[rows], 10))


def test_unit_rows_information_density_skips_only_the_norms():
    rng = np.random.default_rng(4)
    rows = unit(rng, 2000, 32)
    model = default_learner().fit(rows[:400], (rows[:400, 1] > 0.1).astype(int))
    mean = rows.astype(np.float64).mean(axis=0)
    strategy = as_strategy("id")
    general = strategy.function(positive_proba(model, rows), ScoringContext(rows, mean, rng))
    fast = fused_row_function(strategy, model, mean, unit_rows=True)(rows)
    np.testing.assert_allclose(fast, general, rtol=1e-5, atol=1e-7)
    assert set(select_top(fast, 50)) == set(select_top(general, 50))


@pytest.mark.parametrize("m", [5, 20, 60])
def test_information_density_pruning_holds_where_density_reaches_its_bound(m):
    """Rows along the pool mean have the largest possible density (|mean|): there ID's bound
    (entropy × |mean|) is tight, so any bound a little too small prunes the true winners."""
    rng = np.random.default_rng(m)
    dim = 24
    along = np.zeros((200, dim), dtype=np.float32)
    along[:, 0], along[:, 1] = 1.0, np.linspace(-0.5, 0.5, 200)
    rows = np.vstack([unit(rng, 2000, dim), along / np.linalg.norm(along, axis=1, keepdims=True)])
    rows = rows[rng.permutation(rows.shape[0])]
    X = unit(rng, 300, dim)
    model = default_learner().fit(X, (X[:, 1] > 0).astype(int))
    model.coef_[:] = 0.0
    model.coef_[0, 1], model.intercept_[:] = 10.0, 0.0  # z = 10 x_1: entropy falls along the row of means
    mean = np.zeros(dim)
    mean[0] = 0.3
    fused = fused_row_function(as_strategy("id"), model, mean, unit_rows=True)
    full = score_matrix(rows, fused, block=128)
    got = score_matrix(rows, fused.pruned(m), block=128)
    np.testing.assert_array_equal(select_top(got, m), select_top(full, m))
    assert np.isfinite(got).mean() < 0.9  # it pruned


def test_the_fused_form_is_the_strategys_declaration_not_its_function():
    rng = np.random.default_rng(2)
    X = unit(rng, 200, 8)
    model, mean = next(models(rng, 8))[1], X.mean(axis=0)
    assert [s.name for s in STRATEGIES.values() if s.fused] == ["maxent", "mlp", "id"]
    assert fused_row_function(Strategy("mine", maxent), model, mean) is None  # declared none: general path
    declared = fused_row_function(Strategy("mine", maxent, fused="entropy"), model, mean)
    np.testing.assert_allclose(declared(X), maxent(positive_proba(model, X), None), rtol=1e-5, atol=1e-7)
    with pytest.raises(InvalidParameterError, match="fused must be None"):
        Strategy("k", kcenter_greedy, kind="selector", fused="entropy")
    with pytest.raises(InvalidParameterError, match="fused must be None"):
        Strategy("x", maxent, fused="nonsense")


def test_proba_function_is_positive_proba_for_every_learner():
    """The pool scan's block scorer: the linear shortcut where a model has one (labels 1/0 in either
    class order, float16 blocks too), sklearn's own predict_proba for the rest."""
    from sealsearch.active.learner import proba_function

    rng = np.random.default_rng(2)
    X = unit(rng, 300, 16)
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    models = [
        LogisticRegression().fit(X, y),
        LogisticRegression().fit(X, 1 - y),
        SGDClassifier(loss="log_loss", random_state=0).fit(X, y),
        SGDClassifier(loss="modified_huber", random_state=0).fit(X, y),
        SimilarityModel().fit(X[y == 1], np.ones(int(y.sum()), dtype=int)),
        RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
    ]
    for model in models:
        for block in (X, X.astype(np.float16)):
            got = proba_function(model)(block)
            np.testing.assert_allclose(got, positive_proba(model, block), rtol=1e-5, atol=1e-6, err_msg=repr(model))
