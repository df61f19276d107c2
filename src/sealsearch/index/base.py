"""What every index backend shares: the `KnnIndex` protocol and the vector hygiene around a search.

SEALS only ever asks one question of an index: "which k pool rows are nearest to these labeled
rows?" (paper, section 3). `KnnIndex` is that question plus what callers need to check an index
against the rows they expect (`rows`, `describe()`) and, for the IVF-only graph build,
`ivf_lists()`. Queries are turned into contiguous unit float32 here and results into one shape
here (row numbers padded with -1, similarities padded with -inf), so a backend (Faiss,
Milvus) converts only its own ids and distances.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from sealsearch.data.embeddings import normalise_rows
from sealsearch.errors import InvalidDataError

META_FILE = "meta.json"
"""Every backend's description of a saved index: "backend", "factory", "ntotal", "dim", recall."""


@dataclass(frozen=True)
class IvfLists:
    """The partition of an IVF index: which dataset rows each inverted list holds.

    Rows of list c are `members[offsets[c]:offsets[c + 1]]`. `centroids` live in the space the
    quantizer sees (after any pre-transform); `inner_product` says whether the quantizer assigns
    by largest inner product (else by smallest L2 distance), which decides which lists are near.
    """

    centroids: np.ndarray
    inner_product: bool
    offsets: np.ndarray
    members: np.ndarray

    @property
    def nlist(self) -> int:
        return int(self.centroids.shape[0])


class KnnIndex(Protocol):
    """What the pool, the loop and the graph build need from an index; every backend passes the
    same checks (tests/index/test_contract.py, one suite parametrized over the backends)."""

    backend: str
    """The name of the backend that built it in the registry (index/backends.py), e.g. "faiss"."""

    factory: str
    """The index description it was built from, e.g. "Flat", "HNSW32", "IVF64,SQ8,Rerank4"."""

    @property
    def rows(self) -> np.ndarray:
        """int64 dataset row of each indexed vector: callers compare it with the rows they expect."""
        ...

    @property
    def ntotal(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def describe(self) -> str:
        """f"{backend}:{factory}", e.g. "faiss:HNSW32": the identity of an index in messages and
        records (read `backend` and `factory` themselves, never parse this)."""
        ...

    def ivf_lists(self) -> IvfLists | None:
        """The inverted lists as dataset rows, or None when the index has none (Flat, HNSW, ...)."""
        ...

    def set_search_params(self, search_params: str) -> None:
        """Search-time knobs ("nprobe=32"); larger values trade time for recall."""
        ...

    def search(self, vectors: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """ids: (q, k) int64 dataset row numbers, padded with -1; sims: (q, k) float32, higher =
        more similar, padded with -inf. exclude[i] is a row number dropped from query i's results
        (the query's own row, so a query in the index never returns itself)."""
        ...

    def save(self, directory: Path) -> None: ...


def as_queries(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Contiguous unit float32 (q, dim) queries: the one place queries are checked and normalised."""
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise InvalidDataError(
            f"query vectors must have shape (q, {dim}) to match the index, got {vectors.shape}; "
            "embed queries with the dataset's embedder and pass a 2-D array"
        )
    return np.ascontiguousarray(normalise_rows(vectors, 0, "query vectors", remedy="fix or drop that query"))


def keep_best(
    ids: np.ndarray, sims: np.ndarray | None, keep: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The first k kept entries of each best-first result row, padded with -1 (ids) and -inf (sims).

    Search results arrive with entries to drop (missing ids, the query's own row); a stable sort
    moves the kept ones to the front in their original order, so a backend fetches k + 1 and
    calls this instead of writing its own drop-and-pad.
    """
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    kept = np.take_along_axis(keep, order, axis=1)
    ids = np.take_along_axis(ids, order, axis=1)
    ids[~kept] = -1
    if sims is not None:
        sims = np.take_along_axis(sims, order, axis=1)
        sims[~kept] = -np.inf
    if ids.shape[1] < k:  # fewer candidates than k: pad to the promised width
        width = k - ids.shape[1]
        ids = np.pad(ids, ((0, 0), (0, width)), constant_values=-1)
        if sims is not None:
            sims = np.pad(sims, ((0, 0), (0, width)), constant_values=-np.inf)
    return ids, sims
