"""`average_precision` equals scikit-learn's `average_precision_score`, ties and float32 included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from sealsearch.active.metrics import average_precision


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("n", "n_positive", "decimals"), [(5000, 40, None), (5000, 40, 2), (300, 1, 1), (50, 50, None)]
)
def test_average_precision_is_scikit_learns(seed, n, n_positive, decimals):
    rng = np.random.default_rng(seed)
    truth = np.zeros(n, dtype=np.int8)
    truth[rng.choice(n, n_positive, replace=False)] = 1
    scores = rng.random(n) + 0.5 * truth * rng.random(n)
    if decimals is not None:  # ties across positives and negatives
        scores = np.round(scores, decimals)
    for values in (scores, scores.astype(np.float32)):
        assert average_precision(truth, values) == pytest.approx(average_precision_score(truth, values), abs=1e-12)


def test_edge_cases():
    assert average_precision(np.array([1, 0, 0]), np.array([3.0, 2.0, 1.0])) == 1.0
    assert average_precision(np.array([0, 0, 1]), np.array([3.0, 2.0, 1.0])) == pytest.approx(1 / 3)
    assert average_precision(np.array([1, 0]), np.array([1.0, 1.0])) == 0.5  # one threshold holds both
    assert np.isnan(average_precision(np.zeros(4, dtype=int), np.arange(4.0)))
    with pytest.raises(ValueError, match="1-D of one length"):
        average_precision(np.array([1, 0]), np.array([1.0]))
