"""Latent structure of concepts: how a concept's positives hang together in the kNN graph (paper §4.4).

SEALS only ever scores the k nearest neighbours of labeled items, so it can find a positive only
by walking kNN edges from the positives it already has. The paper therefore measures, per concept
and k, the kNN graph of the concept's positives (edge u→v when v is one of u's k nearest pool
neighbours and also a positive): the largest connected component says how much of the concept
SEALS can reach, the average shortest path inside it how many rounds exploring it takes, and
SEALS scored higher AP on concepts with larger components and shorter paths (Figs. 3 and 11).

"Connected" is *weakly* connected: the paper speaks of "connected components" of the kNN graph,
not strongly connected ones, i.e. it treats kNN edges as links regardless of direction, and path
lengths are therefore counted on the undirected graph too (a directed path need not exist
between two members of a weak component).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, shortest_path

from sealsearch._util import Progress
from sealsearch.active.knn import open_or_build_index
from sealsearch.data.dataset import Dataset
from sealsearch.errors import InvalidParameterError
from sealsearch.index import KnnIndex

LATENT_COLUMNS = ["concept", "k", "n_positive", "lc_size", "lc_frac", "mean_path"]
"""Columns of latent.parquet; `seals report` joins them with AP results, so they are a contract."""

PATH_SOURCES = 256
"""BFS sources per component. Exact all-pairs BFS costs |LC| × |edges|; above this many members a
seeded sample of sources estimates the mean (its standard error is tiny next to the spread across
concepts that the CDFs show) and keeps a 10^5-member component affordable."""

QUERY_CHUNK = 4096  # positives searched at once: bounds the (chunk, k) int64 result of a k=1000 search
DISTANCE_CELLS = 1 << 22  # BFS sources run together so their distance rows stay ~32 MB


@dataclass(frozen=True)
class ComponentStats:
    """The largest weakly connected component of a graph: its size, and the mean unweighted
    shortest-path length between its members (NaN when it has fewer than two)."""

    lc_size: int
    mean_path: float


def largest_component_stats(
    n_nodes: int, src: np.ndarray, dst: np.ndarray, *, max_sources: int = PATH_SOURCES, seed: int = 0
) -> ComponentStats:
    """Stats of the largest weakly connected component of the directed graph with edges src→dst
    on nodes 0..n_nodes-1 (ties between equally large components go to the one holding the lowest
    node). The mean path is over ordered pairs of distinct members on the undirected graph; with
    more than `max_sources` members it is the mean from a seeded sample of `max_sources` sources."""
    if n_nodes == 0:
        return ComponentStats(0, math.nan)
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    graph = coo_matrix((np.ones(src.size, dtype=bool), (src, dst)), shape=(n_nodes, n_nodes)).tocsr()
    _, labels = connected_components(graph, directed=True, connection="weak")
    members = np.flatnonzero(labels == np.argmax(np.bincount(labels)))
    size = int(members.size)
    if size < 2:
        return ComponentStats(size, math.nan)
    component = graph[members][:, members]
    sources = np.arange(size)
    if size > max_sources:
        sources = np.sort(np.random.default_rng(seed).choice(size, size=max_sources, replace=False))
    chunk = max(1, DISTANCE_CELLS // size)
    total = 0.0
    for start in range(0, sources.size, chunk):
        distances = shortest_path(
            component, method="D", directed=False, unweighted=True, indices=sources[start : start + chunk]
        )
        total += float(distances.sum())  # all finite: one component; the zero to itself adds nothing
    return ComponentStats(size, total / (sources.size * (size - 1)))


def knn_edges(neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges u→neighbours[u, j] of an (n, k) matrix of node ids where -1 means "no edge"."""
    n, k = neighbours.shape
    src = np.repeat(np.arange(n, dtype=np.int64), k)
    dst = neighbours.ravel().astype(np.int64)
    keep = dst >= 0
    return src[keep], dst[keep]


def positive_neighbours(dataset: Dataset, index: KnnIndex, positives: np.ndarray, k: int) -> np.ndarray:
    """(n, k) int32: for each of the sorted pool `positives`, its k nearest pool rows (best first)
    as positions in `positives`, or -1 where the neighbour is not a positive."""
    local = np.full((positives.size, k), -1, dtype=np.int32)
    for start in range(0, positives.size, QUERY_CHUNK):
        rows = positives[start : start + QUERY_CHUNK]
        ids, _ = index.search(dataset.embeddings.take(rows), k, exclude=rows)
        at = np.minimum(np.searchsorted(positives, ids), positives.size - 1)
        hit = (ids >= 0) & (positives[at] == ids)
        local[start : start + rows.size] = np.where(hit, at, -1)
    return local


def check_ks(ks: Iterable[int], pool_size: int) -> list[int]:
    """Sorted distinct ks, each a neighbour count the pool can supply."""
    values = sorted({int(k) for k in ks})
    if not values:
        raise InvalidParameterError("give at least one k, e.g. k 10,100,1000", params=["k"])
    if values[0] <= 0:
        raise InvalidParameterError(f"every k must be positive, got {values[0]}", params=["k"])
    if values[-1] >= pool_size:
        raise InvalidParameterError(
            f"k {values[-1]} must be below the pool size ({pool_size} rows), since a row's neighbours "
            "are the other pool rows; lower k",
            params=["k"],
        )
    return values


def latent_structure(
    dataset: Dataset,
    concepts: Sequence[str],
    ks: Iterable[int],
    *,
    index: KnnIndex | None = None,
    factory: str = "auto",
    max_sources: int = PATH_SOURCES,
    seed: int = 0,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """One row per (concept, k) with `LATENT_COLUMNS`: the concept's pool positives, the size of
    the largest weakly connected component of their kNN graph (count and fraction of them) and the
    mean shortest path inside it (see `largest_component_stats`). Neighbours are searched once per
    concept at the largest k and sliced for the smaller ones. The index (opened or built from
    `factory` unless given) covers the pool split only, so test rows are never nodes or neighbours.
    """
    if not concepts:
        raise InvalidParameterError("concepts is empty: give at least one concept", params=["concepts"])
    ks = check_ks(ks, dataset.split_rows("pool").size)
    for name in concepts:
        dataset.concept_rows(name)  # an unknown concept fails before any index is built
    if index is None:
        index = open_or_build_index(dataset, factory)
    records = []
    for done, name in enumerate(concepts, start=1):
        positives = dataset.rows_in_split(dataset.concept_rows(name), "pool")  # sorted
        neighbours = positive_neighbours(dataset, index, positives, ks[-1])
        for k in ks:
            stats = largest_component_stats(
                positives.size, *knn_edges(neighbours[:, :k]), max_sources=max_sources, seed=seed
            )
            lc_frac = stats.lc_size / positives.size if positives.size else math.nan
            records.append((name, k, positives.size, stats.lc_size, lc_frac, stats.mean_path))
        if progress:
            progress(done, len(concepts))
    table = pd.DataFrame.from_records(records, columns=LATENT_COLUMNS)
    return table.astype({"k": "int64", "n_positive": "int64", "lc_size": "int64", "lc_frac": "float64"})


def summarize_latent(table: pd.DataFrame) -> pd.DataFrame:
    """Per k, the medians over concepts of the pool positives, LC fraction and mean path (the
    middle of Fig. 3's CDFs)."""
    return (
        table.groupby("k")
        .agg(n_positive=("n_positive", "median"), lc_frac=("lc_frac", "median"), mean_path=("mean_path", "median"))
        .reset_index()
    )
