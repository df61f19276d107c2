"""Average precision without sorting every score: the held-out metric of every simulated round.

A simulation scores the whole test split every round (10% of the rows: 4·10^5 at 4·10^6), and
scikit-learn's `average_precision_score` sorts all of them to rank a few hundred positives: 50-65
ms a call, a second of a 20-round `seals run`. AP needs only, for each distinct score v of a
positive, how many rows and how many positives score at least v; one binary search of every row
among the (few) distinct positive scores gives both, 3-5x faster, and the same value: each
positive threshold counts its tied rows together, as scikit-learn's step-function integral does
(`tests/active/test_metrics.py` compares the two, ties included).
"""

from __future__ import annotations

import numpy as np


def average_precision(truth: np.ndarray, scores: np.ndarray) -> float:
    """AP of `scores` (higher = more likely positive) against 0/1 `truth`: Σ over the distinct
    scores v of the positives, of (positives scoring v / all positives) × precision at v, where
    precision at v = positives scoring ≥ v / rows scoring ≥ v. NaN when there is no positive."""
    truth = np.asarray(truth).astype(bool, copy=False)
    scores = np.asarray(scores)
    if truth.shape != scores.shape or truth.ndim != 1:
        raise ValueError(f"truth and scores must be 1-D of one length, got {truth.shape} and {scores.shape}")
    positive_scores = scores[truth]
    if positive_scores.size == 0:
        return float("nan")
    values, positives_at = np.unique(positive_scores, return_counts=True)  # ascending
    reaches = np.searchsorted(values, scores, side="right")  # a row scores >= values[j] for j < reaches
    rows_at_least = np.cumsum(np.bincount(reaches, minlength=values.size + 1)[::-1])[::-1][1:]
    positives_at_least = np.cumsum(positives_at[::-1])[::-1]
    return float(np.sum(positives_at / positive_scores.size * (positives_at_least / rows_at_least)))
