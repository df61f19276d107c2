"""Per-round cost of MaxEnt/MLP/ID × All/SEALS as N grows: does SEALS follow the labeled set, not the pool?

    .venv/bin/python bench/scaling.py --n 100000,1000000 --data-dir /work/data
    .venv/bin/python bench/scaling.py --n 100000,1000000 --data-dir /work/data --cold

Each N gets a synthetic dataset (`build_synthetic_dataset`, d = 256, 100 concepts, seed 0) built
under --data-dir on first use and reused. One concept per N is run with the paper's protocol
(5 + 95 seed, b = 100, T = 2,000, k = 100) by driving `ActiveLoop` ask/tell directly, so every
round is timed on its own (training + selection + kNN, from `loop.timings`) and, with --cold,
the embeddings file is evicted from the page cache before each round. SEALS uses the dataset's
kNN graph when one exists for its index (--graph builds it; --no-graph ignores it).

Results are resumable: each (N, strategy, pool, storage[, index, kNN mode]) run is written to its
own parquet file under DATA_DIR/scaling-results/T{budget}-b{batch}-k{k}-s{seed}/ and skipped
when present. The summary at the end reads every result file of the requested N and strategies
(warm and cold), prints the ratios the claim rests on against their goals, and writes all rounds
to rounds.csv (means per configuration to summary.csv) in that directory.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch.active.knn import build_knn_graph, find_graph, graph_paths, graph_recall, open_or_build_index
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool
from sealsearch.data.codes import Sq8Codes
from sealsearch.data.dataset import Dataset
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.datasets.synthetic import build_synthetic_dataset
from sealsearch.experiments.simulate import GroundTruthOracle, pick_concepts, seed_set
from sealsearch.index import KnnIndex, index_dir_name
from sealsearch.index.graph import KnnGraph

GOALS = {
    "selection_all_over_seals_1e7_cold": 100.0,  # at least
    "seals_round_1e7_over_1e5_graph": 1.5,  # at most
    "id_all_over_maxent_all": 2.0,  # at most
    "all_over_floor_ram": 2.0,  # at most
    "seals_over_floor": 3.0,  # at most
}


# -- data and index ------------------------------------------------------------------------


def synthetic(data_dir: Path, n: int, dim: int, seed: int, *, name: str | None = None, **options) -> Dataset:
    """The synthetic dataset of this size under data_dir, generated once (never the whole matrix in RAM)."""
    path = data_dir / (name or f"synthetic-{n}x{dim}-s{seed}")
    if (path / "dataset.json").is_file():
        return Dataset.open(path)
    print(f"generating {path} ({n:,} × {dim}) ...", flush=True)
    start = time.perf_counter()
    dataset = build_synthetic_dataset(path, n=n, dim=dim, seed=seed, **options)
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return dataset


def default_factory(n: int) -> str:
    """Exact below 10^6 rows; IVF with 8-bit codes above, nlist growing with N (never `auto`)."""
    if n < 1_000_000:
        return "Flat"
    return "IVF1024,SQ8" if n < 4_000_000 else "IVF4096,SQ8"


def parse_factories(items: list[str]) -> dict[int, str]:
    """--factory N=FACTORY (repeatable) overrides `default_factory` for that N."""
    out = {}
    for item in items:
        n, _, factory = item.partition("=")
        if not factory or not n.isdigit():
            raise SystemExit(f"--factory expects N=FACTORY (e.g. 1000000=IVF4096,SQ8), got {item!r}")
        out[int(n)] = factory
    return out


def open_index(dataset: Dataset, factory: str, search_params: str | None) -> KnnIndex:
    start = time.perf_counter()
    index = open_or_build_index(dataset, factory, search_params=search_params)
    print(f"  index {index.factory}: {index.ntotal:,} rows, ready in {time.perf_counter() - start:.1f} s", flush=True)
    return index


def build_graph(dataset: Dataset, index: KnnIndex, k: int) -> KnnGraph:
    """The kNN graph of the index (resumable: an interrupted build continues)."""
    start, last = time.perf_counter(), [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 30 or done == total:
            last[0] = now
            rate = done / max(now - start, 1e-9)
            print(f"  graph k={k}: {done:,}/{total:,} rows ({rate:,.0f} rows/s this call)", flush=True)

    graph = build_knn_graph(dataset, index, k, progress=progress)
    meta = json.loads(graph_paths(dataset, index.factory, k)[1].read_text())
    seconds = time.perf_counter() - start
    print(f"  graph {graph.method}, probe {graph.probe} (sampled recall by probe {meta.get('probe_recall')}); "
          f"{seconds:.0f} s this call; recall@{k} {graph_recall(dataset, graph):.3f}", flush=True)  # fmt: skip
    return graph


# -- storage ---------------------------------------------------------------------------------


def evict(store: EmbeddingStore, path: Path) -> None:
    """Drop the embeddings file from the page cache, so the next round reads it from disk.

    POSIX_FADV_DONTNEED skips pages that a process still maps, and the store memory-maps the
    file: measured, fadvise alone dropped 8 KB of a 1 GB file. Our own mapping's page-table
    entries are dropped first (MADV_DONTNEED on a read-only file mapping loses no data), and so are
    those of the second mapping `EmbeddingStore.gather` reads scattered rows through, once it
    exists: left mapped there, rows gathered in one round (re-ranked candidates) stayed cached.
    """
    scattered = store.__dict__.get("_scattered")  # created on the first gather, never by this call
    for mapping in (getattr(store.vectors, "_mmap", None), getattr(scattered, "base", None)):
        if isinstance(mapping, mmap.mmap):
            mapping.madvise(mmap.MADV_DONTNEED)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm(store: EmbeddingStore, chunk_rows: int = 65_536) -> None:
    """Read every row once through the store's own mapping: pages cached and mapped."""
    for start in range(0, store.n, chunk_rows):
        np.add.reduce(store.vectors[start : start + chunk_rows], axis=None)


def memory_bandwidth(gigabytes: float = 2.0, repeats: int = 3) -> dict[int, float]:
    """Read bandwidth in bytes/s of a float32 array in anonymous memory with 1 and 2 threads:
    the best of repeats of two pure reads, a sum and a max (numpy's pairwise sum is the slower
    one on one core here: a floor should be the fastest read there is)."""
    data = np.ones(int(gigabytes * 2**30) // 4, dtype=np.float32)
    step = 2**22  # 16 MB slices: far beyond the caches, few Python calls

    def part(view: np.ndarray, kernel: str) -> float:
        return sum(float(getattr(view[i : i + step], kernel)()) for i in range(0, view.size, step))

    out = {}
    for threads in (1, 2):
        parts = np.array_split(data, threads)
        best = float("inf")
        with ThreadPoolExecutor(threads) as workers:
            for _ in range(repeats):
                for kernel in ("sum", "max"):
                    start = time.perf_counter()
                    list(workers.map(part, parts, [kernel] * threads))
                    best = min(best, time.perf_counter() - start)
        out[threads] = data.nbytes / best
    return out


# -- one run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    budget: int = 2000
    batch: int = 100
    k: int = 100
    seed_pos: int = 5
    neg_ratio: int = 19
    seed: int = 0


def timed_run(
    dataset: Dataset,
    concept: str,
    strategy: str,
    pool_name: str,
    protocol: Protocol,
    *,
    index: KnnIndex | None,
    graph: KnnGraph | None,
    before_round: Callable[[], None] | None = None,
    codes: Sq8Codes | None = None,
) -> pd.DataFrame:
    """One simulated run, one row per round: seconds in training, selection and kNN, rows scored.

    Round 0 is the seed set (its kNN only); round r ≥ 1 trains on the labels so far, scores the
    candidates, labels the best `batch` and grows the pool. `before_round` runs outside the timers.
    """
    positives = dataset.concept_rows(concept)
    pool_rows = dataset.split_rows("pool")
    pool_positives = dataset.rows_in_split(positives, "pool")
    rng = np.random.default_rng(protocol.seed)
    seed = seed_set(pool_positives, pool_rows, protocol.seed_pos, protocol.neg_ratio, rng)
    pool = make_pool(
        pool_name, dataset.embeddings, pool_rows, index=index, graph=graph, k=protocol.k, rng=rng, codes=codes
    )
    loop = ActiveLoop(dataset.embeddings, pool, strategy=strategy, batch_size=protocol.batch, seed=protocol.seed)
    oracle = GroundTruthOracle(positives)
    rows = []
    while loop.n_labeled < protocol.budget and (loop.n_labeled == 0 or pool.size > 0):
        if before_round:
            before_round()
        scored = pool.size
        before = astuple(loop.timings)
        start = time.perf_counter()
        if loop.n_labeled == 0:
            scored = 0
            loop.tell(seed, oracle.label(seed))
        else:
            batch = loop.ask(min(protocol.batch, protocol.budget - loop.n_labeled))
            loop.tell(batch, oracle.label(batch.rows))
        wall = time.perf_counter() - start
        select, knn, train = np.subtract(astuple(loop.timings), before)
        rows.append(
            {
                "round": loop.round - 1,
                "n_labeled": loop.n_labeled,
                "n_positive": int(loop.labels.sum()),
                "recall": loop.labels.sum() / pool_positives.size,
                "scored": scored,
                "pool_size": pool.size,
                "t_select": select,
                "t_knn": knn,
                "t_train": train,
                "t_round": wall,
            }
        )
    return pd.DataFrame(rows)


# -- the benchmark -------------------------------------------------------------------------


def result_name(n: int, strategy: str, pool: str, storage: str, factory: str, knn: str) -> str:
    """All does not touch the index, so its file names no index or kNN mode."""
    if pool == "all":
        return f"n{n}_{strategy}_all_{storage}.parquet"
    return f"n{n}_{strategy}_{pool}_{storage}_{index_dir_name(factory)}_{knn}.parquet"


def save_atomic(table: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def run_size(args: argparse.Namespace, n: int, factory: str, protocol: Protocol, results: Path) -> None:
    storage = "cold" if args.cold else "warm"
    dataset = synthetic(args.data_dir, n, args.dim, args.seed)
    concept = pick_concepts(dataset, 1, seed_pos=50, min_test=0, seed=args.seed)[0]
    index = graph = None
    knn = "index"
    if "seals" in args.pools:
        index = open_index(dataset, factory, args.search_params)
        if args.graph or args.graph_only:
            build_graph(dataset, index, protocol.k)
        if args.graph_only:
            return
        graph = None if args.no_graph else find_graph(dataset, index.factory, protocol.k)
        knn = "graph" if graph is not None else "index"
    path = dataset.path / "embeddings.npy"
    codes = Sq8Codes.open_or_build(dataset.embeddings, path) if args.codes else None
    knn += "+sq8" if args.codes else ""
    for strategy in args.strategies:
        for pool in args.pools:
            out = results / result_name(n, strategy, pool, storage, factory, knn)
            if out.is_file():
                print(f"  {out.name}: done before, skipped", flush=True)
                continue
            if args.cold:
                hook = lambda: evict(dataset.embeddings, path)  # noqa: E731
            else:
                warm(dataset.embeddings)
                hook = None
            table = timed_run(
                dataset, concept, strategy, pool, protocol, index=index, graph=graph, before_round=hook,
                codes=codes if pool != "all" else None,
            )  # fmt: skip
            meta = {"n": n, "n_pool": dataset.split_rows("pool").size, "dim": dataset.info.dim, "concept": concept}
            meta |= {"strategy": strategy, "pool": pool, "storage": storage}
            meta |= {"factory": factory if pool != "all" else "", "knn": knn if pool != "all" else ""}
            table = table.assign(**meta)
            save_atomic(table, out)
            per_round = table[table["round"] > 0]
            print(
                f"  {strategy:6s} {pool:5s} {storage}: {per_round.t_round.mean() * 1000:8.1f} ms/round "
                f"(select {per_round.t_select.mean() * 1000:.1f}, kNN {per_round.t_knn.mean() * 1000:.1f}, "
                f"train {per_round.t_train.mean() * 1000:.1f}), recall {table.recall.iloc[-1]:.3f}, "
                f"pool {table.pool_size.iloc[-1]:,}",
                flush=True,
            )


def load_results(results: Path, sizes: list[int], strategies: list[str]) -> pd.DataFrame:
    tables = [pd.read_parquet(path) for path in sorted(results.glob("n*.parquet"))]
    if not tables:
        return pd.DataFrame()
    rounds = pd.concat(tables, ignore_index=True)
    return rounds[rounds["n"].isin(sizes) & rounds["strategy"].isin(strategies)]


def summarize_rounds(rounds: pd.DataFrame) -> pd.DataFrame:
    """Mean seconds per round (rounds ≥ 1) for each configuration, and what was scored."""
    keys = ["n", "storage", "strategy", "pool", "factory", "knn"]
    body = rounds[rounds["round"] > 0]
    summary = body.groupby(keys).agg(
        rounds=("round", "size"),
        scored=("scored", "mean"),
        t_select=("t_select", "mean"),
        t_knn=("t_knn", "mean"),
        t_train=("t_train", "mean"),
        t_round=("t_round", "mean"),
        dim=("dim", "first"),
    )
    final = rounds.sort_values("round").groupby(keys).tail(1).set_index(keys)
    summary["recall"] = final["recall"]
    summary["pool_size"] = final["pool_size"]
    return summary.reset_index()


def goal_line(label: str, value: float, goal: float, at_least: bool) -> str:
    met = value >= goal if at_least else value <= goal
    sign = "≥" if at_least else "≤"
    return f"  {'MET   ' if met else 'MISSED'} {label}: {value:.2f} (goal {sign} {goal:g})"


def best_seals(summary: pd.DataFrame) -> pd.DataFrame:
    """One SEALS line per (n, storage, strategy): graph mode when measured, else index mode."""
    seals = summary[summary["pool"] == "seals"].copy()
    seals["_order"] = (~seals["knn"].str.startswith("graph")).astype(int) + seals["knn"].str.endswith("+sq8")
    return seals.sort_values("_order").groupby(["n", "storage", "strategy"]).head(1).drop(columns="_order")


def report(rounds: pd.DataFrame, bandwidth: dict[int, float]) -> None:
    summary = summarize_rounds(rounds)
    pd.set_option("display.width", 220)
    shown = summary.copy()
    for column in ("t_select", "t_knn", "t_train", "t_round"):
        shown[column] = (shown[column] * 1000).round(1)
    shown["scored"] = shown["scored"].round(0).astype(int)
    print("\nPer round (mean of rounds 1..R, milliseconds):")
    print(shown.drop(columns="dim").round(3).to_string(index=False))

    everything = summary[summary["pool"] == "all"].set_index(["n", "storage", "strategy"])
    seals = best_seals(summary).set_index(["n", "storage", "strategy"])
    print("\nSelection per round, All ÷ SEALS:")
    for key in everything.index.intersection(seals.index):
        ratio = everything.loc[key, "t_select"] / seals.loc[key, "t_select"]
        n, storage, strategy = key
        print(f"  N={n:>11,} {storage} {strategy:6s}: {ratio:7.1f}×  (SEALS {seals.loc[key, 'knn']} mode)")
        if n == 10_000_000 and storage == "cold":
            print(goal_line(f"All/SEALS selection at 10^7 cold, {strategy}", ratio, GOALS[
                "selection_all_over_seals_1e7_cold"], at_least=True))  # fmt: skip

    print("\nSEALS per-round time (training + selection + kNN), largest N ÷ smallest N:")
    graph = summary[(summary["pool"] == "seals") & (summary["knn"] == "graph")]
    for (storage, strategy), group in graph.groupby(["storage", "strategy"]):
        group = group.set_index("n")
        lo, hi = group.index.min(), group.index.max()
        if lo == hi:
            continue
        ratio = group.loc[hi, "t_round"] / group.loc[lo, "t_round"]
        print(f"  graph mode, {storage} {strategy:6s}: N={hi:,} ÷ N={lo:,} = {ratio:.2f}")
        if (lo, hi) == (100_000, 10_000_000):
            print(goal_line(f"SEALS round 10^7/10^5, graph, {storage} {strategy}", ratio, GOALS[
                "seals_round_1e7_over_1e5_graph"], at_least=False))  # fmt: skip
    if graph.empty or graph["n"].nunique() < 2:
        print("  (needs graph-mode SEALS runs at two sizes; the goal is defined for 10^7 ÷ 10^5)")

    print("\nID-All ÷ MaxEnt-All, selection per round:")
    for (n, storage), group in everything.groupby(level=["n", "storage"]):
        strategies = group.index.get_level_values("strategy")
        if {"id", "maxent"} <= set(strategies):
            ratio = (
                group.xs("id", level="strategy")["t_select"].iloc[0]
                / group.xs("maxent", level="strategy")["t_select"].iloc[0]
            )
            print(goal_line(f"N={n:,} {storage}", ratio, GOALS["id_all_over_maxent_all"], at_least=False))

    rate = max(bandwidth.values())
    print(
        f"\nMemory bandwidth (sum of a 2 GB float32 array): 1 thread {bandwidth[1] / 1e9:.1f} GB/s, "
        f"2 threads {bandwidth[2] / 1e9:.1f} GB/s; floors use the better, {rate / 1e9:.1f} GB/s."
    )
    print("Floor = rows scored × d × 4 bytes ÷ bandwidth (one read of every scored vector); selection ÷ floor:")
    for row in summary[summary["storage"] == "warm"].itertuples():
        floor = row.scored * row.dim * 4 / rate
        ratio = row.t_select / floor if floor else float("nan")
        label = (
            f"N={row.n:,} {row.strategy} {row.pool}{'' if row.pool == 'all' else ' (' + row.knn + ')'}: "
            f"floor {floor * 1000:.2f} ms, selection {row.t_select * 1000:.1f} ms"
        )
        goal = GOALS["all_over_floor_ram"] if row.pool == "all" else GOALS["seals_over_floor"]
        print(goal_line(label, ratio, goal, at_least=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="100000,1000000,10000000", help="comma-separated dataset sizes")
    parser.add_argument("--data-dir", type=Path, required=True, help="datasets and results live here")
    parser.add_argument("--cold", action="store_true", help="evict the embeddings from the page cache every round")
    parser.add_argument("--strategies", default="maxent,mlp,id", help="comma-separated")
    parser.add_argument("--pools", default="all,seals", help="comma-separated")
    parser.add_argument("--graph", action="store_true", help="build the kNN graph (resumable) and use it")
    parser.add_argument("--graph-only", action="store_true", help="build the kNN graph (resumable), run nothing")
    parser.add_argument("--no-graph", action="store_true", help="search the index even when a graph exists")
    parser.add_argument("--codes", action="store_true", help="SEALS scores SQ8 codes held in RAM (kNN mode +sq8)")
    parser.add_argument(
        "--factory", action="append", default=[], metavar="N=FACTORY",
        help="index for size N (default: Flat < 10^6, IVF1024,SQ8 < 4·10^6, IVF4096,SQ8 above)",
    )  # fmt: skip
    parser.add_argument("--search-params", default=None, help='Faiss search knobs, e.g. "nprobe=32"')
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-only", action="store_true", help="summarise the saved results, run nothing")
    args = parser.parse_args()
    args.strategies = args.strategies.split(",")
    args.pools = args.pools.split(",")
    sizes = [int(n) for n in args.n.split(",")]
    factories = parse_factories(args.factory)
    protocol = Protocol(budget=args.budget, batch=args.batch, k=args.k, seed=args.seed)
    results = args.data_dir / "scaling-results" / f"T{args.budget}-b{args.batch}-k{args.k}-s{args.seed}"
    results.mkdir(parents=True, exist_ok=True)

    if not args.report_only:
        for n in sizes:
            factory = factories.get(n, default_factory(n))
            print(f"N={n:,} d={args.dim} index={factory} storage={'cold' if args.cold else 'warm'}", flush=True)
            run_size(args, n, factory, protocol, results)
    if args.graph_only:
        return

    rounds = load_results(results, sizes, args.strategies)
    if rounds.empty:
        print("no results yet")
        return
    rounds.to_csv(results / "rounds.csv", index=False)
    summarize_rounds(rounds).to_csv(results / "summary.csv", index=False)
    report(rounds, memory_bandwidth())
    print(f"\nraw rounds: {results / 'rounds.csv'}; per configuration: {results / 'summary.csv'}")


if __name__ == "__main__":
    main()
