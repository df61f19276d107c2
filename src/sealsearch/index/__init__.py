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

from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError
from sealsearch.index.faiss_backend import FaissIndex
from sealsearch.store import Dataset, EmbeddingStore, Progress

__all__ = [
    "KnnIndex",
    "FaissIndex",
    "auto_factory",
    "build_index",
    "load_index",
    "open_or_build_index",
    "index_dir_name",
    "EXACT_MAX_BYTES",
    "GRAPH_MAX_BYTES",
]

# Thresholds of `auto_factory`, on the size of the pool's float32 matrix (n * dim * 4 bytes),
# because both the cost of an exact scan and the memory of HNSW (which keeps every vector) grow
# with it. See docs/index.md for the measurements behind them.
EXACT_MAX_BYTES = 200_000 * 256 * 4  # ~205 MB: 200k rows at d=256, 400k at d=128
GRAPH_MAX_BYTES = 20_000_000 * 256 * 4  # ~20 GB: 20M rows at d=256


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
    - n*dim*4 <= 20.5 GB (20M rows at d=256): "HNSW32". Search time barely grows with n while
      Flat's grows linearly (1M x 256: HNSW32 40 ms at recall 0.83 vs Flat 0.45 s, after a
      224 s build); it keeps the full float32 vectors plus the graph
      (~1.3 KB per row at d=256), which is why it stops here.
    - above: "IVF{nlist},SQ8" with nlist = 4*sqrt(n) rounded to a power of two. SQ8 stores one
      byte per dimension (4x less than HNSW); recall depends on nprobe and the data (0.91 for
      IVF1024 at 200k, 0.71 for IVF4096 at 1M with nprobe=16), so tune nprobe at that scale.

    LSH, the index the paper used, is available as "LSH" but never chosen: its recall@100 is
    ~0.54 at 200k x 256.
    """
    if n <= 0 or dim <= 0:
        raise InvalidParameterError(f"auto_factory needs n > 0 and dim > 0, got n={n}, dim={dim}")
    size = n * dim * 4
    if size <= EXACT_MAX_BYTES:
        return "Flat"
    if size <= GRAPH_MAX_BYTES:
        return "HNSW32"
    nlist = 2 ** round(math.log2(4 * math.sqrt(n)))
    return f"IVF{nlist},SQ8"


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
    return FaissIndex.build(store, rows, factory, seed=seed, progress=progress, search_params=search_params)


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
    Test rows are never indexed, so they can never enter a candidate pool.
    """
    pool = dataset.split_rows("pool")
    if factory == "auto":
        factory = auto_factory(len(pool), dataset.info.dim)
    directory = dataset.index_dir / index_dir_name(factory)
    try:
        saved = FaissIndex.load(directory, search_params=search_params)
    except (MissingFileError, InvalidDataError):
        saved = None
    if (
        saved is not None
        and (saved.factory, saved.ntotal, saved.dim) == (factory, len(pool), dataset.info.dim)
        and np.array_equal(saved.rows, pool)
    ):
        return saved
    index = FaissIndex.build(
        dataset.embeddings, pool, factory, seed=seed, progress=progress, search_params=search_params
    )
    index.save(directory)
    return index
