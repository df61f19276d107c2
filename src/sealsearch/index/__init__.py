"""The kNN index SEALS restricts its candidate pool with.

SEALS only ever asks one question of the index: "which k pool rows are nearest to these labeled
rows?" (paper, section 3). `KnnIndex` (base.py) is that question and nothing more, so a backend
(backends.py: "faiss", or "milvus" chosen by a URI) is free to be exact or approximate. An index is built once per set
of rows and factory, stored under `<directory>/<factory>/`, and reused by every concept and every
run (paper: "the embeddings and index can be generated once ... the approach just one of many
applications using the index").

This package knows embeddings, row numbers and directories, never a dataset folder: the dataset
conveniences (`open_or_build_index(dataset, factory)`, `find_graph(dataset, ...)`) live in
`sealsearch.active.knn`, which passes `(dataset.embeddings, pool rows, dataset.index_dir)` to
`open_or_build_rows_index` here. (This layer's function was also called `open_or_build_index`
until 0.x; that name still works, with a DeprecationWarning, for one release.)
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from pathlib import Path

import numpy as np

from sealsearch._util import Progress
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError
from sealsearch.index.backends import (
    BACKENDS,
    DEFAULT_BACKEND,
    IndexBackend,
    backend_at,
    backend_names,
    get_backend,
    register_backend,
    saved_backend,
)
from sealsearch.index.base import IvfLists, KnnIndex
from sealsearch.index.faiss import FaissIndex
from sealsearch.index.freshness import FRESH, record_source, source_state, stale_reason
from sealsearch.index.recall import RECALL_K, RECALL_QUERIES, measure_recall, record_recall, recorded_recall
from sealsearch.index.rerank import RerankedIndex, split_rerank

__all__ = [
    "KnnIndex",
    "IvfLists",
    "FaissIndex",
    "RerankedIndex",
    "IndexBackend",
    "BACKENDS",
    "DEFAULT_BACKEND",
    "get_backend",
    "backend_at",
    "backend_names",
    "register_backend",
    "auto_factory",
    "build_index",
    "load_index",
    "open_or_build_rows_index",
    "index_dir_name",
    "index_path",
    "index_recall",
    "measure_recall",
    "EXACT_MAX_BYTES",
    "RECALL_K",
    "RECALL_QUERIES",
    "GRAPH_MAX_BYTES",
    "SQ8_MAX_BYTES",
]

log = logging.getLogger(__name__)

# Thresholds of `auto_factory`, on the size of the pool's float32 matrix (n * dim * 4 bytes):
# the cost of an exact scan, HNSW's build time and memory all grow with it. The aim is an index
# that fits in 16 GB of RAM and builds in minutes on 2 cores; docs/index.md has the measurements.
EXACT_MAX_BYTES = 200_000 * 256 * 4  # ~205 MB: 200k rows at d=256, 400k at d=128
GRAPH_MAX_BYTES = 1_000_000 * 256 * 4  # ~1 GB: 1M rows at d=256 (HNSW32's build: minutes)
GRAPH_MAX_ROWS = 1_000_000  # at small d, HNSW's per-insertion graph search still grows with n
SQ8_MAX_BYTES = 8 * 1024**3  # SQ8 codes (n * dim bytes) up to 8 GB, half the RAM budget
IVF_MAX_LISTS = 4096  # adding n rows costs n * nlist distances: 4096 lists keep 10^7 rows at minutes
SQ8_RERANK = 2  # SQ8 similarities are off by ~0.01: re-scoring 2k candidates fixes the k-th place
PQ_RERANK = 4  # PQ similarities are coarse: recall needs 4k candidates re-scored


def auto_factory(n: int, dim: int) -> str:
    """The factory string to use for n rows of dimension dim when the user does not choose.

    Chosen on the size of the float32 matrix (n*dim*4 bytes), which sets the cost of an exact scan
    and HNSW's build time and memory (measured with bench/index_recall.py; the numbers are in
    docs/index.md):

    - up to EXACT_MAX_BYTES: "Flat". Exact and nothing to build; an approximate index would save
      little per round for a one-off build and lost recall.
    - up to GRAPH_MAX_BYTES and GRAPH_MAX_ROWS: "HNSW32". Its search time barely grows with n
      while Flat's grows linearly, but its build grows a little faster than linearly.
    - SQ8 codes (n*dim bytes) up to SQ8_MAX_BYTES: "IVF{nlist},SQ8,Rerank2", nlist = 4*sqrt(n)
      rounded to a power of two, at most IVF_MAX_LISTS (more lists make adding rows slow). One
      byte per dimension; re-ranking 2k candidates exactly against the memory-mapped vectors
      removes the codes' error.
    - above: "IVF{nlist},PQ{m},Rerank4" with m = the largest divisor of dim up to dim/8 (32 at
      d=256); re-ranking 4k candidates brings recall close to what the probed lists contain.

    IVF recall is bounded by the lists probed (nprobe=16 by default): measure it on your data
    (`seals index build` reports it) and raise nprobe if needed. LSH, the index the paper used,
    is available as "LSH" but never chosen: its recall is far below the others'.
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


def index_path(directory: Path, factory: str, backend: str = DEFAULT_BACKEND) -> Path:
    """Where the index of `factory` over some rows is stored under `directory` (a dataset's index/).

    A ",Rerank<f>" suffix changes only how the stored index is searched, so "IVF4096,PQ32,Rerank4"
    and "IVF4096,PQ32" share `directory/IVF4096_PQ32/`. Another backend's index of the same factory
    lives in `directory/<backend>-<factory>/` (Milvus: its meta.json and rows.npy).
    """
    name = index_dir_name(split_rerank(factory)[0])
    return Path(directory) / (name if backend == DEFAULT_BACKEND else f"{backend}-{name}")


def build_index(
    store: EmbeddingStore,
    rows: np.ndarray,
    factory: str = "auto",
    *,
    backend: str = DEFAULT_BACKEND,
    uri: str | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    search_params: str | None = None,
) -> KnnIndex:
    """Index the given rows of the store with `backend` (at `uri` for Milvus); search returns those
    row numbers.

    `search_params` overrides the search-time defaults (efSearch=128, nprobe=16), e.g. "nprobe=32".
    """
    builder = backend_at(backend, uri)
    rows = np.asarray(rows)
    if factory == "auto":
        factory = auto_factory(len(rows), store.dim)
    base, rerank = split_rerank(factory)
    index = builder.build(store, rows, base, seed=seed, progress=progress, search_params=search_params)
    return index if rerank is None else RerankedIndex(index, store, rerank)


def load_index(directory: Path, *, search_params: str | None = None) -> KnnIndex:
    """Open an index written by `KnnIndex.save`, with the backend its meta.json names."""
    directory = Path(directory)
    return get_backend(saved_backend(directory)).load(directory, search_params=search_params)


def open_or_build_rows_index(
    store: EmbeddingStore,
    rows: np.ndarray,
    directory: Path,
    factory: str = "auto",
    *,
    backend: str = DEFAULT_BACKEND,
    uri: str | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    search_params: str | None = None,
) -> KnnIndex:
    """The index of `factory` over `rows` of `store`, stored under `directory`, built on first use.

    `backend="milvus"` keeps the vectors in Milvus at `uri` (default: milvus-lite in
    `directory/milvus.db`) and its meta.json under `index_path(directory, factory, "milvus")`.

    The saved index (`index_path(directory, factory)`) is reused when its backend, factory, size,
    dimension and row list match and it records the store's fingerprint (freshness.py: an index
    of rows since shuffled or re-embedded, or of an older sealsearch that recorded none, is
    rebuilt, with a warning); otherwise (first use, changed rows, an interrupted save) it is
    rebuilt and replaced. A ",Rerank<f>" suffix wraps the stored index in a `RerankedIndex`.
    For a dataset's pool use `sealsearch.open_or_build_index(dataset, factory)`.
    """
    builder = backend_at(backend, uri, Path(directory))
    rows = np.asarray(rows, dtype=np.int64)
    if factory == "auto":
        factory = auto_factory(len(rows), store.dim)
    base, rerank = split_rerank(factory)
    path = index_path(directory, base, backend)
    try:
        index = builder.load(path, search_params=search_params) if saved_backend(path) == backend else None
    except (MissingFileError, InvalidDataError):
        index = None
    if index is not None and (state := source_state(path, store)) != FRESH:
        log.warning("rebuilding the index: %s", stale_reason(path, state))
        index = None
    if index is None or not (
        (index.factory, index.ntotal, index.dim) == (base, len(rows), store.dim) and np.array_equal(index.rows, rows)
    ):
        index = builder.build(store, rows, base, seed=seed, progress=progress, search_params=search_params)
        index.save(path)
        record_source(path, store)
    return index if rerank is None else RerankedIndex(index, store, rerank)


def index_recall(
    index: KnnIndex,
    store: EmbeddingStore,
    directory: Path,
    *,
    search_params: str | None = None,
    k: int = RECALL_K,
    n_queries: int = RECALL_QUERIES,
    seed: int = 0,
    progress: Progress | None = None,
) -> float:
    """recall@k of an index from `open_or_build_rows_index(store, rows, directory, ...)` over its own rows,
    measured once.

    The value is stored in the index's meta.json under the factory (re-ranking included), the
    search params and k/n_queries/seed, so reopening the same index reports it without another
    exact pass over the rows; a rebuild writes a fresh meta.json. A "Flat" index is exact: 1.0.
    """
    base, _ = split_rerank(index.factory)
    if base == "Flat":
        return 1.0
    path = index_path(directory, base, index.backend)
    known = recorded_recall(path, index.factory, search_params, k, n_queries, seed)
    if known is not None:
        return known
    value = measure_recall(index, store, index.rows, k, n_queries, seed, progress)
    record_recall(path, index.factory, search_params, k, n_queries, seed, value)
    return value


def _deprecated_open_or_build_index(store: EmbeddingStore, *args: object, **kwargs: object) -> KnnIndex:
    """`open_or_build_rows_index` under its old name, which `sealsearch.open_or_build_index(dataset,
    factory)` also has: a dataset passed here is refused in one line naming the right function."""
    warnings.warn(
        "sealsearch.index.open_or_build_index is renamed open_or_build_rows_index (the old name goes in the next "
        "release); for a dataset use sealsearch.open_or_build_index(dataset, factory)",
        DeprecationWarning,
        stacklevel=2,
    )
    if not isinstance(store, EmbeddingStore):
        raise InvalidParameterError(
            "sealsearch.index.open_or_build_rows_index takes (store, rows, directory, factory); "
            "for a dataset call sealsearch.open_or_build_index(dataset, factory)"
        )
    return open_or_build_rows_index(store, *args, **kwargs)  # type: ignore[arg-type]


def __getattr__(name: str) -> object:
    if name == "open_or_build_index":  # the old name, kept for one release (see the module docstring)
        return _deprecated_open_or_build_index
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
