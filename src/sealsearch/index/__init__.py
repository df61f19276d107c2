"""The kNN index SEALS restricts its candidate pool with.

SEALS only ever asks one question of the index: "which k pool rows are nearest to these labeled
rows?" (paper, section 3). `KnnIndex` is that question and nothing more, so a backend is free to
be exact or approximate. An index is built once per dataset and factory, stored under
`<dataset>/index/<factory>/`, and reused by every concept and every run (paper: "the embeddings
and index can be generated once ... the approach just one of many applications using the index").
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from sealsearch._util import Progress
from sealsearch.data.dataset import Dataset
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError
from sealsearch.index.faiss import FaissIndex
from sealsearch.index.recall import RECALL_K, RECALL_QUERIES, measure_recall, record_recall, recorded_recall
from sealsearch.index.rerank import RerankedIndex, split_rerank

__all__ = [
    "KnnIndex",
    "FaissIndex",
    "RerankedIndex",
    "auto_factory",
    "build_index",
    "load_index",
    "open_or_build_index",
    "index_dir_name",
    "index_recall",
    "measure_recall",
    "EXACT_MAX_BYTES",
    "RECALL_K",
    "RECALL_QUERIES",
    "GRAPH_MAX_BYTES",
    "SQ8_MAX_BYTES",
]

# Thresholds of `auto_factory`, on the size of the pool's float32 matrix (n * dim * 4 bytes):
# the cost of an exact scan, HNSW's build time and memory all grow with it. The aim is an index
# that fits in 16 GB of RAM and builds in minutes on 2 cores; docs/index.md has the measurements.
EXACT_MAX_BYTES = 200_000 * 256 * 4  # ~205 MB: 200k rows at d=256, 400k at d=128
GRAPH_MAX_BYTES = 1_000_000 * 256 * 4  # ~1 GB: 1M rows at d=256 (HNSW32 build ~4 min)
GRAPH_MAX_ROWS = 1_000_000  # at small d, HNSW's per-insertion graph search still grows with n
SQ8_MAX_BYTES = 8 * 1024**3  # SQ8 codes (n * dim bytes) up to 8 GB, half the RAM budget
IVF_MAX_LISTS = 4096  # adding n rows costs n * nlist distances: 4096 lists keep 10^7 rows at ~2 min
SQ8_RERANK = 2  # SQ8 similarities are off by ~0.01: re-scoring 2k candidates fixes the k-th place
PQ_RERANK = 4  # PQ similarities are coarse: recall needs 4k candidates re-scored


class KnnIndex(Protocol):
    """What the pool and the loop need from an index; backends are checked by tests/test_index.py."""

    factory: str
    """The index_factory string it was built from, e.g. "Flat", "HNSW32"."""

    @property
    def ntotal(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def search(self, vectors: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """ids: (q, k) int64 dataset row numbers, padded with -1; sims: (q, k) float32, higher =
        more similar, padded with -inf. exclude[i] is a row number dropped from query i's results
        (the query's own row, so a query in the index never returns itself)."""
        ...

    def save(self, directory: Path) -> None: ...


def auto_factory(n: int, dim: int) -> str:
    """The factory string to use for n rows of dimension dim when the user does not choose.

    Measured with bench/index_recall.py (2 CPU cores, 100 queries, k=100; docs/index.md):

    - n*dim*4 <= 205 MB (200k rows at d=256): "Flat". Exact and nothing to build; a round of
      100 queries over 200k x 256 takes ~0.12 s, while HNSW32 would save ~60 ms per round for a
      one-off build of ~1 min and recall 0.93.
    - n*dim*4 <= 1 GB and n <= 1M (1M rows at d=256): "HNSW32". Search time barely grows with n while
      Flat's grows linearly (1M x 256: HNSW32 40 ms at recall 0.83 vs Flat 0.45 s), but its
      build does too: 224 s at 1M x 256, about an hour at 10M on 2 cores.
    - SQ8 codes (n*dim bytes) <= 8 GB: "IVF{nlist},SQ8,Rerank2", nlist = 4*sqrt(n) rounded to a
      power of two, at most 4096 (more lists make adding 10^7 rows take tens of minutes). One
      byte per dimension: 2.6 GB at 10^7 x 256, built in ~2 min; re-ranking 2k candidates
      exactly against the memory-mapped vectors removes the codes' error (recall@100 0.936 ->
      0.970 on the WordNet demo).
    - above: "IVF{nlist},PQ{m},Rerank4" with m = the largest divisor of dim up to dim/8 (32 at
      d=256: 3.2 GB for 10^8 rows); re-ranking 4k candidates brings recall close to what the
      probed lists contain (1M x 256, IVF1024, nprobe 16: PQ32 0.32, Rerank4 0.39, SQ8 0.40).

    IVF recall is bounded by the lists probed (nprobe=16 by default): measure it on your data
    (`seals index build` reports it) and raise nprobe if needed. LSH, the index the paper used,
    is available as "LSH" but never chosen: its recall@100 is ~0.54 at 200k x 256.
    """
    if n <= 0 or dim <= 0:
        raise InvalidParameterError(f"auto_factory needs n > 0 and dim > 0, got n={n}, dim={dim}")
    size = n * dim * 4
    if size <= EXACT_MAX_BYTES:
        return "Flat"
    if size <= GRAPH_MAX_BYTES and n <= GRAPH_MAX_ROWS:
        return "HNSW32"
    nlist = min(2 ** round(math.log2(4 * math.sqrt(n))), IVF_MAX_LISTS)
    if n * dim <= SQ8_MAX_BYTES:
        return f"IVF{nlist},SQ8,Rerank{SQ8_RERANK}"
    m = max(divisor for divisor in range(1, max(dim // 8, 1) + 1) if dim % divisor == 0)
    return f"IVF{nlist},PQ{m},Rerank{PQ_RERANK}"


def index_dir_name(factory: str) -> str:
    """A directory name for a factory string: "IVF1024,SQ8" -> "IVF1024_SQ8"."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", factory)


def build_index(
    store: EmbeddingStore,
    rows: np.ndarray,
    factory: str = "auto",
    *,
    seed: int = 0,
    progress: Progress | None = None,
    search_params: str | None = None,
) -> KnnIndex:
    """Index the given rows of the store; search returns those row numbers.

    `search_params` overrides the search-time defaults (efSearch=128, nprobe=16), e.g. "nprobe=32".
    """
    rows = np.asarray(rows)
    if factory == "auto":
        factory = auto_factory(len(rows), store.dim)
    base, rerank = split_rerank(factory)
    index = FaissIndex.build(store, rows, base, seed=seed, progress=progress, search_params=search_params)
    return index if rerank is None else RerankedIndex(index, store, rerank)


def load_index(directory: Path, *, search_params: str | None = None) -> KnnIndex:
    """Open an index written by `KnnIndex.save`."""
    return FaissIndex.load(Path(directory), search_params=search_params)


def open_or_build_index(
    dataset: Dataset,
    factory: str = "auto",
    *,
    progress: Progress | None = None,
    seed: int = 0,
    search_params: str | None = None,
) -> KnnIndex:
    """The index over the dataset's pool split, built on first use and reused afterwards.

    The saved index is reused when its factory, size, dimension and row list match the current
    pool; otherwise (first use, a changed pool, an interrupted save) it is rebuilt and replaced.
    Test rows are never indexed, so they can never enter a candidate pool. A ",Rerank<f>"
    suffix changes only how the stored index is searched, so "IVF4096,PQ32,Rerank4" opens (or
    builds) `index/IVF4096_PQ32/` and wraps it in a `RerankedIndex`.
    """
    pool = dataset.split_rows("pool")
    if factory == "auto":
        factory = auto_factory(len(pool), dataset.info.dim)
    base, rerank = split_rerank(factory)
    directory = dataset.index_dir / index_dir_name(base)
    try:
        index = FaissIndex.load(directory, search_params=search_params)
    except (MissingFileError, InvalidDataError):
        index = None
    if index is None or not (
        (index.factory, index.ntotal, index.dim) == (base, len(pool), dataset.info.dim)
        and np.array_equal(index.rows, pool)
    ):
        index = FaissIndex.build(
            dataset.embeddings, pool, base, seed=seed, progress=progress, search_params=search_params
        )
        index.save(directory)
    return index if rerank is None else RerankedIndex(index, dataset.embeddings, rerank)


def index_recall(
    dataset: Dataset,
    index: KnnIndex,
    *,
    search_params: str | None = None,
    k: int = RECALL_K,
    n_queries: int = RECALL_QUERIES,
    seed: int = 0,
    progress: Progress | None = None,
) -> float:
    """recall@k of an index from `open_or_build_index(dataset, ..., search_params=...)`, measured once.

    The value is stored in the index's meta.json under the factory (re-ranking included), the
    search params and k/n_queries/seed, so reopening the same index reports it without another
    exact pass over the pool; a rebuild writes a fresh meta.json. A "Flat" index is exact: 1.0.
    """
    base, _ = split_rerank(index.factory)
    if base == "Flat":
        return 1.0
    directory = dataset.index_dir / index_dir_name(base)
    known = recorded_recall(directory, index.factory, search_params, k, n_queries, seed)
    if known is not None:
        return known
    value = measure_recall(index, dataset.embeddings, dataset.split_rows("pool"), k, n_queries, seed, progress)
    record_recall(directory, index.factory, search_params, k, n_queries, seed, value)
    return value
