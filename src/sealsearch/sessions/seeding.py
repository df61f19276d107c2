"""Finding the first positives of a rare concept ("search" mode).

A classifier needs both classes, and a random item is almost never a positive of a rare concept,
so until a concept has a positive and a negative, the batch is the nearest neighbours (through
the project's kNN index) of its free-text query and of its labeled positives — never random
items once a positive exists. Only with no query and no positive are random pool items shown.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from sealsearch.data.dataset import Dataset
from sealsearch.embedders import QueryEmbedder, query_embedder
from sealsearch.index import KnnIndex


class QueryVectors:
    """Free-text queries as unit vectors of the dataset's space, embedded once per text.

    The embedder (a transformer for MiniLM or CLIP: seconds to load) loads on the first query, or
    ahead of it with `warm_up()` (`seals serve` does, so the first text query does not wait);
    `state` says where that stands, for a page to show."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._embedder: QueryEmbedder | None = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._loading = False
        self._failed: str | None = None

    @property
    def state(self) -> str:
        """ "ready", "loading" (warm_up is loading it), "unavailable" (text search cannot work:
        `problem` says why) or "cold" (loads on the first query)."""
        if self._failed is not None:
            return "unavailable"
        if self._loading:
            return "loading"
        return "ready" if self._embedder is not None else "cold"

    @property
    def problem(self) -> str | None:
        return self._failed

    def load(self, warm: bool = False) -> QueryEmbedder:
        """The embedder; with `warm`, one query through it too (the models load their weights on
        first use), under the lock, so a query arriving meanwhile waits instead of loading twice."""
        with self._lock:
            if self._embedder is None:
                self._embedder = query_embedder(self.dataset.info.embedder, self.dataset.info.embedder_weights)
            if warm:
                with contextlib.suppress(Exception):  # loaded; a real query raises its own error
                    self._embedder.embed_query("a photo of a thing")
            return self._embedder

    def warm_up(self) -> threading.Thread:
        """Load the embedder in a background thread; a failure is kept (`problem`) for the first
        query to raise as before, never raised in that thread."""
        self._loading = True

        def run() -> None:
            try:
                self.load(warm=True)
            except Exception as exc:  # noqa: BLE001 - reported by state/problem, and raised again by a query
                self._failed = " ".join(str(exc).split()) or type(exc).__name__
            finally:
                self._loading = False

        thread = threading.Thread(target=run, name="sealsearch-embedder", daemon=True)
        thread.start()
        return thread

    def __call__(self, text: str) -> np.ndarray:
        if text not in self._cache:
            vector = np.asarray(self.load().embed_query(text), dtype=np.float32)
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
