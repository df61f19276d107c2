"""The kNN graph from an HNSW index searched for every pool row: a cost per row that grows
with log N, not with N.

The "ivf-lists" build is exact within the lists it probes, so its cost per row is the probed
share of the pool: on synthetic clusters 2 of 1,024 lists reach recall 0.99, but real
embeddings have no clusters for the lists to follow, and GloVe's 400k words needed 579 of 2,048
lists for 0.95 (bench/RESULTS.md): ~28% of an all-pairs pass, which grows with N per row. An HNSW
graph (Faiss `IndexHNSWFlat`, inner product) is built once over the pool rows (each insertion
is a search of about `EF_CONSTRUCTION` candidates over log N layers) and then searched for
every row, a block of rows per call, on every core Faiss may use; neither step depends on how
the data clusters. The index is saved beside the graph before the first row is searched, so an
interrupted build resumes with the same index and the rows not yet searched.

`choose_method` decides between the two from the probe that the ivf-lists build would need
(predicted from a sample: `choose_probe`): exact BLAS products are 4x faster per row than HNSW
at 2·10^5 GloVe rows, but their work per row grows with N.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from sealsearch._util import Progress, single_threaded_blas
from sealsearch.data.embeddings import CHUNK_ROWS, EmbeddingStore
from sealsearch.index.base import KnnIndex, keep_best

M = 32
"""Links per node (Faiss's HNSW32): 2·M int32 links a row on level 0, 256 B."""
EF_CONSTRUCTION = 80
EF_SEARCH_MIN = 256
"""Candidates kept per search: at least this, and at least 2·(k + 1). With k = 100 on GloVe
400k × 50 this gave recall@100 0.96-0.97 (bench/graph_build.py, bench/RESULTS.md)."""
SEARCH_ROWS = 4096
"""Pool rows per search call (and per checkpoint): one call keeps every core busy."""
HNSW_WORK = 12_000_000
"""`choose_method`: the ivf-lists build compares each row with probe × (pool rows / nlist)
candidate rows, d multiply-adds each, in BLAS products; HNSW is cheaper beyond this many
(candidates × d) per row. Measured on GloVe 2·10^5 × 50, k = 100, 2 loaded cores
(bench/RESULTS.md): ivf-lists at probe 590 of 2,048 (57,600 candidates) took 167 µs a row,
hnsw 692 µs a row, so they break even near 240,000 candidates × 50 dimensions. ivf-lists' work
per row grows with N at a fixed probed share; HNSW's does not."""


def choose_method(probe: int, nlist: int, n_rows: int, dim: int) -> str:
    """ "hnsw" when the ivf-lists build at `probe` of `nlist` lists would do more than HNSW_WORK
    multiply-adds per row (probe × n_rows / nlist candidates of `dim` dimensions), else "ivf-lists"."""
    work = probe * n_rows / max(nlist, 1) * dim
    return "hnsw" if work > HNSW_WORK else "ivf-lists"


def ef_search(k: int) -> int:
    return max(EF_SEARCH_MIN, 2 * (k + 1))


def open_or_build_hnsw(store: EmbeddingStore, pool: np.ndarray, path: Path, progress: Progress | None = None):
    """The HNSW index over the `pool` rows (position i = pool row i) saved at `path`, or built
    (rows added a chunk at a time from the store) and saved there first."""
    if path.is_file():
        index = faiss.read_index(str(path))
        if index.ntotal == pool.size and index.d == store.dim:
            return index
    index = faiss.IndexHNSWFlat(store.dim, M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    for start in range(0, pool.size, CHUNK_ROWS * 4):
        with single_threaded_blas():
            index.add(np.ascontiguousarray(store.take(pool[start : start + CHUNK_ROWS * 4]), dtype=np.float32))
        if progress:
            progress(0, pool.size)
    tmp = path.with_suffix(".tmp")
    faiss.write_index(index, str(tmp))
    tmp.replace(path)
    return index


def hnsw_search(index, pool: np.ndarray, k: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A `fill_by_search` search over the HNSW index of the `pool` rows: k + 1 found, own row dropped."""
    index.hnsw.efSearch = ef_search(k)
    fetch = min(k + 1, pool.size)

    def search(rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        _, found = index.search(np.ascontiguousarray(vectors, dtype=np.float32), fetch)
        neighbours = np.where(found >= 0, pool[np.maximum(found, 0)], -1)
        return keep_best(neighbours, None, (found >= 0) & (neighbours != rows[:, None]), k)[0]

    return search


def graph_searcher(
    store: EmbeddingStore, pool: np.ndarray, index: KnnIndex, k: int, hnsw: Path | None, progress: Progress | None
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """search(rows, vectors) -> ids: `index` itself (the "search" build), or, given the `hnsw`
    path, an HNSW index of the pool rows opened or built there (the "hnsw" build)."""
    if hnsw is not None:
        return hnsw_search(open_or_build_hnsw(store, pool, hnsw, progress), pool, k)

    def search(rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        # One BLAS thread, as in the loop: a Flat chunk over 10^6 x 64 ran 13x faster so on 2 busy cores.
        with single_threaded_blas():
            return index.search(vectors, k, exclude=rows)[0]

    return search


def fill_by_search(
    store: EmbeddingStore,
    pool: np.ndarray,
    search: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ids: np.ndarray,
    rows_done: int,
    chunk_rows: int,
    checkpoint: Callable[[int], None],
    progress: Progress | None = None,
) -> None:
    """Fill graph rows `rows_done`.. (rows of the sorted `pool`) with `search(rows, vectors)`
    (their k neighbours, own row excluded), `chunk_rows` at a time; after each chunk the ids are
    flushed and then `checkpoint(rows_done)` records it, so only rows on disk are counted."""
    while rows_done < pool.size:
        rows = pool[rows_done : rows_done + chunk_rows]
        ids[rows_done : rows_done + rows.size] = search(rows, store.take(rows))
        ids.flush()
        rows_done += rows.size
        checkpoint(rows_done)
        if progress:
            progress(rows_done, pool.size)
