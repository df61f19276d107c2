"""kNN-graph mode: graph build rate, and SealsPool.update per 100 new labels with the graph vs the index.

    .venv/bin/python bench/graph_mode.py --n 1000000 --dim 64 --factory IVF1024,SQ8 --max-rows 32768

The dataset (bench/seals_vs_all.py's clustered data) and its index are written under --work and
reused. The graph is built with `build_knn_graph`; --max-rows stops it after that many pool rows
(the build is resumable, so a later run continues it) and the update timings then label rows
from the part already searched, through a `KnnGraph` over those rows. Both pools receive the same
batches of random pool rows, so they do the same work apart from where the neighbours come from.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np
from seals_vs_all import synthetic_dataset

from sealsearch._util import single_threaded_blas
from sealsearch.active.knn import build_knn_graph, graph_paths, open_or_build_index
from sealsearch.active.pools import SealsPool
from sealsearch.index.graph import KnnGraph, NeighbourSource


class EnoughRows(Exception):
    """Stops the graph build once the rows to measure were searched."""


def build_rate(dataset, index, k: int, chunk: int, max_rows: int | None) -> tuple[int, float]:
    """(rows searched in this call, rows per second)."""
    marks: list[tuple[int, float]] = []

    def progress(done: int, total: int) -> None:
        marks.append((done, time.perf_counter()))
        if max_rows is not None and done - marks[0][0] >= max_rows and done < total:
            raise EnoughRows

    with contextlib.suppress(EnoughRows):
        build_knn_graph(dataset, index, k, method="search", chunk_rows=chunk, progress=progress)
    rows, seconds = marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1]
    return rows, rows / seconds if seconds else float("nan")


def searched_part(dataset, factory: str, k: int) -> KnnGraph:
    """The graph over the pool rows searched so far (all of them once the build has finished)."""
    path, meta_path = graph_paths(dataset, factory, k)
    done = json.loads(meta_path.read_text())["rows_done"]
    ids = np.load(path, mmap_mode="r")[:done]
    return KnnGraph(ids, dataset.split_rows("pool")[:done], factory, path)


def update_seconds(pool: SealsPool, batches: list[np.ndarray]) -> np.ndarray:
    seconds = []
    for batch in batches:
        start = time.perf_counter()
        with single_threaded_blas():  # as ActiveLoop.tell calls it
            pool.update(batch)
        seconds.append(time.perf_counter() - start)
    return np.array(seconds)


def neighbour_seconds(source: NeighbourSource, dataset, k: int, batches: list[np.ndarray]) -> np.ndarray:
    """The step graph mode replaces, alone: the neighbours of one batch (the rest of update is bookkeeping)."""
    seconds = []
    for batch in batches:
        vectors = dataset.embeddings.take(batch)
        start = time.perf_counter()
        with single_threaded_blas():
            source.neighbours(batch, vectors, k)
        seconds.append(time.perf_counter() - start)
    return np.array(seconds)


def report(label: str, batch: int, with_index: np.ndarray, with_graph: np.ndarray) -> None:
    for name, seconds in (("index", with_index), ("graph", with_graph)):
        print(
            f"{label} per {batch} new labels, {name}: median {np.median(seconds) * 1000:7.2f} ms, "
            f"mean {seconds.mean() * 1000:7.2f} ms over {seconds.size} rounds"
        )
    print(f"  speed-up (median): {np.median(with_index) / np.median(with_graph):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--factory", default="IVF1024,SQ8")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=8192)
    parser.add_argument("--max-rows", type=int, default=None, help="stop the graph build after this many rows")
    parser.add_argument("--rounds", type=int, default=20, help="batches of --batch new labels to time")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("seals-data/bench"))
    args = parser.parse_args()

    dataset = synthetic_dataset(args.work / f"clusters-{args.n}x{args.dim}", args.n, args.dim, 3, args.seed)
    index = open_or_build_index(dataset, args.factory)
    rows, rate = build_rate(dataset, index, args.k, args.chunk, args.max_rows)
    print(f"n={args.n} dim={args.dim} pool={index.ntotal} index={index.factory} k={args.k} chunk={args.chunk}")
    print(f"graph build: {rows} rows searched at {rate:,.0f} rows/s (~{index.ntotal / rate / 60:.1f} min for the pool)")

    graph = searched_part(dataset, index.factory, args.k)
    rng = np.random.default_rng(args.seed)
    labeled = rng.choice(graph.rows, size=args.rounds * args.batch, replace=False)
    batches = np.split(labeled, args.rounds)
    index_pool = SealsPool(dataset.embeddings, index, args.k)
    graph_pool = SealsPool(dataset.embeddings, index, args.k, graph=graph)
    with_index, with_graph = update_seconds(index_pool, batches), update_seconds(graph_pool, batches)
    report("SealsPool.update", args.batch, with_index, with_graph)
    same = np.array_equal(index_pool.candidates(), graph_pool.candidates())
    print(f"  pools identical: {same} ({graph_pool.size} candidates after {labeled.size} labels)")
    report(
        "neighbours only",
        args.batch,
        neighbour_seconds(NeighbourSource(index), dataset, args.k, batches),
        neighbour_seconds(NeighbourSource(index, graph), dataset, args.k, batches),
    )


if __name__ == "__main__":
    main()
