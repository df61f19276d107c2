"""Where a seals pool gets the neighbours of newly labeled rows: a stored kNN graph or the index."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sealsearch.errors import InvalidParameterError
from sealsearch.index.base import KnnIndex
from sealsearch.index.rerank import RerankedIndex

if TYPE_CHECKING:
    from sealsearch.index.graph import KnnGraph


class NeighbourSource:
    """Where `SealsPool` gets the neighbours of newly labeled rows: the graph when it holds them
    (an array lookup), the index for the rest (rows outside the pool split, or k beyond the graph's).

    `rerank=False` searches a re-ranking index (`,Rerank<f>`) on its codes alone: its exact
    re-rank reads f·k scattered vectors a query from the embeddings file (20,000 rows a round at
    b = 100, k = 100, f = 2: 3.4 s of a 12 s `seals run` with the file out of the page cache), the
    reads a pool on codes exists to avoid. The k nearest by the codes are then the neighbours.
    """

    def __init__(self, index: KnnIndex, graph: KnnGraph | None = None, *, rerank: bool = True):
        if graph is not None and graph.factory != index.factory:
            raise InvalidParameterError(
                f"the kNN graph was searched with index {graph.factory!r} but the pool uses {index.describe()!r}; "
                "pass the graph of the same index"
            )
        self.index = index
        self.graph = graph
        self._search = index.base if isinstance(index, RerankedIndex) and not rerank else index

    def neighbours(self, rows: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
        """(q, k) int64 neighbour rows of the labeled `rows` (whose vectors are `vectors`), each
        without itself, -1 padded."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.graph is None or k > self.graph.k:
            return self._search.search(vectors, k, exclude=rows)[0]
        inside = self.graph.contains(rows)
        ids = np.empty((rows.size, k), dtype=np.int64)
        ids[inside] = self.graph.neighbours(rows[inside], k)
        if not inside.all():
            ids[~inside] = self._search.search(vectors[~inside], k, exclude=rows[~inside])[0]
        return ids
