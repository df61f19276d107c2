"""Candidate pools: which unlabeled rows a selection strategy may score.

`SealsPool` is Algorithm 2 of the paper: the union of the k nearest neighbours of every labeled
row, minus the labeled rows. It is updated incrementally — only newly labeled rows are searched —
so the cost of a round grows with the labeled set, never with N. `AllPool` is the Algorithm 1
baseline (every unlabeled row), and `randpool` (appendix A.5) is the baseline over a fixed random
fraction of the rows.

Every pool keeps the running sum of its members' unit vectors: the mean cosine similarity of z to
the pool is z · mean(pool), which makes information density exact and linear. Rows of a float16
store are renormalised (in float64) before they enter the sum; their stored norms are off by ~1e-3.

`POOLS` is the one table of pool names (the CLI's choices, "did you mean" errors, which pools take
an index and a k, the order and look of reports); `make_pool` builds any of them by name.

How the candidates' vectors are read differs on purpose. A SEALS pool is small (|labeled| × k
rows at most) and changes by a few thousand rows a round, so it keeps its members' vectors in a
float32 buffer of its own, gathered once when a row joins: a round scores RAM, not thousands of
scattered rows of a memory map (~65 µs each when they are not in the page cache). The All
baseline is the whole split, so it must not copy it: it streams the memory map in blocks
(sealsearch.data.scan).

Invariant (tested against brute force): no labeled row is ever a candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sealsearch._util import check_name, positive_int
from sealsearch.active.hygiene import check_index_rows, needs_renormalising, sorted_unique, unit_sum
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.scan import RowFunction, block_rows, score_matrix, score_rows
from sealsearch.errors import InvalidParameterError
from sealsearch.index import KnnIndex
from sealsearch.index.graph import KnnGraph, NeighbourSource


class CandidatePool(Protocol):
    """What the loop needs from a pool; `update` receives every newly labeled row exactly once."""

    name: str

    def update(self, labeled_rows: np.ndarray, labels: np.ndarray | None = None) -> None: ...

    def candidates(self) -> np.ndarray:
        """Sorted row numbers that may be selected next."""
        ...

    @property
    def size(self) -> int: ...

    def mean_vector(self) -> np.ndarray:
        """Mean of the candidates' vectors (float64); zeros when the pool is empty."""
        ...

    def candidate_vectors(self) -> np.ndarray:
        """The candidates' float32 vectors as one matrix aligned with `candidates()` (read-only),
        for batch selectors that need them all at once (k-center)."""
        ...

    def score_candidates(self, score: RowFunction) -> np.ndarray:
        """`score` (row-wise, see sealsearch.data.scan) over the candidates' vectors in blocks, on every
        core; one value per candidate, aligned with `candidates()`."""
        ...


def _copy_rows(target: np.ndarray, target_rows: np.ndarray, source: np.ndarray, source_rows: np.ndarray) -> None:
    """target[target_rows] = source[source_rows], in blocks so the temporary stays small."""
    block = block_rows(target.shape[1])
    for start in range(0, source_rows.size, block):
        target[target_rows[start : start + block]] = source[source_rows[start : start + block]]


def _mean(total: np.ndarray, count: int) -> np.ndarray:
    return total / count if count else np.zeros_like(total)


class SealsPool:
    """∪ kNN(labeled, k) \\ labeled, grown as rows are labeled (Algorithm 2).

    With a `graph` (kNN-graph mode) the neighbours of labeled pool rows are looked up instead of
    searched. With `eligible_rows` (the pool split) the index is checked to hold only those rows.
    """

    name = "seals"

    def __init__(
        self,
        embeddings: EmbeddingStore,
        index: KnnIndex,
        k: int,
        graph: KnnGraph | None = None,
        *,
        eligible_rows: np.ndarray | None = None,
    ):
        self.k = positive_int(k, "k")  # neighbours per labeled item
        if eligible_rows is not None:
            check_index_rows(index, eligible_rows)
        if index.dim != embeddings.dim:
            raise InvalidParameterError(
                f"index dimension {index.dim} does not match the embeddings ({embeddings.dim}); rebuild the index"
            )
        self.embeddings = embeddings
        self.index = index
        self.source = NeighbourSource(index, graph)
        self._members = np.empty(0, dtype=np.int64)
        self._labeled = np.empty(0, dtype=np.int64)
        self._sum = np.zeros(embeddings.dim, dtype=np.float64)
        self._renormalise = needs_renormalising(embeddings)
        # `_buffer` holds the vectors of `_buffer_rows` (the members when it was last merged);
        # `_joined` holds (rows, vectors) gathered since. Merging waits for the next read, so a
        # round that adds rows several times (AdaptivePool) rebuilds the buffer once.
        self._buffer_rows = np.empty(0, dtype=np.int64)
        self._buffer = np.empty((0, embeddings.dim), dtype=np.float32)
        self._joined: list[tuple[np.ndarray, np.ndarray]] = []

    def update(self, labeled_rows: np.ndarray, labels: np.ndarray | None = None) -> None:
        self._label_and_expand(np.asarray(labeled_rows, dtype=np.int64))

    def _label_and_expand(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows not labeled before leave the pool and bring their k neighbours in; returns those
        rows and their neighbour ids."""
        new = np.setdiff1d(rows, self._labeled)
        if new.size == 0:
            return new, np.empty((0, self.k), dtype=np.int64)
        vectors = self.embeddings.take(new)
        ids = self.source.neighbours(new, vectors, self.k)
        self._mark_labeled(new, vectors)
        self._add(ids)
        return new, ids

    def _mark_labeled(self, new: np.ndarray, vectors: np.ndarray) -> None:
        """Newly labeled rows stop being candidates (their vectors leave the running sum)."""
        self._labeled = np.union1d(self._labeled, new)
        leaving = np.isin(new, self._members, assume_unique=True)
        self._members = np.setdiff1d(self._members, new[leaving], assume_unique=True)
        self._sum -= unit_sum(vectors[leaving], self._renormalise)

    def _add(self, ids: np.ndarray) -> None:
        """Neighbour ids (-1 padded) that are neither members nor labeled join the pool."""
        neighbours = np.unique(ids[ids >= 0])
        added = np.setdiff1d(
            np.setdiff1d(neighbours, self._members, assume_unique=True), self._labeled, assume_unique=True
        )
        if added.size:
            vectors = self.embeddings.take(added)
            self._members = np.union1d(self._members, added)
            self._sum += unit_sum(vectors, self._renormalise)
            self._joined.append((added, vectors))

    def candidates(self) -> np.ndarray:
        return self._members

    @property
    def size(self) -> int:
        return int(self._members.size)

    def mean_vector(self) -> np.ndarray:
        return _mean(self._sum, self.size)

    def candidate_vectors(self) -> np.ndarray:
        # Rows only leave between merges (labeled) or join through `_joined`, so an unchanged
        # member count with nothing joined means the buffer is current.
        if self._joined or self._buffer_rows.size != self._members.size:
            merged = np.empty((self._members.size, self.embeddings.dim), dtype=np.float32)
            for rows, vectors in [(self._buffer_rows, self._buffer), *self._joined]:
                kept = np.flatnonzero(np.isin(rows, self._members, assume_unique=True))
                _copy_rows(merged, np.searchsorted(self._members, rows[kept]), vectors, kept)
            merged.flags.writeable = False
            self._buffer, self._buffer_rows, self._joined = merged, self._members, []
        return self._buffer

    def score_candidates(self, score: RowFunction) -> np.ndarray:
        return score_matrix(self.candidate_vectors(), score)


class AdaptivePool(SealsPool):
    """SEALS whose neighbourhoods grow where they pay off: an improvement over the paper.

    The paper closes its hardest gaps only by raising k by hand (Fig. 7), which multiplies the
    pool for every labeled row, although almost all labeled rows are negatives whose
    neighbourhoods hold nothing new. Here only labeled *positives* grow: each keeps its own k,
    starting at the pool's k and doubling (up to `max_growth` × k) when its current neighbours
    are used up (at least `used_up` of them labeled), or for every positive when a labeled
    batch brought no new positive (the pool has stalled). Positives are rare, so the pool stays
    close to the small k's while following the concept as far as a large k would.
    """

    name = "adaptive"

    def __init__(
        self,
        embeddings: EmbeddingStore,
        index: KnnIndex,
        k: int,
        graph: KnnGraph | None = None,
        max_growth: int = 8,
        used_up: float = 0.5,
        *,
        eligible_rows: np.ndarray | None = None,
    ):
        super().__init__(embeddings, index, k, graph, eligible_rows=eligible_rows)
        if max_growth < 1 or not 0 < used_up <= 1:
            raise InvalidParameterError(
                f"adaptive pool needs max_growth >= 1 and used_up in (0, 1], got {max_growth}, {used_up}"
            )
        self.k_max = self.k * int(max_growth)
        self.used_up = used_up
        self._positives = np.empty(0, dtype=np.int64)
        self._positive_k = np.empty(0, dtype=np.int64)
        self._positive_neighbours = np.empty((0, self.k_max), dtype=np.int64)

    def update(self, labeled_rows: np.ndarray, labels: np.ndarray | None = None) -> None:
        rows = np.asarray(labeled_rows, dtype=np.int64)
        new, ids = self._label_and_expand(rows)
        if new.size == 0 or labels is None:
            return
        label_of = dict(zip(rows.tolist(), np.asarray(labels).tolist(), strict=True))
        is_positive = np.fromiter((label_of[row] == 1 for row in new.tolist()), dtype=bool, count=new.size)
        neighbours = np.full((int(is_positive.sum()), self.k_max), -1, dtype=np.int64)
        neighbours[:, : self.k] = ids[is_positive]
        self._positives = np.concatenate([self._positives, new[is_positive]])
        self._positive_k = np.concatenate([self._positive_k, np.full(neighbours.shape[0], self.k)])
        self._positive_neighbours = np.vstack([self._positive_neighbours, neighbours])
        self._grow(stalled=not is_positive.any())

    def _grow(self, stalled: bool) -> None:
        known = self._positive_neighbours
        in_use = np.arange(self.k_max) < self._positive_k[:, None]
        labeled = np.isin(known, self._labeled) & in_use
        used = labeled.sum(axis=1) / self._positive_k
        grow = ((used >= self.used_up) | stalled) & (self._positive_k < self.k_max)
        # Targets are fixed before any k changes: a positive doubles at most once per update.
        target = np.minimum(2 * self._positive_k, self.k_max)
        for new_k in np.unique(target[grow]):
            which = np.flatnonzero(grow & (target == new_k))
            rows = self._positives[which]
            ids = self.source.neighbours(rows, self.embeddings.take(rows), int(new_k))
            self._positive_neighbours[which, : ids.shape[1]] = ids
            self._positive_k[which] = new_k
            self._add(ids)

    @property
    def positive_k(self) -> np.ndarray:
        """Current neighbourhood size of each labeled positive, in labeling order."""
        return self._positive_k.copy()


class AllPool:
    """Every eligible row not yet labeled (Algorithm 1); a fixed random subset for `randpool`."""

    def __init__(self, embeddings: EmbeddingStore, eligible_rows: np.ndarray, name: str = "all"):
        self.name = name
        self.embeddings = embeddings
        self._eligible = sorted_unique(eligible_rows)
        self._unlabeled = np.ones(self._eligible.size, dtype=bool)
        self._renormalise = needs_renormalising(embeddings)
        self._sum = np.zeros(embeddings.dim, dtype=np.float64)
        for block in embeddings.chunks(self._eligible):
            self._sum += unit_sum(block, self._renormalise)

    def update(self, labeled_rows: np.ndarray, labels: np.ndarray | None = None) -> None:
        rows = np.unique(np.asarray(labeled_rows, dtype=np.int64))
        positions = np.searchsorted(self._eligible, rows)
        inside = positions < self._eligible.size
        inside[inside] = self._eligible[positions[inside]] == rows[inside]
        positions = positions[inside]
        positions = positions[self._unlabeled[positions]]
        if positions.size == 0:
            return
        self._unlabeled[positions] = False
        self._sum -= unit_sum(self.embeddings.take(self._eligible[positions]), self._renormalise)

    def candidates(self) -> np.ndarray:
        return self._eligible[self._unlabeled]

    @property
    def size(self) -> int:
        return int(np.count_nonzero(self._unlabeled))

    def mean_vector(self) -> np.ndarray:
        return _mean(self._sum, self.size)

    def candidate_vectors(self) -> np.ndarray:
        """A copy of every candidate's vector: only batch selectors ask, and on a large split
        this is the whole matrix."""
        return self.embeddings.take(self.candidates())

    def score_candidates(self, score: RowFunction) -> np.ndarray:
        return score_rows(self.embeddings, self.candidates(), score)


@dataclass(frozen=True)
class PoolOptions:
    """make_pool's settings, handed to every pool factory (each reads the ones it needs)."""

    index: KnnIndex | None = None
    graph: KnnGraph | None = None
    k: int = 100
    fraction: float = 0.1
    rng: np.random.Generator | None = None

    def need_index(self, name: str) -> KnnIndex:
        if self.index is None:
            raise InvalidParameterError(f"the {name} pool needs a kNN index; build one with `seals index build`")
        return self.index


PoolFactory = Callable[[EmbeddingStore, np.ndarray, PoolOptions], CandidatePool]


def _seals(embeddings: EmbeddingStore, eligible_rows: np.ndarray, o: PoolOptions) -> CandidatePool:
    return SealsPool(embeddings, o.need_index("seals"), o.k, o.graph, eligible_rows=eligible_rows)


def _adaptive(embeddings: EmbeddingStore, eligible_rows: np.ndarray, o: PoolOptions) -> CandidatePool:
    return AdaptivePool(embeddings, o.need_index("adaptive"), o.k, o.graph, eligible_rows=eligible_rows)


def _all(embeddings: EmbeddingStore, eligible_rows: np.ndarray, o: PoolOptions) -> CandidatePool:
    return AllPool(embeddings, eligible_rows)


def _randpool(embeddings: EmbeddingStore, eligible_rows: np.ndarray, o: PoolOptions) -> CandidatePool:
    if not 0 < o.fraction <= 1:
        raise InvalidParameterError(f"randpool fraction must be in (0, 1], got {o.fraction}")
    rng = o.rng if o.rng is not None else np.random.default_rng(0)
    eligible = np.asarray(eligible_rows, dtype=np.int64)
    size = max(1, round(o.fraction * eligible.size))
    return AllPool(embeddings, rng.choice(eligible, size=size, replace=False), name="randpool")


@dataclass(frozen=True)
class PoolKind:
    """One named pool: how to build it, whether it needs an index and a k, how reports show it."""

    name: str
    build: PoolFactory
    uses_k: bool
    label: str
    line_style: str


POOLS: dict[str, PoolKind] = {
    p.name: p
    for p in (
        PoolKind("all", _all, uses_k=False, label="All", line_style="--"),
        PoolKind("randpool", _randpool, uses_k=False, label="randpool", line_style=":"),
        PoolKind("seals", _seals, uses_k=True, label="SEALS", line_style="-"),
        PoolKind("adaptive", _adaptive, uses_k=True, label="adaptive", line_style="-."),
    )
}
"""Every named pool, in the order tables and legends list them (baselines first)."""
POOL_NAMES = tuple(POOLS)
POOLS_USING_K = frozenset(name for name, pool in POOLS.items() if pool.uses_k)
"""Pools built from kNN neighbourhoods (they need an index and a k)."""


def check_pool(name: str) -> str:
    return check_name(name, POOL_NAMES, "pool")


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
    """Build a pool by its CLI name; `eligible_rows` are the rows of the pool split (an index
    holding other rows is refused); `graph` (the index's kNN graph, see sealsearch.index.graph)
    lets the seals pool look neighbours up."""
    build = POOLS[check_pool(name)].build
    return build(embeddings, eligible_rows, PoolOptions(index, graph, k, fraction, rng))
