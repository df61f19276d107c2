"""Fused scoring: a linear learner's strategy scores straight from float32 vectors.

The general path asks sklearn for `predict_proba` per block: the float32 block is copied to
float64, multiplied, and a two-column array is built, only for one column to be kept — several
passes over memory where one would do. When the model is linear (`learner.linear_form`: the
default logistic regression, `SGDClassifier` with a probabilistic loss, the cold-start model)
and the strategy is a built-in scorer, one float32 product per block gives the decision values
(and, for information density, each row's dot with the pool mean, from the same read of the
block); probabilities and scores are then computed over n numbers, not n × d.

The scores are the general path's up to float32 rounding of the products (~1e-6 relative), so
selections agree except between candidates whose scores tie to that precision (tested).
Any other learner or strategy (a user's scorer) returns None here and keeps the general path.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator

from sealsearch.active.learner import linear_form
from sealsearch.active.strategies import (
    Strategy,
    density_scores,
    information_density,
    maxent,
    most_likely_positive,
)

_FROM_PROBA = {maxent.__name__: maxent, most_likely_positive.__name__: most_likely_positive}


def fused_row_function(
    strategy: Strategy, model: BaseEstimator, pool_mean: np.ndarray
) -> Callable[[np.ndarray], np.ndarray] | None:
    """A row function (float32 block -> float64 scores) equal to the strategy over the model's
    probabilities, or None when the model or the strategy has no fused form."""
    form = linear_form(model)
    if form is None or strategy.kind != "scorer":
        return None
    function = strategy.function
    density = function is information_density
    if not density and function not in _FROM_PROBA.values():
        return None
    # 1-D float32 vectors: BLAS sgemv per product. A (d, 2) matrix instead ran 2-3x slower than
    # two sgemv calls on this machine (OpenBLAS sgemm with two columns).
    weights = np.ascontiguousarray(form.weights, dtype=np.float32)
    mean = np.ascontiguousarray(pool_mean, dtype=np.float32)
    intercept, link = form.intercept, form.link

    def score(vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        proba = link((vectors @ weights).astype(np.float64) + intercept)
        if not density:
            return function(proba, None)
        norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors).astype(np.float64))
        return density_scores(proba, (vectors @ mean).astype(np.float64) / np.where(norms > 0, norms, 1.0))

    return score
