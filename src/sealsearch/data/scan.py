"""Scoring many rows with bounded memory on every core: the All baseline and `seals predict`.

A *row function* maps a block of vectors to one value per vector, each value depending on its
own row only (a model's P(positive), a dot product). A row function with a `subset` method
(`SubsetRowFunction`: the fused scores of sealsearch.active.fused) is handed the whole block
and the positions of the rows wanted in it, so it can skip work on the others and, when it
prunes, count only rows that are candidates. That lets a scan cut the rows into blocks,
score the blocks on several threads (numpy and BLAS release the GIL; the loop keeps BLAS itself
at one thread per call, see threads.py) and never hold more than a few blocks: a 10 GB memory
map is scored without a copy of it.

Rows read from the store take the cheaper of two reads per block. When the block's rows fill
most of their range of the file (a split's rows, minus a scattered test split or a few labeled
rows), the whole range is scored straight from the memory map, a view that copies nothing, and
the rows' values are picked out; scoring ~10% extra rows costs less than gathering the rest.
Sparse blocks are gathered row by row. Ranges made an All round's scoring several times faster
than the large gathers they replaced (bench/scan_blocks.py; measured in bench/RESULTS.md,
"Moved from docstrings").
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from sealsearch._util import Progress
from sealsearch.data.embeddings import EmbeddingStore

BLOCK_BYTES = 4 << 20
"""float32 bytes per block (4,096 rows at d = 256): two blocks in flight sit in the 32 MB L3
cache; smaller blocks pay the model's per-call overhead, larger ones gain nothing
(bench/scan_blocks.py; bench/RESULTS.md, "Moved from docstrings")."""

DENSE_FILL = 0.5
"""A block is read as one range of the file when its rows are at least this share of the range."""

RowFunction = Callable[[np.ndarray], np.ndarray]
"""float32 vectors (n × d) -> n values; a row's value may not depend on the other rows."""


class SubsetRowFunction(Protocol):
    """A row function that can also score some rows of a block: `subset(vectors, keep, span)` is
    `f(vectors)[keep]` (keep None: every row), where `span` = (start, stop) says which values of
    the scan's output these are (None when unknown); a pruning function (`pruned(m)`) may give
    -inf to rows that cannot be among the m best of the whole scan, and read per-row hints it
    was given at those positions."""

    def __call__(self, vectors: np.ndarray) -> np.ndarray: ...

    def subset(
        self, vectors: np.ndarray, keep: np.ndarray | None, span: tuple[int, int] | None = None
    ) -> np.ndarray: ...

    def pruned(self, m: int) -> SubsetRowFunction: ...


def apply_rows(
    score: RowFunction, vectors: np.ndarray, keep: np.ndarray | None, span: tuple[int, int] | None = None
) -> np.ndarray:
    """`score(vectors)[keep]` (every row when keep is None), through `subset` when it has one."""
    subset = getattr(score, "subset", None)
    if subset is not None:
        return subset(vectors, keep, span)
    return score(vectors) if keep is None else score(vectors)[keep]


def prune_to(score: RowFunction, m: int | None) -> RowFunction:
    """`score.pruned(m)` when the score can prune and m is given, else `score` itself: values of
    rows outside the m best (score descending, lower position first) may then be -inf."""
    pruned = getattr(score, "pruned", None)
    return score if m is None or pruned is None else pruned(int(m))


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

    def run(start: int) -> int:
        stop = min(start + block, n)
        out[start:stop] = score_block(start, stop)
        return stop - start

    workers = min(workers or default_workers(), len(starts))
    if workers <= 1:
        for start in starts:
            run(start)
            if progress:
                progress(min(start + block, n), n)
        return out
    _run_on_threads(starts, run, workers, n, progress)
    if progress:
        progress(n, n)
    return out


def _run_on_threads(starts: range, run: Callable[[int], int], workers: int, n: int, progress: Progress | None) -> None:
    """`run(start)` (returning the rows it did) for every start on `workers` threads.

    At most `workers` blocks in flight: each worker takes the next start from one iterator, so
    a 10^7-row scan is `workers` tasks, not 2,441 futures. This thread is one of the workers: a
    small scan (a SEALS buffer, ~1 ms) then never waits for a pool thread to be scheduled on a
    busy machine, and a helper that has not started when the blocks run out is cancelled."""
    todo = iter(starts)
    lock = threading.Lock()
    finished = [0]
    failed = [False]

    def worker(report: Progress | None = None) -> None:
        last = time.monotonic()
        while not failed[0]:
            with lock:
                start = next(todo, None)
            if start is None:
                return
            try:
                done = run(start)
            except BaseException:
                failed[0] = True
                raise
            with lock:
                finished[0] += done
            if report and time.monotonic() - last > 0.5:  # a progress bar, not a callback per block
                last = time.monotonic()
                report(finished[0], n)

    helpers = [shared_executor().submit(worker) for _ in range(workers - 1)]
    try:
        worker(progress)
    finally:
        for helper in helpers:
            if not helper.cancel():
                helper.result()


def score_matrix(
    matrix: np.ndarray,
    score: RowFunction,
    *,
    rows: np.ndarray | None = None,
    block: int | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """A row function over an in-memory float32 matrix (a pool's candidate buffer), block by
    block; over `rows` of it only (ascending positions, aligned with them) when given."""
    block = block or block_rows(matrix.shape[1])
    if rows is None:
        return map_blocks(matrix.shape[0], block, lambda start, stop: score(matrix[start:stop]), workers=workers)
    return _score_some(matrix, lambda wanted: matrix[wanted], np.asarray(rows, dtype=np.int64), score, block,
                       workers, None)  # fmt: skip


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
    return _score_some(store.vectors, store.take, np.asarray(rows, dtype=np.int64), score, block, workers, progress)


def _score_some(
    matrix: np.ndarray,
    take: Callable[[np.ndarray], np.ndarray],
    rows: np.ndarray,
    score: RowFunction,
    block: int,
    workers: int | None,
    progress: Progress | None,
) -> np.ndarray:
    def score_block(start: int, stop: int) -> np.ndarray:
        wanted = rows[start:stop]
        low, high = int(wanted.min()), int(wanted.max()) + 1
        if wanted.size < DENSE_FILL * (high - low):
            return apply_rows(score, _as_float32(take(wanted)), None, (start, stop))
        whole = wanted.size == high - low and bool(np.all(wanted[1:] > wanted[:-1]))  # the range, in order
        return apply_rows(score, _as_float32(matrix[low:high]), None if whole else wanted - low, (start, stop))

    return map_blocks(rows.size, block, score_block, workers=workers, progress=progress)


def _as_float32(vectors: np.ndarray) -> np.ndarray:
    # A float32 slice of the memory map stays a view: nothing is copied until a model reads it.
    return np.asarray(vectors, dtype=np.float32)
