"""The All baseline's pool (Algorithm 1 of the paper): every unlabeled row of the pool split, or,
for `randpool`, of a fixed random subset of it.

It is the whole split, so unlike a SEALS pool it keeps no vectors of its own: it streams the
memory map in blocks every round (sealsearch.data.scan), on this machine's threads or as Ray tasks
over shards of the file (`Scanner`). Its running sum of unit vectors gives information density's
pool mean, as in every pool (sealsearch.active.pools).
"""

from __future__ import annotations

import numpy as np

from sealsearch.active.cosines import CosineBounds, RowBounds
from sealsearch.active.hygiene import mean_of, needs_renormalising, sorted_unique, unit_sum
from sealsearch.active.members import ALL_CAPABILITIES
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.scan import RowFunction, prune_to
from sealsearch.data.shards import Scanner


class AllPool:
    """Every eligible row not yet labeled (Algorithm 1); a fixed random subset for `randpool`.

    Candidates are scored by `scanner`: this machine's threads, or Ray tasks over shards.
    """

    capabilities = ALL_CAPABILITIES

    def __init__(
        self, embeddings: EmbeddingStore, eligible_rows: np.ndarray, name: str = "all", scanner: Scanner | None = None
    ):
        self.name = name
        self.scanner = scanner or Scanner()
        self.embeddings = embeddings
        self._eligible = sorted_unique(eligible_rows)
        self._unlabeled = np.ones(self._eligible.size, dtype=bool)
        self._candidates: np.ndarray | None = None
        self._cosines: CosineBounds | None = None  # see density_bounds
        self._renormalise = needs_renormalising(embeddings)
        self._sum = np.zeros(embeddings.dim, dtype=np.float64)
        for block in embeddings.chunks(self._eligible):
            self._sum += unit_sum(block, self._renormalise)

    def update(
        self, labeled_rows: np.ndarray, labels: np.ndarray | None = None, vectors: np.ndarray | None = None
    ) -> None:
        rows, first = np.unique(np.asarray(labeled_rows, dtype=np.int64), return_index=True)
        positions = np.searchsorted(self._eligible, rows)
        inside = positions < self._eligible.size
        inside[inside] = self._eligible[positions[inside]] == rows[inside]
        inside[inside] = self._unlabeled[positions[inside]]
        positions = positions[inside]
        if positions.size == 0:
            return
        self._unlabeled[positions] = False
        self._candidates = None
        leaving = self.embeddings.take(rows[inside]) if vectors is None else np.asarray(vectors)[first[inside]]
        self._sum -= unit_sum(leaving, self._renormalise)

    def candidates(self) -> np.ndarray:
        if self._candidates is None:  # a pass over the split: once per change, not per call
            self._candidates = self._eligible[self._unlabeled]
        return self._candidates

    @property
    def size(self) -> int:
        return int(np.count_nonzero(self._unlabeled))

    def mean_vector(self) -> np.ndarray:
        return mean_of(self._sum, self.size)

    def candidate_vectors(self) -> np.ndarray:
        """A copy of every candidate's vector: only batch selectors ask, and on a large split
        this is the whole matrix."""
        return self.embeddings.take(self.candidates())

    def score_candidates(self, score: RowFunction, n: int | None = None, *, prune: bool = False) -> np.ndarray:
        """`score` over every candidate, streamed from the store by the scanner; with `n` and
        `prune` (local scans), -inf for those that cannot be among the n best (see
        SealsPool.score_candidates). A score that bounds rows by their cosine to a mean
        (information density) gets `density_bounds`. Ray tasks score every row: pruning shares a
        running threshold between the threads of one process, and the selections are the same."""
        mean = getattr(score, "density_mean", None)
        if prune and self.scanner.executor == "local":
            if n is not None and mean is not None:
                score = score.pruned(int(n), density_bound=self.density_bounds(mean))
            else:
                score = prune_to(score, n)
        return self.scanner.score_rows(self.embeddings, self.candidates(), score)

    def density_bounds(self, mean: np.ndarray) -> RowBounds:
        """For each candidate, a number its cosine to `mean` cannot exceed (see
        sealsearch.active.cosines: an ID round then costs what a MaxEnt round does)."""
        if self._cosines is None:
            self._cosines = CosineBounds(self.embeddings, self._eligible, self._renormalise)
        return self._cosines.bounds(mean, self.candidates())
