"""kNN-graph build: "ivf-lists" (one exact product per inverted list) against "search", on the same rows.

    PYTHONPATH=src .venv/bin/python bench/graph_build.py DATASET --factory IVF1024,SQ8 --lists 100

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--factory", default="IVF1024,SQ8")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--probe", type=int, default=8)
    parser.add_argument("--lists", type=int, default=100, help="lists to build with ivf-lists")
    parser.add_argument("--chunk", type=int, default=8192, help="rows per search chunk")
    args = parser.parse_args()

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
