"""Build time, search time and recall@k of index factories against exact search, in one run.

The numbers behind `auto_factory`'s thresholds and the table in docs/index.md:

    .venv/bin/python bench/index_recall.py --n 1000000 --dim 256 --queries 100 --k 100

Queries are rows of the indexed data searched with their own row excluded, which is how SEALS
queries the index (labeled pool rows looking for their neighbours). Recall is tie-tolerant: a
returned row counts as a hit when its exact similarity reaches Flat's k-th best.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.index import RerankedIndex, auto_factory, build_index
from sealsearch.index.rerank import split_rerank

DEFAULT_FACTORIES = ["Flat", "HNSW32", "IVF1024,SQ8", "IVF4096,PQ32", "LSH"]
FAISS_DEFAULT_BLAS_THRESHOLD = 128_000


def clustered_unit_vectors(n: int, dim: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """Unit vectors around n/1000 cluster centres, spread along a shared 32-dim subspace.

    Isotropic Gaussian clusters in 256 dimensions make every neighbour almost equidistant, so no
    index could beat chance on them; a 32-dim intrinsic spread gives neighbourhoods with real
    structure. It is harder for IVF than clean clusters would be (neighbours cross cells), so
    treat the recall figures as a comparison between factories, not a promise for real data.
    """
    return clustered_dataset(n, dim, seed, chunk)[0]


def clustered_dataset(n: int, dim: int, seed: int, chunk: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """`clustered_unit_vectors` plus each row's cluster: a cluster of ~0.1% of the rows is a
    ready-made rare concept for bench/seals_vs_all.py."""
    rng = np.random.default_rng(seed)
    n_clusters = max(16, n // 1000)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    basis = rng.standard_normal((32, dim)).astype(np.float32) / np.sqrt(np.float32(32))
    out = np.empty((n, dim), dtype=np.float32)
    assignment = rng.integers(n_clusters, size=n)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        block = centres[assignment[start : start + m]]
        block += 1.5 * rng.standard_normal((m, 32), dtype=np.float32) @ basis
        block += 0.3 * rng.standard_normal((m, dim), dtype=np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out, assignment


def best_time(fn, repeats: int) -> float:
    """Best of a few runs: the first search also pays for page faults and thread start-up."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def recall_at_k(data: np.ndarray, queries: np.ndarray, ids: np.ndarray, kth_exact: np.ndarray) -> float:
    found = ids >= 0
    exact = np.einsum("qd,qkd->qk", queries, data[np.where(found, ids, 0)])
    hits = found & (exact >= kth_exact[:, None] - 1e-5)
    return float(hits.sum() / ids.size)


def blas_threshold_effect(store: EmbeddingStore, queries: np.ndarray, k: int, repeats: int) -> None:
    index = build_index(store, np.arange(store.n), "Flat")
    lowered = faiss.cvar.distance_compute_blas_threshold
    for label, value in (("faiss default", FAISS_DEFAULT_BLAS_THRESHOLD), ("sealsearch", lowered)):
        faiss.cvar.distance_compute_blas_threshold = value
        seconds = best_time(lambda: index.search(queries, k), repeats)
        print(f"Flat search, distance_compute_blas_threshold={value} ({label}): {seconds * 1000:.1f} ms")
    faiss.cvar.distance_compute_blas_threshold = lowered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="rows to index")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=100, help="query batch size (labeled rows per round)")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--factories", nargs="+", default=DEFAULT_FACTORIES, help="index_factory strings")
    parser.add_argument("--repeats", type=int, default=3, help="search repeats; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--search-params", help='Faiss ParameterSpace string for every factory, e.g. "nprobe=64"')
    parser.add_argument(
        "--blas-threshold",
        action="store_true",
        help="also time Flat with Faiss's default distance_compute_blas_threshold against the lowered one",
    )
    args = parser.parse_args()

    data = clustered_unit_vectors(args.n, args.dim, args.seed)
    store = EmbeddingStore(data)
    rng = np.random.default_rng(args.seed + 1)
    query_rows = rng.choice(args.n, size=args.queries, replace=False)
    queries = data[query_rows]
    print(
        f"n={args.n} dim={args.dim} queries={args.queries} k={args.k} threads={faiss.omp_get_max_threads()} "
        f"faiss={faiss.__version__} auto_factory -> {auto_factory(args.n, args.dim)}"
    )
    if args.blas_threshold:
        blas_threshold_effect(store, queries, args.k, args.repeats)

    exact = build_index(store, np.arange(args.n), "Flat")
    flat_seconds = best_time(lambda: exact.search(queries, args.k, exclude=query_rows), args.repeats)
    _, exact_sims = exact.search(queries, args.k, exclude=query_rows)
    kth_exact = exact_sims[:, -1]
    print(f"Flat baseline (ground truth, speed-ups divide by it): {flat_seconds * 1000:.1f} ms")

    print(f"| factory | build s | search ms ({args.queries} queries) | recall@{args.k} | speed-up vs Flat |")
    print("|---|---:|---:|---:|---:|")
    built = {}  # "X" and "X,Rerank4" search the same stored index: build it once
    for factory in args.factories:
        base, rerank = split_rerank(factory)
        if base not in built:
            start = time.perf_counter()
            built[base] = (
                build_index(store, np.arange(args.n), base, seed=args.seed, search_params=args.search_params),
                time.perf_counter() - start,
            )
        index, build_seconds = built[base]
        if rerank is not None:
            index = RerankedIndex(index, store, rerank)
        seconds = best_time(lambda index=index: index.search(queries, args.k, exclude=query_rows), args.repeats)
        ids, _ = index.search(queries, args.k, exclude=query_rows)
        recall = recall_at_k(data, queries, ids, kth_exact)
        print(
            f"| {factory} | {build_seconds:.1f} | {seconds * 1000:.1f} | {recall:.3f} | "
            f"{flat_seconds / seconds:.1f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
