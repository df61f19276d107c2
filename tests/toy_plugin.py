"""A toy strategy and a toy pool, registered by importing this one module: what docs/architecture.md's
"add a strategy" walk-through asks of a maintainer (tests/test_registration.py checks that the CLI
lists them, accepts them and runs them)."""

from __future__ import annotations

import numpy as np

from sealsearch.active.pools import PoolKind, register_pool
from sealsearch.active.strategies import ScoringContext, Strategy, register_strategy
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.scan import RowFunction


def first_axis(proba: np.ndarray, ctx: ScoringContext) -> np.ndarray:
    """The candidates with the largest first coordinate first: easy to predict in a test."""
    return np.asarray(ctx.candidate_vectors[:, 0], dtype=np.float64)


class EvenRowsPool:
    """The even eligible rows not labeled yet. It declares no `capabilities`, so the loop passes
    it only the protocol's arguments."""

    name = "even"

    def __init__(self, embeddings: EmbeddingStore, eligible_rows: np.ndarray):
        self.embeddings = embeddings
        self._rows = np.sort(np.asarray(eligible_rows, dtype=np.int64))
        self._rows = self._rows[self._rows % 2 == 0]

    def update(self, labeled_rows: np.ndarray, labels: np.ndarray | None = None) -> None:
        self._rows = np.setdiff1d(self._rows, labeled_rows)

    def candidates(self) -> np.ndarray:
        return self._rows.copy()

    @property
    def size(self) -> int:
        return int(self._rows.size)

    def mean_vector(self) -> np.ndarray:
        if not self._rows.size:
            return np.zeros(self.embeddings.dim)
        return self.embeddings.take(self._rows).astype(np.float64).mean(axis=0)

    def candidate_vectors(self) -> np.ndarray:
        return self.embeddings.take(self._rows)

    def score_candidates(self, score: RowFunction) -> np.ndarray:
        return np.asarray(score(self.embeddings.take(self._rows)), dtype=np.float64)


FIRST_AXIS = register_strategy(
    Strategy("first-axis", first_axis, label="first axis", description="largest first coordinate (a toy)")
)
EVEN = register_pool(
    PoolKind("even", lambda embeddings, rows, options: EvenRowsPool(embeddings, rows), uses_k=False, label="even",
             description="the even rows (a toy)")
)  # fmt: skip
