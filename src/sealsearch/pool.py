"""Candidate pools: which unlabeled rows a selection strategy may score.

`SealsPool` is Algorithm 2 of the paper: the union of the k nearest neighbours of every labeled
row, minus the labeled rows. It is updated incrementally — only newly labeled rows are searched —
so the cost of a round grows with the labeled set, never with N. `AllPool` is the Algorithm 1
baseline (every unlabeled row), and `randpool` (appendix A.5) is the baseline over a fixed random
fraction of the rows.

Every pool keeps the running sum of its members' vectors: for unit vectors the mean cosine
similarity of z to the pool is z · mean(pool), which makes information density exact and linear.

Invariant (tested against brute force): no labeled row is ever a candidate.
"""

from __future__ import annotations

import difflib
from typing import Protocol

import numpy as np

from sealsearch.errors import InvalidParameterError, UnknownNameError
from sealsearch.index import KnnIndex
from sealsearch.index.graph import KnnGraph, NeighbourSource
from sealsearch.store import EmbeddingStore

POOL_NAMES = ("seals", "all", "randpool")


class CandidatePool(Protocol):
    """What the loop needs from a pool; `update` receives every newly labeled row exactly once."""

    name: str

    def update(self, labeled_rows: np.ndarray) -> None: ...

    def candidates(self) -> np.ndarray:
        """Sorted row numbers that may be selected next."""
        ...

    @property
    def size(self) -> int: ...

    def mean_vector(self) -> np.ndarray:
        """Mean of the candidates' vectors (float64); zeros when the pool is empty."""
        ...


def _mean(total: np.ndarray, count: int) -> np.ndarray:
    return total / count if count else np.zeros_like(total)


class SealsPool:
    """∪ kNN(labeled, k) \\ labeled, grown as rows are labeled (Algorithm 2).

    With a `graph` (kNN-graph mode) the neighbours of labeled pool rows are looked up instead of searched.
    """

    name = "seals"

    def __init__(self, embeddings: EmbeddingStore, index: KnnIndex, k: int, graph: KnnGraph | None = None):
        if not isinstance(k, int | np.integer) or k <= 0:
            raise InvalidParameterError(f"k must be a positive integer (neighbours per labeled item), got {k}")
        if index.dim != embeddings.dim:
            raise InvalidParameterError(
                f"index dimension {index.dim} does not match the embeddings ({embeddings.dim}); rebuild the index"
            )
        self.embeddings = embeddings
        self.index = index
        self.source = NeighbourSource(index, graph)
        self.k = int(k)
        self._members = np.empty(0, dtype=np.int64)
        self._labeled = np.empty(0, dtype=np.int64)
        self._sum = np.zeros(embeddings.dim, dtype=np.float64)

    def update(self, labeled_rows: np.ndarray) -> None:
        new = np.setdiff1d(np.asarray(labeled_rows, dtype=np.int64), self._labeled)
        if new.size == 0:
            return
        vectors = self.embeddings.take(new)
        ids = self.source.neighbours(new, vectors, self.k)
        self._labeled = np.union1d(self._labeled, new)
        neighbours = np.unique(ids[ids >= 0])
        added = np.setdiff1d(
            np.setdiff1d(neighbours, self._members, assume_unique=True), self._labeled, assume_unique=True
        )
        leaving = np.isin(new, self._members, assume_unique=True)
        self._members = np.union1d(np.setdiff1d(self._members, new[leaving], assume_unique=True), added)
        self._sum -= vectors[leaving].sum(axis=0, dtype=np.float64)
        if added.size:
            self._sum += self.embeddings.take(added).sum(axis=0, dtype=np.float64)

    def candidates(self) -> np.ndarray:
        return self._members

    @property
    def size(self) -> int:
        return int(self._members.size)

    def mean_vector(self) -> np.ndarray:
        return _mean(self._sum, self.size)


class AllPool:
    """Every eligible row not yet labeled (Algorithm 1); a fixed random subset for `randpool`."""

    def __init__(self, embeddings: EmbeddingStore, eligible_rows: np.ndarray, name: str = "all"):
        self.name = name
        self.embeddings = embeddings
        eligible = np.asarray(eligible_rows, dtype=np.int64)
        # A split's rows arrive sorted and unique; sorting 10M rows again would cost a second.
        self._eligible = eligible if np.all(eligible[1:] > eligible[:-1]) else np.unique(eligible)
        self._unlabeled = np.ones(self._eligible.size, dtype=bool)
        self._sum = np.zeros(embeddings.dim, dtype=np.float64)
        for block in embeddings.chunks(self._eligible):
            self._sum += block.sum(axis=0, dtype=np.float64)

    def update(self, labeled_rows: np.ndarray) -> None:
        rows = np.unique(np.asarray(labeled_rows, dtype=np.int64))
        positions = np.searchsorted(self._eligible, rows)
        inside = positions < self._eligible.size
        inside[inside] = self._eligible[positions[inside]] == rows[inside]
        positions = positions[inside]
        positions = positions[self._unlabeled[positions]]
        if positions.size == 0:
            return
        self._unlabeled[positions] = False
        self._sum -= self.embeddings.take(self._eligible[positions]).sum(axis=0, dtype=np.float64)

    def candidates(self) -> np.ndarray:
        return self._eligible[self._unlabeled]

    @property
    def size(self) -> int:
        return int(np.count_nonzero(self._unlabeled))

    def mean_vector(self) -> np.ndarray:
        return _mean(self._sum, self.size)


def make_pool(
    name: str,
    embeddings: EmbeddingStore,
    eligible_rows: np.ndarray,
    *,
    index: KnnIndex | None = None,
    graph: KnnGraph | None = None,
    k: int = 100,
    fraction: float = 0.1,
    rng: np.random.Generator | None = None,
) -> CandidatePool:
    """Build a pool by its CLI name; `eligible_rows` are the rows of the pool split; `graph` (the
    index's kNN graph, see sealsearch.index.graph) lets the seals pool look neighbours up."""
    if name == "seals":
        if index is None:
            raise InvalidParameterError("the seals pool needs a kNN index; build one with `seals index build`")
        return SealsPool(embeddings, index, k, graph)
    if name == "all":
        return AllPool(embeddings, eligible_rows)
    if name == "randpool":
        if not 0 < fraction <= 1:
            raise InvalidParameterError(f"randpool fraction must be in (0, 1], got {fraction}")
        rng = rng if rng is not None else np.random.default_rng(0)
        eligible = np.asarray(eligible_rows, dtype=np.int64)
        size = max(1, round(fraction * eligible.size))
        return AllPool(embeddings, rng.choice(eligible, size=size, replace=False), name="randpool")
    close = difflib.get_close_matches(name, POOL_NAMES, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"unknown pool {name!r}: choose one of {', '.join(POOL_NAMES)}{hint}")
