"""Finding the first positives of a rare concept ("search" mode).

A classifier needs both classes, and a random item is almost never a positive of a rare concept,
so until a concept has a positive and a negative, the batch is the nearest neighbours (through
the project's kNN index) of its free-text query and of its labeled positives — never random
items once a positive exists. Only with no query and no positive are random pool items shown.
"""

from __future__ import annotations

import numpy as np

from sealsearch.data.dataset import Dataset
from sealsearch.embedders import QueryEmbedder, query_embedder
from sealsearch.index import KnnIndex


class QueryVectors:
    """Free-text queries as unit vectors of the dataset's space, embedded once per text."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._embedder: QueryEmbedder | None = None
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, text: str) -> np.ndarray:
        if text not in self._cache:
            if self._embedder is None:
                self._embedder = query_embedder(self.dataset.info.embedder, self.dataset.info.embedder_weights)
            vector = np.asarray(self._embedder.embed_query(text), dtype=np.float32)
            self._cache[text] = self.dataset.project(vector).astype(np.float32)  # PCA (if any) + unit norm
        return self._cache[text]


def nearest(index: KnnIndex, queries: np.ndarray, n: int, excluded: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Up to n index rows nearest to any of the query vectors, best similarity first, skipping
    `excluded`; ties broken by row so the order is reproducible."""
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    if queries.shape[0] == 0 or n <= 0 or index.ntotal == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    k = min(n + len(excluded), index.ntotal)
    ids, sims = index.search(queries, k)
    ids, sims = ids.ravel(), sims.ravel()
    valid = ids >= 0
    if excluded:
        valid &= ~np.isin(ids, np.fromiter(excluded, dtype=np.int64, count=len(excluded)))
    ids, sims = ids[valid], sims[valid]
    order = np.lexsort((ids, -sims))
    ids, sims = ids[order], sims[order]
    _, first = np.unique(ids, return_index=True)  # best similarity of each row
    first = np.sort(first)[:n]
    return ids[first], sims[first]


def random_rows(rows: np.ndarray, n: int, excluded: set[int], rng: np.random.Generator) -> np.ndarray:
    """n rows drawn without replacement from `rows` minus `excluded`."""
    if excluded:
        rows = rows[~np.isin(rows, np.fromiter(excluded, dtype=np.int64, count=len(excluded)))]
    if rows.size == 0 or n <= 0:
        return np.empty(0, dtype=np.int64)
    return np.sort(rng.choice(rows, size=min(n, rows.size), replace=False))


__all__ = ["QueryVectors", "nearest", "query_embedder", "random_rows"]
