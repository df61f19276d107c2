"""Fused scoring (one float32 product per block) against the general predict_proba path."""

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
from sealsearch.active.strategies import STRATEGIES, ScoringContext, as_strategy, select_top
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
@pytest.mark.parametrize("pool_name", ["seals", "all"])
def test_a_fused_loop_asks_what_the_general_loop_asks(small_dataset, monkeypatch, strategy, pool_name):
    index = build_index(small_dataset.embeddings, small_dataset.split_rows("pool"), "Flat")
    pool_rows = small_dataset.split_rows("pool")
    positives = small_dataset.concept_rows("rare")
    oracle = GroundTruthOracle(positives)

    def run() -> list[np.ndarray]:
        rng = np.random.default_rng(0)
        seed = seed_set(np.intersect1d(positives, pool_rows), pool_rows, 3, 5, rng)
        pool = make_pool(pool_name, small_dataset.embeddings, pool_rows, index=index, k=10)
        loop = ActiveLoop(small_dataset.embeddings, pool, strategy=strategy, batch_size=10, seed=0)
        loop.tell(seed, oracle.label(seed))
        asked = []
        for _ in range(6):
            batch = loop.ask()
            asked.append(batch.rows)
            loop.tell(batch, oracle.label(batch.rows))
        return asked

    fused = run()
    monkeypatch.setattr(loop_module, "fused_row_function", lambda *args: None)
    general = run()
    agreeing = sum(len(np.intersect1d(a, b)) for a, b in zip(fused, general, strict=True))
    assert agreeing == sum(len(a) for a in general)
