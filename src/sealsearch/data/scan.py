"""Scoring many rows with bounded memory on every core: the All baseline and `seals predict`.

A *row function* maps a block of vectors to one value per vector, each value depending on its
own row only (a model's P(positive), a dot product). That lets a scan cut the rows into blocks,
score the blocks on several threads (numpy and BLAS release the GIL; the loop keeps BLAS itself
at one thread per call, see threads.py) and never hold more than a few blocks: a 10 GB memory
map is scored without a copy of it.

Rows read from the store take the cheaper of two reads per block. When the block's rows fill
most of their range of the file (a split's rows, minus a scattered test split or a few labeled
rows), the whole range is scored straight from the memory map, a view that copies nothing, and
the rows' values are picked out; scoring ~10% extra rows costs less than gathering the rest.
Sparse blocks are gathered row by row. Measured at 10^6 × 256 (bench/scan_blocks.py, 2 busy
cores, page cache warm): MaxEnt over the 900k pool rows took 0.58 s with the 262k-row gathers
this replaced, 0.21 s as 4 MB ranges.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from sealsearch._util import Progress
from sealsearch.data.embeddings import EmbeddingStore

BLOCK_BYTES = 4 << 20
"""float32 bytes per block (4,096 rows at d = 256): two blocks in flight sit in the 32 MB L3
cache. Measured at 10^6 × 256 (bench/scan_blocks.py): 1 MB blocks took 2× longer (per-call
overhead of the model), 4, 16 and 64 MB the same."""

DENSE_FILL = 0.5
"""A block is read as one range of the file when its rows are at least this share of the range."""

RowFunction = Callable[[np.ndarray], np.ndarray]
"""float32 vectors (n × d) -> n values; a row's value may not depend on the other rows."""


def block_rows(dim: int) -> int:
    """Rows per block for vectors of this dimension."""
    return max(1, BLOCK_BYTES // (4 * max(1, int(dim))))


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def shared_executor() -> ThreadPoolExecutor:
    """One thread pool for every scan of the process (a round used to start and join a fresh
    pool per scan). Its threads only ever run block functions, which never submit work to it,
    so the pool cannot deadlock on itself."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(default_workers(), thread_name_prefix="sealsearch-scan")
        return _executor


def map_blocks(
    n: int,
    block: int,
    score_block: Callable[[int, int], np.ndarray],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """`score_block(start, stop)` for consecutive blocks of range(n), run on `workers` threads,
    written into one float64 array. Each block writes its own slice, so the result does not
    depend on which thread ran what."""
    out = np.empty(n, dtype=np.float64)
    starts = range(0, n, max(1, int(block)))

    def run(start: int) -> None:
        stop = min(start + block, n)
        out[start:stop] = score_block(start, stop)

    workers = min(workers or default_workers(), len(starts))
    if workers <= 1:
        for start in starts:
            run(start)
            if progress:
                progress(min(start + block, n), n)
        return out
    # At most `workers` blocks in flight: each task takes the next start from one iterator, so a
    # 10^7-row scan is `workers` tasks, not 2,441 futures. Progress is reported from this thread.
    todo = iter(starts)
    lock = threading.Lock()
    finished = [0]

    def worker() -> None:
        while True:
            with lock:
                start = next(todo, None)
            if start is None:
                return
            run(start)
            with lock:
                finished[0] += min(start + block, n) - start

    futures = [shared_executor().submit(worker) for _ in range(workers)]
    while progress and wait(futures, timeout=0.5).not_done:
        progress(finished[0], n)
    for future in futures:
        future.result()
    if progress:
        progress(n, n)
    return out


def score_matrix(
    matrix: np.ndarray, score: RowFunction, *, block: int | None = None, workers: int | None = None
) -> np.ndarray:
    """A row function over an in-memory float32 matrix (a pool's candidate buffer), block by block."""
    block = block or block_rows(matrix.shape[1])
    return map_blocks(matrix.shape[0], block, lambda start, stop: score(matrix[start:stop]), workers=workers)


def score_rows(
    store: EmbeddingStore,
    rows: np.ndarray | range | None,
    score: RowFunction,
    *,
    block: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """A row function over `rows` of the store (every row when None), aligned with them.

    A `range` (step 1) is a span of the file, read as views like the whole store. Rows in
    ascending order make the blocks dense ranges of the file (see the module docstring); any
    order is correct.
    """
    block = block or block_rows(store.dim)
    if isinstance(rows, range) and rows.step != 1:
        rows = np.asarray(rows, dtype=np.int64)
    if rows is None or isinstance(rows, range):
        span = range(store.n) if rows is None else rows
        first = span.start
        return map_blocks(
            len(span), block, lambda start, stop: score(_as_float32(store.vectors[first + start : first + stop])),
            workers=workers, progress=progress,
        )  # fmt: skip
    rows = np.asarray(rows, dtype=np.int64)

    def score_block(start: int, stop: int) -> np.ndarray:
        wanted = rows[start:stop]
        low, high = int(wanted.min()), int(wanted.max()) + 1
        if wanted.size < DENSE_FILL * (high - low):
            return score(store.take(wanted))
        return score(_as_float32(store.vectors[low:high]))[wanted - low]

    return map_blocks(rows.size, block, score_block, workers=workers, progress=progress)


def _as_float32(vectors: np.ndarray) -> np.ndarray:
    # A float32 slice of the memory map stays a view: nothing is copied until a model reads it.
    return np.asarray(vectors, dtype=np.float32)
