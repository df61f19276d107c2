"""kNN indexes: `seals index build`, `seals index graph`."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from sealsearch.cli import options as opt
from sealsearch.cli.options import Backend, DatasetArg, Factory, IndexType, RegistryHelp, Uri, index_factory
from sealsearch.cli.output import out, progress_bar, user_errors

app = opt.Typer()
index_app = opt.Typer(help="Build kNN indexes (reused by every concept).", no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("build", cls=RegistryHelp)
@user_errors
def index_build(
    dataset_dir: DatasetArg,
    factory: Factory = "auto",
    backend: Backend = "faiss",
    uri: Uri = None,
    index_type: IndexType = None,
) -> None:
    """Build (or reuse) the kNN index over the dataset's pool split and report its recall."""
    from sealsearch.active.knn import index_recall, open_or_build_index
    from sealsearch.data.dataset import Dataset
    from sealsearch.index import RECALL_K, RECALL_QUERIES

    factory = index_factory(factory, index_type, backend)
    dataset = Dataset.open(dataset_dir)
    with progress_bar(f"indexing ({factory})") as progress:
        index = open_or_build_index(dataset, factory, backend=backend, uri=uri, progress=progress)
    name = index.factory if backend == "faiss" else index.describe()
    where = f"under {dataset.index_dir}" if backend == "faiss" else f"in {getattr(index, 'uri', '?')}"
    out.print(f"index {name}: {index.ntotal} vectors of dim {index.dim} {where}")
    with progress_bar("exact search for recall") as progress:
        recall = index_recall(dataset, index, progress=progress)
    out.print(f"recall@{RECALL_K} vs exact search on {min(RECALL_QUERIES, index.ntotal)} pool rows: {recall:.3f}")


GraphK = Annotated[
    int,
    typer.Option(
        min=1, max=opt.COUNT_MAX, help="Neighbours stored per pool row; runs with k up to this use the graph."
    ),
]
GraphChunk = Annotated[
    int,
    typer.Option(
        min=1, max=opt.COUNT_MAX, help="Pool rows per chunk of the search method; progress is saved after each."
    ),
]
GraphMethod = Annotated[
    str,
    typer.Option(
        help='"ivf-lists" (IVF only), "search", "hnsw" (an HNSW index of the pool rows searched for every row: '
        'cost per row grows with log N), "torch" (exact, on --device; needs the text extra), or "auto": '
        "ivf-lists when it can, hnsw when the probe it needs makes each row cost over 1.2e7 multiply-adds "
        "(probe x rows per list x dim)."
    ),
]
GraphProbe = Annotated[
    int,
    typer.Option(
        min=0,
        max=opt.COUNT_MAX,
        help="ivf-lists: neighbours come from this many lists nearest each row's; 0 (default) picks the "
        "smallest whose recall, predicted from exact neighbours of a sample of the pool, reaches 0.95.",
    ),
]
GraphDevice = Annotated[str, typer.Option(help='--method torch: the torch device, e.g. "cuda" or "cpu".')]


@index_app.command("graph")
@user_errors
def index_graph(
    dataset_dir: DatasetArg,
    k: GraphK = 100,
    factory: Factory = "auto",
    chunk: GraphChunk = 65536,
    method: GraphMethod = "auto",
    probe: GraphProbe = 0,
    device: GraphDevice = "cuda",
) -> None:
    """Find every pool row's k neighbours once (resumable), so SEALS rounds look them up instead."""
    from sealsearch.active.knn import build_knn_graph, graph_recall, open_or_build_index
    from sealsearch.data.dataset import Dataset
    from sealsearch.index import RECALL_QUERIES

    dataset = Dataset.open(dataset_dir)
    with progress_bar(f"indexing ({factory})") as progress:
        index = open_or_build_index(dataset, factory, progress=progress)
    starts: list[int] = []  # rows done at each progress call; the first is where this build began
    started = time.perf_counter()
    with progress_bar(f"kNN graph ({index.factory}, k={k})") as bar:

        def progress(done: int, total: int) -> None:
            starts.append(done)
            bar(done, total)

        graph = build_knn_graph(
            dataset, index, k, method=method, probe=probe, chunk_rows=chunk, progress=progress, device=device
        )
    built, seconds = graph.rows.size - starts[0], time.perf_counter() - started
    how = graph.method + (f", probe {graph.probe}" if graph.probe else "")
    out.print(f"kNN graph {graph.factory}, k={graph.k} ({how}): {graph.rows.size:,} pool rows in {graph.path}")
    out.print(
        f"built {built:,} rows in {seconds:.1f} s ({built / seconds:,.0f} rows/s)" if built else "reused as built"
    )
    with progress_bar("recall vs exact") as progress:
        recall = graph_recall(dataset, graph, progress=progress)
    sample = min(RECALL_QUERIES, graph.rows.size)
    out.print(f"recall@{graph.k} vs exact neighbours on {sample} pool rows: {recall:.3f}")
