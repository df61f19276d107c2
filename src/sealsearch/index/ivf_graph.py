"""The kNN graph of an IVF index from its inverted lists: one matrix product per list, not one
search per row.

Searching every pool row one by one repeats, for each row, the coarse quantizer and a scan of
`nprobe` lists that its list-mates scan too. Rows of one list are close together, so they share
one set of candidates instead: the rows of the `probe` lists whose centroids are nearest to the
list's own (the list itself included). Their exact inner products with all the list's rows are
one BLAS product, and Faiss's `knn` keeps the top k of each row in C++ (heaps over blocks of the
product, so memory stays at the list's vectors). Measured at 10^6 × 256 (900 rows per list,
probe 8, 2 busy cores): 0.08 s per list with one BLAS thread, against 0.21 s for the same product
with numpy's argpartition, which dominated it; reading the ~7,200 candidate vectors with
`EmbeddingStore.take` took ~0.01 s, so lists are read again for each list probing them rather
than cached.

The graph is exact within the probed lists: with probe = nlist it is the exact kNN graph, and
rows near a list boundary lose the neighbours in lists beyond the probed ones.
"""

from __future__ import annotations

import faiss
import numpy as np

from sealsearch._util import single_threaded_blas
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.index.base import IvfLists, keep_best

DEFAULT_PROBE = 8


class IvfGraphBuilder:
    """The neighbours of the rows of one inverted list at a time, among `probe` nearby lists."""

    def __init__(self, store: EmbeddingStore, lists: IvfLists, probe: int):
        self.store = store
        self.lists = lists
        self.probe = min(int(probe), lists.nlist)
        self._centroids = np.asarray(lists.centroids, dtype=np.float32)
        # Nearness as the quantizer sees it. For L2: -|a - b|^2 = 2 a.b - |b|^2 - |a|^2, where
        # |a|^2 is the same for every b and is left out.
        self._scale = 1.0 if lists.inner_product else 2.0
        self._offset = 0.0 if lists.inner_product else -np.sum(self._centroids**2, axis=1)

    def list_rows(self, cell: int) -> np.ndarray:
        """Dataset rows of list `cell`."""
        return self.lists.members[self.lists.offsets[cell] : self.lists.offsets[cell + 1]]

    def probed(self, cell: int) -> np.ndarray:
        """The `probe` lists whose centroids are nearest to list `cell`'s, `cell` first."""
        nearness = self._scale * (self._centroids @ self._centroids[cell]) + self._offset
        nearness[cell] = np.inf
        nearest = np.argpartition(-nearness, self.probe - 1)[: self.probe]
        return np.concatenate([[cell], nearest[nearest != cell]])

    def neighbours(self, cell: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows of list `cell`, their (n, k) int64 neighbour rows best first, -1 padded), each
        row's own row excluded as `FaissIndex.search` excludes it."""
        queries = self.list_rows(cell)
        if queries.size == 0:
            return queries, np.full((0, k), -1, dtype=np.int64)
        candidates = np.concatenate([self.list_rows(other) for other in self.probed(cell)])
        vectors = self.store.take(candidates)  # the list's own rows come first: they are the queries
        fetch = min(k + 1, candidates.size)  # one extra, for the row itself
        with single_threaded_blas():
            _, found = faiss.knn(vectors[: queries.size], vectors, fetch, metric=faiss.METRIC_INNER_PRODUCT)
        ids = np.where(found >= 0, candidates[found], -1)
        ids, _ = keep_best(ids, None, (ids >= 0) & (ids != queries[:, None]), k)
        return queries, ids
