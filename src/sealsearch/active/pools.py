"""Candidate pools: which unlabeled rows a selection strategy may score.

`SealsPool` is Algorithm 2 of the paper: the union of the k nearest neighbours of every labeled
row, minus the labeled rows. It is updated incrementally — only newly labeled rows are searched —
so the cost of a round grows with the labeled set, never with N. `AllPool`
(sealsearch.active.all_pool) is the Algorithm 1 baseline (every unlabeled row), and `randpool`
(appendix A.5) is the baseline over a fixed random fraction of the rows.

Every pool keeps the running sum of its members' unit vectors: the mean cosine similarity of z to
the pool is z · mean(pool), which makes information density exact and linear. Rows of a float16
store are renormalised (in float64) before they enter the sum; their stored norms are off by ~1e-3.

`POOLS` is the one table of pool names (the CLI's choices, "did you mean" errors, which pools take
an index and a k, the order and look of reports); `make_pool` builds any of them by name and
`register_pool` adds one. A pool declares what more the loop may pass it (`PoolCapabilities`).

How the candidates' vectors are read differs on purpose. A SEALS pool is small (|labeled| × k
rows at most), so it keeps its members' vectors (or SQ8 codes) in a buffer of its own, gathered
once when a row joins (sealsearch.active.members). The All baseline is the whole split, so it
streams the memory map in blocks (sealsearch.data.scan).

Invariant (tested against brute force): no labeled row is ever a candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sealsearch._util import check_name, positive_int, register
from sealsearch.active.all_pool import AllPool
from sealsearch.active.hygiene import check_index_rows, mean_of, needs_renormalising, unit_sum
from sealsearch.active.members import ALL_CAPABILITIES, LABELED, CandidatePool, MemberBuffer, rescore_top
from sealsearch.data.codes import PoolCodes
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.scan import RowFunction, prune_to, score_matrix
from sealsearch.data.shards import Scanner
from sealsearch.errors import InvalidParameterError
from sealsearch.index import KnnIndex
from sealsearch.index.graph import KnnGraph, NeighbourSource

DEFAULT_RERANK = 4
"""With codes, how many times the batch size of top approximate scores are recomputed exactly."""


class SealsPool:
    """∪ kNN(labeled, k) \\ labeled, grown as rows are labeled (Algorithm 2).

    With a `graph` (kNN-graph mode) the neighbours of labeled pool rows are looked up instead of
    searched. With `eligible_rows` (the pool split) the index is checked to hold only those rows.
    Candidates are listed in the order they joined (see sealsearch.active.members).

    With `codes` (the store's `Sq8Codes` in RAM, or the index's own codes: `PoolCodes`) joining
    rows are never read from the embeddings file: the pool keeps their decoded codes (as float32
    unit rows: decoding once when a row joins, not every round, made the codes' selection as
    cheap as the exact buffer's, at 4 bytes a dimension for the members only), scores
    candidates on them, and `score_candidates(score, n=...)` recomputes the top `rerank`·n
    approximate scores from exact vectors, so the n best are (to the codes' precision) the
    exact path's. The running sum, and so the pool mean, is then the mean of the decoded members.
    A re-ranking index (`,Rerank<f>`) is searched on its codes alone then (`NeighbourSource`):
    its exact re-rank would read f·k vectors per labeled row from the file.
    """

    name = "seals"
    capabilities = ALL_CAPABILITIES

    def __init__(
        self,
        embeddings: EmbeddingStore,
        index: KnnIndex,
        k: int,
        graph: KnnGraph | None = None,
        *,
        eligible_rows: np.ndarray | None = None,
        codes: PoolCodes | None = None,
        rerank: int = DEFAULT_RERANK,
    ):
        self.k = positive_int(k, "k")  # neighbours per labeled item
        self.rerank = positive_int(rerank, "rerank")
        if eligible_rows is not None:
            check_index_rows(index, eligible_rows)
        if index.dim != embeddings.dim:
            raise InvalidParameterError(
                f"index dimension {index.dim} does not match the embeddings ({embeddings.dim}); rebuild the index"
            )
        if codes is not None and (codes.n, codes.dim) != (embeddings.n, embeddings.dim):
            raise InvalidParameterError(f"codes of {codes.n} x {codes.dim} do not match the embeddings; rebuild them")
        self.embeddings = embeddings
        self.index = index
        self.codes = codes
        self.source = NeighbourSource(index, graph, rerank=codes is None)  # on codes: no file reads for kNN
        self._sum = np.zeros(embeddings.dim, dtype=np.float64)
        self._renormalise = codes is not None or needs_renormalising(embeddings)
        self._members = MemberBuffer(embeddings.n, embeddings.dim, np.float32)

    def update(
        self, labeled_rows: np.ndarray, labels: np.ndarray | None = None, vectors: np.ndarray | None = None
    ) -> None:
        """`vectors`, when given, are the labeled rows' float32 vectors (the loop read them for
        training): the pool does not read them again."""
        self._label_and_expand(np.asarray(labeled_rows, dtype=np.int64), vectors)

    def _label_and_expand(self, rows: np.ndarray, vectors: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Rows not labeled before leave the pool and bring their k neighbours in; returns those
        rows (ascending) and their neighbour ids."""
        rows, first = np.unique(rows, return_index=True)
        fresh = self._members.state[rows] != LABELED
        new = rows[fresh]
        if new.size == 0:
            return new, np.empty((0, self.k), dtype=np.int64)
        vectors = self.embeddings.gather(new) if vectors is None else np.asarray(vectors, np.float32)[first[fresh]]
        ids = self.source.neighbours(new, vectors, self.k)
        self._mark_labeled(new, vectors)
        self._add(ids)
        return new, ids

    def _mark_labeled(self, new: np.ndarray, vectors: np.ndarray) -> None:
        """Newly labeled rows stop being candidates (their vectors leave the running sum)."""
        leaving = self._members.label(new)
        if leaving.any():
            gone = vectors[leaving] if self.codes is None else self.codes.decode_unit(self.codes.take(new[leaving]))
            self._sum -= unit_sum(gone, self._renormalise)

    def _add(self, ids: np.ndarray) -> None:
        """Neighbour ids (-1 padded) that are neither members nor labeled join the pool."""
        added = self._members.outside(np.unique(ids[ids >= 0]))
        if added.size:
            if self.codes is None:  # scattered rows: all announced to the disk at once (gather)
                vectors = self.embeddings.gather(added)
            else:
                vectors = self.codes.decode_unit(self.codes.take(added))
            self._sum += unit_sum(vectors, self._renormalise)
            self._members.join(added, vectors)

    def candidates(self) -> np.ndarray:
        return self._members.members()

    @property
    def size(self) -> int:
        return self._members.size

    def mean_vector(self) -> np.ndarray:
        return mean_of(self._sum, self.size)

    def candidate_vectors(self) -> np.ndarray:
        """A copy of the members' vectors (decoded codes, unit rows, with `codes`)."""
        return self._members.member_values()

    def score_candidates(self, score: RowFunction, n: int | None = None, *, prune: bool = False) -> np.ndarray:
        """`score` over the members' entries of the buffer. With `n` (the rows the caller will
        take) and `prune`, a pruning score gives -inf to members that cannot be among the n best
        (`prune_to`). With codes and `n`, the top rerank·n approximate scores are recomputed
        exactly (so pruning keeps rerank·n approximate ones)."""
        _, values = self._members.entries()
        live = np.flatnonzero(self._members.live_mask())
        need = None if n is None else int(n) * (1 if self.codes is None else self.rerank)
        scores = score_matrix(values, prune_to(score, need) if prune else score, rows=live)
        if self.codes is not None and n is not None and scores.size:
            rescore_top(scores, self.candidates(), need, lambda rows: score(self.embeddings.gather(rows)))
        return scores


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

    def update(
        self, labeled_rows: np.ndarray, labels: np.ndarray | None = None, vectors: np.ndarray | None = None
    ) -> None:
        rows = np.asarray(labeled_rows, dtype=np.int64)
        new, ids = self._label_and_expand(rows, vectors)
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
        labeled = (self._members.state[np.maximum(known, 0)] == LABELED) & (known >= 0) & in_use
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


@dataclass(frozen=True)
class PoolOptions:
    """make_pool's settings, handed to every pool factory (each reads the ones it needs)."""

    index: KnnIndex | None = None
    graph: KnnGraph | None = None
    k: int = 100
    fraction: float = 0.1
    rng: np.random.Generator | None = None
    codes: PoolCodes | None = None
    scanner: Scanner | None = None

    def need_index(self, name: str) -> KnnIndex:
        if self.index is None:
            raise InvalidParameterError(f"the {name} pool needs a kNN index; build one with `seals index build`")
        return self.index


PoolFactory = Callable[[EmbeddingStore, np.ndarray, PoolOptions], CandidatePool]


def _seals(embeddings: EmbeddingStore, eligible_rows: np.ndarray, o: PoolOptions) -> CandidatePool:
    return SealsPool(embeddings, o.need_index("seals"), o.k, o.graph, eligible_rows=eligible_rows, codes=o.codes)


def _adaptive(embeddings: EmbeddingStore, eligible_rows: np.ndarray, o: PoolOptions) -> CandidatePool:
    return AdaptivePool(embeddings, o.need_index("adaptive"), o.k, o.graph, eligible_rows=eligible_rows)


def _all(embeddings: EmbeddingStore, eligible_rows: np.ndarray, o: PoolOptions) -> CandidatePool:
    return AllPool(embeddings, eligible_rows, scanner=o.scanner)


def _randpool(embeddings: EmbeddingStore, eligible_rows: np.ndarray, o: PoolOptions) -> CandidatePool:
    if not 0 < o.fraction <= 1:
        raise InvalidParameterError(f"randpool fraction must be in (0, 1], got {o.fraction}")
    rng = o.rng if o.rng is not None else np.random.default_rng(0)
    eligible = np.asarray(eligible_rows, dtype=np.int64)
    size = max(1, round(o.fraction * eligible.size))
    return AllPool(embeddings, rng.choice(eligible, size=size, replace=False), name="randpool", scanner=o.scanner)


@dataclass(frozen=True)
class PoolKind:
    """One named pool: how to build it, whether it needs an index and a k, how reports show it
    (`label`, `line_style`) and how a person choosing it reads it (`description`)."""

    name: str
    build: PoolFactory
    uses_k: bool
    label: str
    line_style: str = "-"
    description: str = ""


POOLS: dict[str, PoolKind] = {}
"""Every named pool, in the order tables and legends list them (baselines first)."""


def register_pool(pool: PoolKind) -> PoolKind:
    """Make `pool` a named choice everywhere (CLI, web, reports, `make_pool`); a second pool of
    the same name is refused. Returns it."""
    return register(POOLS, pool.name, pool, "pool")


for _builtin in (
    PoolKind("all", _all, uses_k=False, label="All", line_style="--", description="every unlabeled row (Algorithm 1)"),
    PoolKind("randpool", _randpool, uses_k=False, label="randpool", line_style=":",
             description="a fixed random share of the rows"),
    PoolKind("seals", _seals, uses_k=True, label="SEALS", line_style="-",
             description="the k nearest neighbours of the labeled rows (SEALS)"),
    PoolKind("adaptive", _adaptive, uses_k=True, label="adaptive", line_style="-.",
             description="SEALS whose positives' neighbourhoods grow when used up"),
):  # fmt: skip
    register_pool(_builtin)


def pool_names() -> tuple[str, ...]:
    """The registered names now (`POOL_NAMES` is the same, read when imported)."""
    return tuple(POOLS)


def pools_using_k() -> frozenset[str]:
    """Pools built from kNN neighbourhoods (they need an index and a k), registered now."""
    return frozenset(name for name, pool in POOLS.items() if pool.uses_k)


def __getattr__(name: str) -> object:
    # Live, so a pool registered after import is listed; kept for callers of the old constants.
    if name == "POOL_NAMES":
        return pool_names()
    if name == "POOLS_USING_K":
        return pools_using_k()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_pool(name: str) -> str:
    return check_name(name, POOLS, "pool")


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
    codes: PoolCodes | None = None,
    scanner: Scanner | None = None,
) -> CandidatePool:
    """Build a pool by its CLI name; `eligible_rows` are the rows of the pool split (an index
    holding other rows is refused); `graph` (the index's kNN graph, see sealsearch.index.graph)
    lets the seals pool look neighbours up; `codes` (`PoolCodes`: SQ8 codes in RAM, or the
    index's own) let it score candidates without reading their vectors from disk (see
    `SealsPool`); `scanner` runs the All
    and randpool scans (default: this machine's threads; `Scanner("ray")`: Ray tasks)."""
    build = POOLS[check_pool(name)].build
    return build(embeddings, eligible_rows, PoolOptions(index, graph, k, fraction, rng, codes, scanner))
