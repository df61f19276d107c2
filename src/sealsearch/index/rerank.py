"""Exact re-ranking of a compressed index's candidates against the stored vectors.

PQ and SQ codes keep an index small enough for RAM at 10^7 rows, but their similarities are
approximate, so true neighbours near the k-th place fall out of the top k. `RerankedIndex` asks
the compressed index for `factor * k` candidates and re-scores them exactly with the vectors in
the memory-mapped `EmbeddingStore`, which costs a gather of a few hundred rows per query instead
of a second in-RAM copy of the data (what Faiss's own `RFlat` refinement keeps). It is named by
the factory suffix `,Rerank<factor>`, e.g. "IVF4096,PQ32,Rerank4".
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sealsearch._util import positive_int
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.errors import InvalidParameterError
from sealsearch.index.base import IvfLists, KnnIndex, as_queries

_SUFFIX = re.compile(r",Rerank(?P<factor>\d*)$")
# Query-candidate pairs re-scored at once: bounds the gathered rows (at d=256, ~128 MB per batch).
PAIRS_PER_BATCH = 131_072


def split_rerank(factory: str) -> tuple[str, int | None]:
    """("IVF4096,PQ32", 4) for "IVF4096,PQ32,Rerank4"; (factory, None) without the suffix."""
    match = _SUFFIX.search(factory)
    if match is None:
        return factory, None
    base, digits = factory[: match.start()], match["factor"]
    if not base or not digits or int(digits) < 1:
        raise InvalidParameterError(
            f"bad re-ranking suffix in factory {factory!r}; write it after an index as ',Rerank<factor>' "
            'with factor >= 1, e.g. "IVF4096,PQ32,Rerank4"'
        )
    return base, int(digits)


class RerankedIndex:
    """An index (of any backend) whose top `factor * k` candidates are re-scored exactly, keeping the best k.

    Similarities are exact cosines, whatever the codes of the underlying index; recall is then
    limited only by whether the true neighbours are among the candidates (for IVF: in the
    probed lists). Saving writes the underlying index, which is what the backend stores.
    """

    def __init__(self, base: KnnIndex, embeddings: EmbeddingStore, factor: int):
        factor = positive_int(factor, "re-ranking factor")
        if embeddings.dim != base.dim:
            raise InvalidParameterError(
                f"index dimension {base.dim} does not match the embeddings ({embeddings.dim}); rebuild the index"
            )
        self.base = base
        self.embeddings = embeddings
        self.factor = int(factor)
        self.factory = f"{base.factory},Rerank{self.factor}"

    @property
    def ntotal(self) -> int:
        return self.base.ntotal

    @property
    def dim(self) -> int:
        return self.base.dim

    @property
    def rows(self) -> np.ndarray:
        return self.base.rows

    @property
    def backend(self) -> str:
        return self.base.backend

    def describe(self) -> str:
        return f"{self.base.describe()},Rerank{self.factor}"

    def ivf_lists(self) -> IvfLists | None:
        """The underlying index's inverted lists (see `FaissIndex.ivf_lists`)."""
        return self.base.ivf_lists()

    def set_search_params(self, search_params: str) -> None:
        """Search-time knobs of the underlying index, e.g. "nprobe=32"."""
        self.base.set_search_params(search_params)

    def search(self, vectors: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar rows by exact cosine among the underlying index's `factor * k` best."""
        k = positive_int(k, "k")
        queries = as_queries(vectors, self.dim)
        candidates, _ = self.base.search(queries, self.factor * k, exclude)
        batch = max(1, PAIRS_PER_BATCH // candidates.shape[1])
        parts = [
            self._rescore(queries[start : start + batch], candidates[start : start + batch], k)
            for start in range(0, max(len(queries), 1), batch)  # one (empty) batch for zero queries
        ]
        return np.concatenate([ids for ids, _ in parts]), np.concatenate([sims for _, sims in parts])

    def _rescore(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        found = candidates >= 0
        # Each distinct row is read once per batch (neighbouring queries share many), in row order.
        unique, inverse = np.unique(candidates[found], return_inverse=True)
        vectors = self.embeddings.gather(unique)
        query_of = np.nonzero(found)[0]
        sims = np.full(candidates.shape, -np.inf, dtype=np.float32)
        sims[found] = np.einsum("nd,nd->n", queries[query_of], vectors[inverse])
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        sims = np.take_along_axis(sims, order, axis=1)
        ids = np.take_along_axis(candidates, order, axis=1)
        ids[np.isneginf(sims)] = -1
        return ids, sims

    def save(self, directory: Path) -> None:
        self.base.save(directory)
