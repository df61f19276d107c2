"""A dataset's kNN index and graph: the index layer's functions, given a dataset's pool split.

`sealsearch.index` knows embeddings, row numbers and directories only; a dataset fixes all three
(`dataset.embeddings`, the pool split, `dataset.index_dir`), so these wrappers are all that ties the
two together. Only the pool split is ever indexed, so test rows can never enter a candidate pool.

`open_knn` also makes the kNN source of a run explicit: a graph on disk used to switch a run to
graph mode silently; now a caller says "graph", "index" or "auto" (use a graph when one fits) and
learns which one it got, so results can record it.
"""

from __future__ import annotations

from pathlib import Path

import sealsearch.index as index_layer
import sealsearch.index.graph as graphs
from sealsearch._util import Progress, check_name
from sealsearch.data.codes import PoolCodes, Sq8Codes, decide_codes
from sealsearch.data.dataset import Dataset
from sealsearch.data.embeddings import CHUNK_ROWS
from sealsearch.errors import InvalidDataError, InvalidParameterError
from sealsearch.index import DEFAULT_BACKEND, RECALL_K, RECALL_QUERIES, KnnIndex
from sealsearch.index.graph import KnnGraph
from sealsearch.index.ivf_graph import DEFAULT_PROBE
from sealsearch.index.shared_codes import IndexCodes, has_precise_codes

KNN_SOURCES = ("auto", "graph", "index")
"""How a run finds neighbours: "graph" (a stored kNN graph, refused when none fits), "index"
(search the index every round) or "auto" (the graph when one with k >= the pool's k exists)."""


def open_or_build_index(
    dataset: Dataset,
    factory: str = "auto",
    *,
    backend: str = DEFAULT_BACKEND,
    uri: str | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    search_params: str | None = None,
) -> KnnIndex:
    """The index over the dataset's pool split, built on first use and reused afterwards (stored
    under `DATASET/index/<factory>/`; with backend="milvus" in Milvus at `uri`, by default
    milvus-lite in `DATASET/index/milvus.db`; see `sealsearch.index.open_or_build_rows_index`)."""
    return index_layer.open_or_build_rows_index(
        dataset.embeddings, dataset.split_rows("pool"), dataset.index_dir, factory,
        backend=backend, uri=uri, progress=progress, seed=seed, search_params=search_params,
    )  # fmt: skip


def index_recall(
    dataset: Dataset,
    knn_index: KnnIndex,
    *,
    search_params: str | None = None,
    k: int = RECALL_K,
    n_queries: int = RECALL_QUERIES,
    seed: int = 0,
    progress: Progress | None = None,
) -> float:
    """recall@k of the dataset's index, measured once and remembered in its meta.json."""
    return index_layer.index_recall(
        knn_index, dataset.embeddings, dataset.index_dir,
        search_params=search_params, k=k, n_queries=n_queries, seed=seed, progress=progress,
    )  # fmt: skip


def graph_paths(dataset: Dataset, factory: str, k: int) -> tuple[Path, Path]:
    """(array file, description file) of the dataset's graph of `factory` with k columns."""
    return graphs.graph_paths(dataset.index_dir, factory, k)


def open_graph(dataset: Dataset, factory: str, k: int) -> KnnGraph:
    """The finished graph of `factory` with exactly k columns over the current pool split and vectors."""
    return KnnGraph.open(dataset.index_dir, dataset.split_rows("pool"), factory, k, store=dataset.embeddings)


def find_graph(dataset: Dataset, factory: str, k: int) -> KnnGraph | None:
    """The smallest finished graph of `factory` over the current pool split and vectors with at least k columns."""
    return graphs.find_graph(dataset.index_dir, dataset.split_rows("pool"), factory, k, store=dataset.embeddings)


def build_knn_graph(
    dataset: Dataset,
    knn_index: KnnIndex,
    k: int,
    *,
    method: str = "auto",
    probe: int = DEFAULT_PROBE,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
    device: str = "cuda",
    threads: int = 0,
) -> KnnGraph:
    """Store every pool row's k neighbours beside the dataset's index (`seals index graph`);
    `device` is for method "torch" only, `threads` for "ivf-lists" (0: every core)."""
    return graphs.build_knn_graph(
        dataset.embeddings, dataset.split_rows("pool"), dataset.index_dir, knn_index, k,
        method=method, probe=probe, chunk_rows=chunk_rows, progress=progress, device=device, threads=threads,
    )  # fmt: skip


def graph_recall(
    dataset: Dataset,
    graph: KnnGraph,
    *,
    n_queries: int = RECALL_QUERIES,
    seed: int = 0,
    progress: Progress | None = None,
) -> float:
    """Tie-tolerant recall@k of the graph against exact neighbours on a seeded sample of pool rows."""
    return graphs.graph_recall(dataset.embeddings, graph, n_queries=n_queries, seed=seed, progress=progress)


def check_knn(knn: str) -> str:
    """`knn` when it is one of KNN_SOURCES; else an error with a suggestion."""
    return check_name(knn, KNN_SOURCES, "kNN source (knn)", param="knn")


def resolve_knn(dataset: Dataset, factory: str, k: int, knn: str = "auto") -> tuple[KnnGraph | None, str]:
    """(graph or None, "graph" | "index") for a pool with k neighbours searched with the index of
    `factory` (the resolved factory, e.g. `index.factory`). "graph" without a graph of k columns or
    more is refused, naming the command that builds one."""
    check_knn(knn)
    if knn == "index":
        return None, "index"
    graph = find_graph(dataset, factory, k)
    if graph is None and knn == "graph":
        stale = graphs.stale_graph(
            dataset.index_dir, dataset.split_rows("pool"), factory, k, store=dataset.embeddings
        )  # fmt: skip
        if stale is not None:  # one is there but stale: say why, not "there is none"
            raise InvalidDataError(stale)
        raise InvalidParameterError(
            f"knn='graph' needs a kNN graph of index {factory!r} with k >= {k} for {dataset.path}, and there is "
            f"none; build it with `seals index graph {dataset.path} --factory {factory} --k {k}` or use knn='index'"
        )
    return graph, "graph" if graph is not None else "index"


def open_knn(
    dataset: Dataset,
    factory: str = "auto",
    k: int = 100,
    knn: str = "auto",
    *,
    knn_index: KnnIndex | None = None,
    progress: Progress | None = None,
) -> tuple[KnnIndex, KnnGraph | None, str]:
    """(index, graph or None, source) for a SEALS pool with k neighbours: the index of `factory`
    (opened or built, unless `knn_index` is given) and, by `knn`, the graph to look neighbours up
    in. source is "graph" or "index": what a run records as its kNN source."""
    check_knn(knn)
    if knn_index is None:
        knn_index = open_or_build_index(dataset, factory, progress=progress)
    graph, source = resolve_knn(dataset, knn_index.factory, k, knn)
    return knn_index, graph, source


def open_codes(
    dataset: Dataset,
    codes: str = "auto",
    *,
    knn_index: KnnIndex | None = None,
    available_bytes: int | None = None,
) -> PoolCodes | None:
    """The codes a seals pool over `dataset` scores on, by `codes`: "index" shares the codes of
    `knn_index` (`IndexCodes`: no second copy), "sq8" opens the dataset's SQ8 codes (built first
    if missing or stale: one pass over the file), "none" gives None (the exact buffer), and
    "auto" is `sealsearch.data.codes.choose_codes` on the file, the memory and whether
    `knn_index` has precise codes to share."""
    path = dataset.path / "embeddings.npy"
    mode = decide_codes(codes, path, available_bytes=available_bytes, index_codes=has_precise_codes(knn_index))
    if mode == "none":
        return None
    if mode == "index":
        if knn_index is None:
            raise InvalidParameterError('codes "index" needs the kNN index; open it first', params=["codes"])
        return IndexCodes(knn_index, dataset.embeddings.n)
    return Sq8Codes.open_or_build(dataset.embeddings, path)
