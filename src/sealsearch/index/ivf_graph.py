"""The kNN graph of an IVF index from its inverted lists: one matrix product per list, not one
search per row.

Searching every pool row one by one repeats, for each row, the coarse quantizer and a scan of
`nprobe` lists that its list-mates scan too. Rows of one list are close together, so they share
one set of candidates instead: the rows of the `probe` lists whose centroids are nearest to the
list's own (the list itself included). Their exact inner products with all the list's rows are
one BLAS product, and Faiss's `knn` keeps the top k of each row in C++ (heaps over blocks of the
product, so memory stays at the list's vectors). Measured at 10^6 × 256 (900 rows per list,
probe 8, 2 busy cores): 0.08 s per list with one BLAS thread, against 0.21 s for the same product
with numpy's argpartition, which dominated it; reading the ~7,200 candidate vectors with
`EmbeddingStore.take` took ~0.01 s, so lists are read again for each list probing them rather
than cached.

The graph is exact within the probed lists: with probe = nlist it is the exact kNN graph, and
rows near a list boundary lose the neighbours in lists beyond the probed ones. That makes its
recall predictable without building anything: a sampled row's exact neighbour is found exactly
when the neighbour's list is among the lists its own list probes, so one exact pass for a sample
gives the recall of every probe at once (`probe_recall`), and `choose_probe` takes the smallest
probe that reaches the target. The probe needed depends on the data far more than on its size:
synthetic clusters reach 0.99 at probe 2 (10^6 × 256, IVF1024), GloVe WordNet needs ~128 of
1,024 lists and WordNet × MiniLM ~256 (bench/graph_probe.py, bench/RESULTS.md). Refining a cheaper
graph instead (one neighbour-of-neighbour join per list) was measured and not kept: per second it
bought no more recall than a larger probe.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import faiss
import numpy as np

from sealsearch._util import Progress, single_threaded_blas
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.scan import default_workers
from sealsearch.index.base import IvfLists, keep_best
from sealsearch.index.recall import RECALL_QUERIES, TIE_TOLERANCE, exact_neighbours, sample_queries

AUTO_PROBE = 0
"""`probe` value asking `choose_probe` to pick the probe from the data (the default)."""
DEFAULT_PROBE = AUTO_PROBE
PROBE_TARGET = 0.95
"""Recall@k that `choose_probe` asks of the graph: the lower end of the sample's one-sided 95%
confidence interval must reach it."""
CONFIDENCE_Z = 1.645
PROBE_SEED = 1
"""choose_probe samples other rows than `graph_recall` (seed 0), so the recall printed after a
build checks the choice instead of repeating it."""
TIE_ROWS = 16
"""Exact neighbours kept beyond the k-th, so rows tied with it (within TIE_TOLERANCE) count as hits."""
CHECKPOINT_SECONDS = 10.0
"""How often the list build flushes the graph and records its progress: flushing after every list
rewrote each 4 KB page of a 10^7-row graph ~10 times (its rows are scattered over the lists)."""


class IvfGraphBuilder:
    """The neighbours of the rows of one inverted list at a time, among `probe` nearby lists."""

    def __init__(self, store: EmbeddingStore, lists: IvfLists, probe: int):
        self.store = store
        self.lists = lists
        self.probe = min(int(probe), lists.nlist)
        self._centroids = np.asarray(lists.centroids, dtype=np.float32)
        # Nearness as the quantizer sees it. For L2: -|a - b|^2 = 2 a.b - |b|^2 - |a|^2, where
        # |a|^2 is the same for every b and is left out.
        self._scale = 1.0 if lists.inner_product else 2.0
        self._offset = 0.0 if lists.inner_product else -np.sum(self._centroids**2, axis=1)

    def list_rows(self, cell: int) -> np.ndarray:
        """Dataset rows of list `cell`."""
        return self.lists.members[self.lists.offsets[cell] : self.lists.offsets[cell + 1]]

    def probe_order(self, cell: int) -> np.ndarray:
        """Every list, nearest to list `cell`'s centroid first, `cell` itself first of all (ties
        broken by list number, so the order, and the graph, never depend on the sort)."""
        nearness = self._scale * (self._centroids @ self._centroids[cell]) + self._offset
        nearness[cell] = np.inf
        return np.argsort(-nearness, kind="stable")

    def probed(self, cell: int) -> np.ndarray:
        """The `probe` lists whose centroids are nearest to list `cell`'s, `cell` first."""
        return self.probe_order(cell)[: self.probe]

    def neighbours(self, cell: int, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows of list `cell`, their (n, k) int64 neighbour rows best first, -1 padded), each
        row's own row excluded as `FaissIndex.search` excludes it. With `rows` (some rows of the
        list), only those rows' neighbours."""
        queries = self.list_rows(cell) if rows is None else np.asarray(rows, dtype=np.int64)
        if queries.size == 0:
            return queries, np.full((0, k), -1, dtype=np.int64)
        candidates = np.concatenate([self.list_rows(other) for other in self.probed(cell)])
        vectors = self.store.take(candidates)  # the list's own rows come first: they are the queries
        query_vectors = vectors[: queries.size] if rows is None else self.store.take(queries)
        fetch = min(k + 1, candidates.size)  # one extra, for the row itself
        with single_threaded_blas():
            _, found = faiss.knn(query_vectors, vectors, fetch, metric=faiss.METRIC_INNER_PRODUCT)
        ids = np.where(found >= 0, candidates[found], -1)
        ids, _ = keep_best(ids, None, (ids >= 0) & (ids != queries[:, None]), k)
        return queries, ids


def probe_recall(
    store: EmbeddingStore, lists: IvfLists, k: int, *, n_queries: int = RECALL_QUERIES, seed: int = PROBE_SEED
) -> np.ndarray:
    """(queries, nlist) recall@k of each sampled pool row in the graph built with probe 1..nlist
    (column p - 1 for probe p), from one exact pass for the sample and no graph build.

    Within its probed lists the build is exact, so a row's neighbours are the k best of those
    lists' rows: with g of its exact neighbours (rows at least as similar as the exact k-th, less
    TIE_TOLERANCE, as `recall_of` counts hits) in the probed lists, it finds min(g, k) of them.
    """
    rows = np.sort(lists.members)
    k = min(int(k), rows.size - 1)
    if k <= 0:
        return np.ones((0, lists.nlist))
    queries = sample_queries(rows, n_queries, seed)
    keep = min(k + TIE_ROWS, rows.size - 1)
    sims, ids = exact_neighbours(store, rows, queries, store.gather(queries), keep)
    good = (ids >= 0) & (sims >= sims[:, k - 1 : k] - TIE_TOLERANCE)
    cell_of = np.repeat(np.arange(lists.nlist), np.diff(lists.offsets))[np.argsort(lists.members, kind="stable")]
    query_cells = cell_of[np.searchsorted(rows, queries)]
    builder = IvfGraphBuilder(store, lists, lists.nlist)
    rank = np.empty((queries.size, lists.nlist), dtype=np.int32)  # rank[q, c]: where query q's list probes c
    for cell in np.unique(query_cells):
        rank[np.ix_(query_cells == cell, builder.probe_order(int(cell)))] = np.arange(lists.nlist)
    which, column = np.nonzero(good)
    needs = rank[which, cell_of[np.searchsorted(rows, ids[which, column])]]  # probe that reaches each
    found = np.zeros((queries.size, lists.nlist), dtype=np.int32)
    np.add.at(found, (which, needs), 1)
    return np.minimum(np.cumsum(found, axis=1), k) / k


def choose_probe(
    store: EmbeddingStore,
    lists: IvfLists,
    k: int,
    *,
    target: float = PROBE_TARGET,
    n_queries: int = RECALL_QUERIES,
    seed: int = PROBE_SEED,
) -> tuple[int, dict[int, float]]:
    """The smallest probe whose recall@k reaches `target` on a sample of the pool (the lower end
    of its 95% confidence interval), and the sampled recall at the powers of two below it and at
    itself.

    The build costs about probe/nlist of an exact all-pairs pass, so the probe is measured, not
    assumed: synthetic clusters need 2, real embeddings 64-256 of 1,024 lists (module docstring).
    """
    per_row = probe_recall(store, lists, k, n_queries=n_queries, seed=seed)
    if per_row.shape[0] == 0:
        return 1, {}
    mean = per_row.mean(axis=0)
    spread = per_row.std(axis=0, ddof=1) / np.sqrt(per_row.shape[0]) if per_row.shape[0] > 1 else 0.0
    reached = np.flatnonzero(mean - CONFIDENCE_Z * spread >= target - 1e-12)
    probe = int(reached[0]) + 1 if reached.size else lists.nlist
    shown = [p for p in (2**i for i in range(probe.bit_length())) if p < probe] + [probe]
    return probe, {p: float(mean[p - 1]) for p in shown}


def fill_from_lists(
    builder: IvfGraphBuilder,
    pool: np.ndarray,
    ids: np.ndarray,
    lists_done: int,
    rows_done: int,
    checkpoint: Callable[[int, int], None],
    progress: Progress | None = None,
    threads: int = 0,
) -> None:
    """Fill the graph rows (`ids`, rows of the sorted `pool`) of lists `lists_done`.. in list
    order, `threads` lists at a time (0: every core this process may use). Every
    CHECKPOINT_SECONDS, and at the end, flushes `ids` and calls `checkpoint(lists_done,
    rows_done)`, so the caller records only progress that is on disk; `progress` follows.

    Each list is one BLAS product and one Faiss k-selection, both outside the GIL, so threads
    use the cores without copying the vectors into processes; BLAS and Faiss run one thread each
    meanwhile, so `threads` is the number of busy cores.
    """
    workers = max(1, int(threads) or default_workers())
    cells = iter(range(lists_done, builder.lists.nlist))
    k = ids.shape[1]
    saved, last = lists_done, time.monotonic()

    def save() -> None:
        nonlocal saved, last
        ids.flush()
        checkpoint(lists_done, rows_done)
        saved, last = lists_done, time.monotonic()
        if progress:
            progress(rows_done, pool.size)

    omp_threads = faiss.omp_get_max_threads()
    executor = ThreadPoolExecutor(workers, thread_name_prefix="ivf-lists")
    try:
        with single_threaded_blas():
            faiss.omp_set_num_threads(1)
            pending = deque(executor.submit(builder.neighbours, cell, k) for cell in islice(cells, 2 * workers))
            while pending:
                rows, found = pending.popleft().result()
                following = next(cells, None)
                if following is not None:
                    pending.append(executor.submit(builder.neighbours, following, k))
                lists_done += 1
                if rows.size:  # an empty list reports no progress
                    ids[np.searchsorted(pool, rows)] = found
                    rows_done += rows.size
                    if time.monotonic() - last >= CHECKPOINT_SECONDS:
                        save()
            if saved < lists_done:
                save()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        faiss.omp_set_num_threads(omp_threads)
