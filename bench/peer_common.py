"""What bench/peers.py hands every method and gets back: one problem, one outcome, a part clock.

Kept apart from peers.py so that the adapters of one peer library (bench/peer_smalltext.py) can
share them without importing the script that runs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from sklearn.base import BaseEstimator

from sealsearch.data.dataset import Dataset
from sealsearch.experiments.simulate import GroundTruthOracle


@dataclass
class Problem:
    """One concept and one seed set on one dataset, as every method sees it."""

    dataset: Dataset
    concept: str
    seed: int  # the seed the seed set was drawn with
    pool_rows: np.ndarray  # sorted dataset rows of the pool split; peers index X by position in it
    X: np.ndarray  # the pool split's vectors in memory (peers' APIs take arrays)
    pool_positives: np.ndarray
    seed_rows: np.ndarray
    oracle: GroundTruthOracle
    test_X: np.ndarray
    test_truth: np.ndarray
    budget: int
    batch: int
    k: int

    def positions(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.pool_rows, rows)

    def label(self, positions: np.ndarray) -> np.ndarray:
        return self.oracle.label(self.pool_rows[positions]).astype(np.int64)

    def next_size(self, n_labeled: int) -> int:
        return min(self.batch, self.budget - n_labeled)

    def rounds(self, n_labeled: int) -> int:
        """Queries a run made to reach n_labeled labels from the seed set (the per-round divisor)."""
        return -(-(n_labeled - self.seed_rows.size) // self.batch)

    def shrunk(self, n_rows: int, rounds: int) -> Problem:
        """The same concept and seed set on n_rows pool rows (every positive and seed row among
        them, the rest drawn at random) with a budget of `rounds` batches: a quick check's problem."""
        keep = np.union1d(self.pool_positives, self.seed_rows)
        rest = np.setdiff1d(self.pool_rows, keep)
        size = min(rest.size, max(0, n_rows - keep.size))
        drawn = np.random.default_rng(self.seed).choice(rest, size=size, replace=False)
        rows = np.union1d(keep, drawn)
        budget = self.seed_rows.size + rounds * self.batch
        return replace(self, pool_rows=rows, X=self.X[self.positions(rows)], budget=budget)


@dataclass
class Outcome:
    labeled_rows: np.ndarray
    model: BaseEstimator  # the final fitted sklearn estimator
    t_select: float
    t_knn: float
    t_train: float
    t_total: float
    t_index: float = 0.0


class Clock:
    """Accumulates seconds per part."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"select": 0.0, "knn": 0.0, "train": 0.0, "index": 0.0}

    def time(self, part: str, call: Callable, *args, **kwargs):
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self.seconds[part] += time.perf_counter() - start
