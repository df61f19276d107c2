"""Whole rounds out of core: All vs SEALS (exact buffer) vs SEALS on SQ8 codes, cold or warm.

    PYTHONPATH=src .venv/bin/python bench/cold_rounds.py --n 1000000 --data-dir /work/data --cold
    PYTHONPATH=src .venv/bin/python bench/cold_rounds.py --n 1000000 --data-dir /work/data

The issue's goals, each printed as a ratio measured in this run over ≥ 3 concepts × 2 seeds
(median [min–max] over the runs of a cell):

1. cold (the embeddings file evicted from the page cache before every round, as
   `bench/scaling.py --cold`; or `--cgroup`, run under `bench/memlimit.py` with less memory than
   the vectors): All round ÷ SEALS round ≥ 10× at 10^6, ≥ 50× at 10^7, with SQ8
   codes selecting what the exact pool selects (batch overlap ≥ 99% or final recall within 0.005);
2. warm: All selection ≤ 2× and SEALS selection ≤ 3× the bandwidth floor (rows scored × d × 4 ÷
   bandwidth), or ≤ 2 ms for SEALS;
3. warm: p95 of a whole SEALS round (graph mode) ≤ 30 ms at 10^7.

Variants: `all` (AllPool, fused scoring over the memory map), `seals` (SealsPool, its float32
buffer, vectors of joining rows read from the file), `seals-sq8` (SealsPool with `Sq8Codes` in
RAM, the top 4·b re-ranked from the file). SEALS uses the kNN graph of the scaling benchmark's
index (build it with `bench/scaling.py --graph`). Datasets: those of bench/scaling.py. Each run
is saved under DATA_DIR/cold-results/ and skipped when present (resumable); RSS is read from
/proc/self/statm after each run. `--skip-exact-cold` leaves out the exact SEALS pool when cold
(at 10^7 it reads ~10^4 scattered rows a round: minutes per run); its selections are then
compared warm, where they are the same.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pandas as pd
from scaling import default_factory, evict, memory_bandwidth, open_index, synthetic, warm

from sealsearch.active.knn import find_graph
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool
from sealsearch.data.codes import Sq8Codes
from sealsearch.experiments.simulate import GroundTruthOracle, pick_concepts, seed_set

VARIANTS = ("all", "seals", "seals-sq8")
GOAL_COLD = {1_000_000: 10.0, 10_000_000: 50.0}


def rss_mb() -> tuple[float, float]:
    """(resident, resident minus file-backed) MB of this process."""
    with open("/proc/self/statm") as f:
        _, resident, shared, *_ = (int(x) for x in f.read().split())
    page = os.sysconf("SC_PAGE_SIZE") / 2**20
    return resident * page, (resident - shared) * page


def one_run(dataset, concept, seed, strategy, variant, args, index, graph, codes, hook) -> pd.DataFrame:
    positives = dataset.concept_rows(concept)
    pool_rows = dataset.split_rows("pool")
    pool_positives = dataset.rows_in_split(positives, "pool")
    rng = np.random.default_rng(seed)
    seed_rows = seed_set(pool_positives, pool_rows, 5, 19, rng)
    pool = make_pool(
        "all" if variant == "all" else "seals", dataset.embeddings, pool_rows, index=index, graph=graph,
        k=args.k, rng=rng, codes=codes if variant == "seals-sq8" else None,
    )  # fmt: skip
    loop = ActiveLoop(dataset.embeddings, pool, strategy=strategy, batch_size=args.batch, seed=seed)
    oracle = GroundTruthOracle(positives)
    rows = []
    while loop.n_labeled < args.budget and (loop.n_labeled == 0 or pool.size > 0):
        if hook:
            hook()
        scored, before, start = pool.size, astuple(loop.timings), time.perf_counter()
        if loop.n_labeled == 0:
            batch_rows = seed_rows
            loop.tell(seed_rows, oracle.label(seed_rows))
        else:
            batch = loop.ask(min(args.batch, args.budget - loop.n_labeled))
            batch_rows = batch.rows
            loop.tell(batch, oracle.label(batch.rows))
        wall = time.perf_counter() - start
        select, knn, train = np.subtract(astuple(loop.timings), before)
        rows.append(
            {"round": loop.round - 1, "scored": scored, "t_select": select, "t_knn": knn, "t_train": train,
             "t_round": wall, "recall": loop.labels.sum() / pool_positives.size, "batch": np.sort(batch_rows)}
        )  # fmt: skip
    resident, anonymous = rss_mb()
    return pd.DataFrame(rows).assign(rss_mb=resident, anon_mb=anonymous)


def run_size(args, n: int, results: Path) -> None:
    dataset = synthetic(args.data_dir, n, 256, 0)
    factory = default_factory(n)
    index = open_index(dataset, factory, None)
    graph = None if args.no_graph else find_graph(dataset, index.factory, args.k)
    if graph is None and not args.no_graph:
        raise SystemExit(f"no kNN graph of {factory} for {dataset.path}: run bench/scaling.py --graph first")
    mode = "" if graph is not None else "@index"  # index mode: SEALS searches the index every round
    codes = None
    if "seals-sq8" in args.variants:
        start = time.perf_counter()
        codes = Sq8Codes.open_or_build(dataset.embeddings, dataset.path / "embeddings.npy")
        print(f"  SQ8 codes: {codes.nbytes / 2**20:,.0f} MB in RAM, ready in {time.perf_counter() - start:.1f} s")
    concepts = pick_concepts(dataset, args.concepts, seed_pos=args.min_positives, min_test=0, seed=0)
    storage = "cold" if args.cold else "cgroup" if args.cgroup else "warm"
    path = dataset.path / "embeddings.npy"
    for strategy in args.strategies:
        for concept in concepts:
            for seed in args.seeds:
                for variant in args.variants:
                    if args.cold and args.skip_exact_cold and variant == "seals":
                        continue
                    label = variant if variant == "all" else variant + mode
                    out = results / f"n{n}_{storage}_{strategy}_{label}_{concept}_s{seed}.parquet"
                    if out.is_file():
                        continue
                    hook = None
                    if args.cold:
                        hook = lambda: evict(dataset.embeddings, path)  # noqa: E731
                    elif args.cgroup:
                        # Cached pages stay charged to the cgroup that read them first and would
                        # escape the limit: start each run with none of the file cached.
                        evict(dataset.embeddings, path)
                    bandwidth = float("nan")
                    if not (args.cold or args.cgroup):
                        warm(dataset.embeddings)
                        # The floor's bandwidth, measured in this process just before the run it divides.
                        bandwidth = max(memory_bandwidth(1.0).values())
                    table = one_run(dataset, concept, seed, strategy, variant, args, index, graph, codes, hook)
                    meta = dict(n=n, storage=storage, strategy=strategy, variant=label, concept=concept, seed=seed)
                    table.assign(**meta, bandwidth=bandwidth).to_parquet(out, index=False)
                    body = table[table["round"] > 0]
                    ms = {c: body[c].mean() * 1e3 for c in ("t_round", "t_select", "t_knn", "t_train")}
                    print(
                        f"  {storage} {strategy} {label:9s} {concept} s{seed}: {ms['t_round']:8.1f} ms/round "
                        f"(select {ms['t_select']:.1f}, kNN {ms['t_knn']:.1f}, train {ms['t_train']:.1f}), "
                        f"recall {table.recall.iloc[-1]:.3f}, RSS {table.rss_mb.iloc[0]:,.0f} MB",
                        flush=True,
                    )


def spread(values) -> str:
    values = np.asarray(list(values), dtype=float)
    return f"{np.median(values):.2f} [{values.min():.2f}–{values.max():.2f}]"


def report(rounds: pd.DataFrame) -> None:
    body = rounds[rounds["round"] > 0]
    keys = ["n", "storage", "strategy", "variant", "concept", "seed"]
    runs = body.groupby(keys).agg(
        t_round=("t_round", "mean"), t_select=("t_select", "mean"), t_knn=("t_knn", "mean"),
        t_train=("t_train", "mean"), scored=("scored", "mean"), rss=("rss_mb", "first"), anon=("anon_mb", "first"),
        bandwidth=("bandwidth", "first"),
    ).reset_index()  # fmt: skip
    final = rounds.sort_values("round").groupby(keys).tail(1).set_index(keys)["recall"]
    runs = runs.join(final, on=keys)
    cells = runs.groupby(["n", "storage", "strategy", "variant"])
    print("\nPer cell, median over concepts × seeds (ms; RSS MB after the run):")
    print(
        cells.agg(runs=("seed", "size"), scored=("scored", "median"), select=("t_select", "median"),
                  knn=("t_knn", "median"), train=("t_train", "median"), round=("t_round", "median"),
                  recall=("recall", "median"), rss=("rss", "median"), anon=("anon", "median"))
        .assign(**{c: lambda t, c=c: (t[c] * 1e3).round(2) for c in ("select", "knn", "train", "round")})
        .round({"scored": 0, "recall": 3, "rss": 0, "anon": 0}).to_string()
    )  # fmt: skip
    paired = runs.set_index(["n", "storage", "strategy", "concept", "seed", "variant"])["t_round"].unstack("variant")
    print("\nWhole round, All ÷ SEALS (per concept × seed, median [min–max]):")
    for (n, storage, strategy), group in paired.groupby(level=["n", "storage", "strategy"]):
        for variant in [v for v in group.columns if v != "all"]:
            if group[variant].isna().all() or "all" not in group:
                continue
            ratio = (group["all"] / group[variant]).dropna()
            goal = GOAL_COLD.get(n) if storage in ("cold", "cgroup") else None
            met = "" if goal is None else ("MET    " if ratio.median() >= goal else "MISSED ") + f"(goal ≥ {goal:g}) "
            print(f"  {met}N={n:,} {storage} {strategy} All ÷ {variant}: {spread(ratio)}")
    print("\nSQ8 codes vs exact SEALS (same concept, seed; warm or cold):")
    batches = rounds.set_index(keys + ["round"])["batch"].sort_index()
    for (n, strategy, variant), group in runs[runs["variant"].str.startswith("seals-sq8")].groupby(
        ["n", "strategy", "variant"]
    ):
        exact_variant = variant.replace("seals-sq8", "seals")
        overlaps, first, recall_gaps = [], [], []
        for row in group.itertuples():
            for storage in ("warm", "cold"):
                exact_key = (n, storage, strategy, exact_variant, row.concept, row.seed)
                if exact_key not in final.index:
                    continue
                a = np.concatenate(batches.loc[exact_key].tolist())
                b = np.concatenate(batches.loc[(n, row.storage, strategy, variant, row.concept, row.seed)].tolist())
                overlaps.append(np.intersect1d(a, b).size / max(a.size, 1))
                r1 = (n, storage, strategy, exact_variant, row.concept, row.seed, 1)
                r1q = (n, row.storage, strategy, variant, row.concept, row.seed, 1)
                if r1 in batches.index and r1q in batches.index:
                    first.append(np.intersect1d(batches.loc[r1], batches.loc[r1q]).size / max(len(batches.loc[r1]), 1))
                recall_gaps.append(abs(final.loc[exact_key] - row.recall))
                break
        if overlaps:
            ok = np.median(first) >= 0.99 or max(recall_gaps) <= 0.005
            print(
                f"  {'MET   ' if ok else 'MISSED'} N={n:,} {strategy} {variant}: round-1 batch overlap {spread(first)},"
                f" all labels overlap {spread(overlaps)}, |final recall gap| max {max(recall_gaps):.4f}"
            )
    print("\nBandwidth floor (rows scored × d × 4 B ÷ the bandwidth measured in the same process); selection ÷ floor:")
    for (n, strategy, variant), group in runs[runs["storage"] == "warm"].groupby(["n", "strategy", "variant"]):
        ratio = group["t_select"] / (group["scored"] * 256 * 4 / group["bandwidth"])
        ms = group["t_select"] * 1e3
        goal = 2.0 if variant == "all" else 3.0
        ok = ratio.median() <= goal or (variant != "all" and ms.median() <= 2.0)
        extra = "" if variant == "all" else " or ≤ 2 ms"
        print(f"  {'MET   ' if ok else 'MISSED'} N={n:,} {strategy} {variant}: {spread(ratio)}× floor at "
              f"{spread(group['bandwidth'] / 1e9)} GB/s "
              f"(selection {spread(ms)} ms; goal ≤ {goal:g}×{extra})")  # fmt: skip
    warm_seals = body[(body["storage"] == "warm") & (body["variant"] != "all")]
    print("\nWarm SEALS whole round (graph mode), p50 / p95 over all rounds of all runs (goal p95 ≤ 30 ms at 10^7):")
    for (n, strategy, variant), group in warm_seals.groupby(["n", "strategy", "variant"]):
        p50, p95 = np.percentile(group["t_round"] * 1e3, [50, 95])
        print(f"  N={n:,} {strategy} {variant}: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({len(group)} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1000000", help="comma-separated dataset sizes (bench/scaling.py's datasets)")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--cold", action="store_true", help="evict the embeddings from the page cache every round")
    parser.add_argument(
        "--cgroup", action="store_true", help="no eviction, no warming: run under bench/memlimit.py (storage 'cgroup')"
    )
    parser.add_argument("--strategies", default="maxent")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--concepts", type=int, default=3)
    parser.add_argument("--min-positives", type=int, default=50, help="pool positives a concept needs")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--no-graph", action="store_true", help="index mode: SEALS searches the index each round")
    parser.add_argument("--skip-exact-cold", action="store_true", help="no exact SEALS pool in cold runs")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    args.strategies, args.variants = args.strategies.split(","), args.variants.split(",")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    sizes = [int(n) for n in args.n.split(",")]
    results = args.data_dir / "cold-results" / f"T{args.budget}-b{args.batch}-k{args.k}"
    results.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        for n in sizes:
            print(f"N={n:,} storage={'cold' if args.cold else 'cgroup' if args.cgroup else 'warm'}", flush=True)
            run_size(args, n, results)
    tables = [pd.read_parquet(p) for p in sorted(results.glob("n*.parquet"))]
    if not tables:
        print("no results yet")
        return
    rounds = pd.concat(tables, ignore_index=True)
    rounds = rounds[rounds["n"].isin(sizes) & rounds["strategy"].isin(args.strategies)]
    if "bandwidth" not in rounds:
        rounds = rounds.assign(bandwidth=float("nan"))
    report(rounds)


if __name__ == "__main__":
    main()
