"""A round's selection against its memory-bandwidth floor: fused, pruned scoring (issue 10, goal 2).

    PYTHONPATH=src:bench .venv/bin/python bench/fused_scan.py --n 1000000 --data-dir DATA
    PYTHONPATH=src:bench .venv/bin/python bench/fused_scan.py --n 10000000 --data-dir DATA --pools all

For each concept × seed (≥ 3 × 2; bench/scaling.py's synthetic dataset, its index and kNN graph
for SEALS): the seed set of bench/cold_rounds.py (5 positives, 95 negatives), then the loop's
own rounds (b = 100) until the pool has grown (SEALS: --seals-size candidates; All: --rounds
rounds), so the model and the pool are a real round's. Then, `--repeats` times, one after the
other in this process:

- selection: one `ask` as `Timings.select` counts it (candidates, fused scores pruned to the b
  best, the top b; with SQ8 codes the exact re-rank of 4·b rows too);
- full: the same fused scores over every candidate without pruning, then the top b (the path
  before pruning; the batches must be identical);
- read floor: a pure read (each block's max) of the same bytes through the same scan: the same
  blocks, threads and memory map or buffer;
- bandwidth floor: rows × d × 4 B ÷ the best 1- or 2-thread read rate of anonymous memory
  (bench/scaling.py's `memory_bandwidth`, measured before each repeat).

The three take turns going first; for a SEALS-sized pool each is preceded by an untimed read of
the candidates, so all three find the buffer in the same (warm) cache state.

Goal 2: All selection ≤ 2× the floor; SEALS selection ≤ 3× its floor or ≤ 2 ms for 30k
candidates. Each run prints the medians of its repeats; the summary gives, per cell, the
median [min–max] over the runs. Once per run the batch is compared with the general
`predict_proba` path's (overlap; float32 products make near-ties differ) unless --no-general.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scaling import default_factory, memory_bandwidth, open_index, synthetic, warm

from sealsearch._util import single_threaded_blas
from sealsearch.active.fused import fused_row_function
from sealsearch.active.knn import find_graph
from sealsearch.active.learner import positive_proba
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool
from sealsearch.active.strategies import ScoringContext, select_top
from sealsearch.data.codes import Sq8Codes
from sealsearch.experiments.simulate import GroundTruthOracle, pick_concepts, seed_set

GOAL = {"all": 2.0, "seals": 3.0, "seals-sq8": 3.0}


def read_block(vectors: np.ndarray) -> np.ndarray:
    """The floor's kernel: every byte of the block read once (its max), nothing else."""
    return np.broadcast_to(np.float64(vectors.max()), (len(vectors),))


def grow(dataset, concept, seed, variant, strategy, args, index, graph, codes):
    """A loop after the seed and enough rounds: (loop, pool, oracle)."""
    pool_rows = dataset.split_rows("pool")
    positives = dataset.concept_rows(concept)
    rng = np.random.default_rng(seed)
    seed_rows = seed_set(dataset.rows_in_split(positives, "pool"), pool_rows, 5, 19, rng)
    pool = make_pool(
        "all" if variant == "all" else "seals", dataset.embeddings, pool_rows, index=index, graph=graph, k=100,
        rng=rng, codes=codes if variant == "seals-sq8" else None,
    )  # fmt: skip
    loop = ActiveLoop(dataset.embeddings, pool, strategy=strategy, batch_size=args.batch, seed=seed)
    oracle = GroundTruthOracle(positives)
    loop.tell(seed_rows, oracle.label(seed_rows))
    for _ in range(args.rounds if variant == "all" else 100):
        if variant != "all" and pool.size >= args.seals_size:
            break
        batch = loop.ask()
        loop.tell(batch, oracle.label(batch.rows))
    return loop, pool


def one_run(loop: ActiveLoop, pool, args) -> dict:
    model = loop.fit()
    b = args.batch
    fused = fused_row_function(loop.strategy, model, pool.mean_vector(), unit_rows=True)
    times: dict[str, list[float]] = {name: [] for name in ("select", "full", "read", "bandwidth")}
    cpu: dict[str, list[float]] = {"select": [], "full": [], "read": []}
    batches, fulls = [], []
    small = pool.size * 256 * 4 < (64 << 20)  # a SEALS buffer: it may sit in the 32 MB L3 cache

    def select() -> None:
        loop._pending = None  # ask again: the loop keeps an unanswered batch
        batches.append(loop.ask(b).rows)

    def full() -> None:
        fulls.append(select_top(pool.score_candidates(fused, n=b), b))

    def read() -> None:
        pool.score_candidates(read_block)

    steps = [("select", select), ("full", full), ("read", read)]
    for repeat in range(args.repeats):
        times["bandwidth"].append(max(memory_bandwidth(args.bandwidth_gb, 1).values()))
        for name, step in steps[repeat % 3 :] + steps[: repeat % 3]:  # each goes first in turn
            with single_threaded_blas():  # as the loop scores: one BLAS thread per block, blocks on every core
                if small:  # the same cache state for each: the candidates' bytes just read
                    read()
                before = loop.timings.select
                start, start_cpu = time.perf_counter(), time.process_time()
                step()
                elapsed, cpu_time = time.perf_counter() - start, time.process_time() - start_cpu
            # The loop's own clock for its selection (ask also checks the pending batch, outside it).
            times[name].append(loop.timings.select - before if name == "select" else elapsed)
            cpu[name].append(cpu_time)  # every thread of this process: the work, whatever the load
    same_as_full = all(np.array_equal(a, pool.candidates()[f]) for a, f in zip(batches, fulls, strict=True))
    row = {name: float(np.median(values)) for name, values in times.items()}
    row.update({f"cpu_{name}": float(np.median(values)) for name, values in cpu.items()})
    row.update(rows=pool.size, same_as_full=same_as_full, spread=np.ptp(times["select"]) / row["select"])
    cosines = getattr(pool, "_cosines", None)  # the All pool's cached cosines (ID): passes over the rows so far
    row["cosine_passes"] = 0 if cosines is None else cosines.passes
    if not args.no_general:
        rng, mean = np.random.default_rng(0), pool.mean_vector()

        def general(vectors):
            return loop.strategy.function(positive_proba(model, vectors), ScoringContext(vectors, mean, rng))

        with single_threaded_blas():
            start = time.perf_counter()
            picks = pool.candidates()[select_top(pool.score_candidates(general, n=b), b)]
            row["general"] = time.perf_counter() - start
        row["general_overlap"] = np.intersect1d(picks, batches[0]).size / b
    return row


def spread(values) -> str:
    values = np.asarray(list(values), dtype=float)
    return f"{np.median(values):.2f} [{values.min():.2f}–{values.max():.2f}]"


def report(runs: pd.DataFrame) -> None:
    runs = runs.assign(
        floor_read=runs["read"],
        floor_bw=runs["rows"] * 256 * 4 / runs["bandwidth"],
    )
    print("\nPer cell, median [min–max] over concepts × seeds (each run: the median of its repeats):")
    for (n, variant, strategy), cell in runs.groupby(["n", "variant", "strategy"], sort=False):
        by_read, by_bw = cell["select"] / cell["floor_read"], cell["select"] / cell["floor_bw"]
        ms = cell["select"] * 1e3
        goal = GOAL[variant]
        worst = np.maximum(by_read, by_bw).median()
        met = worst <= goal or (variant != "all" and ms.median() <= 2.0 * max(1.0, cell["rows"].median() / 30_000))
        general = ""
        if "general_overlap" in cell and cell["general_overlap"].notna().all():
            general = (f"; general path (predict_proba, once per run) {spread(cell['general'] / cell['select'])}× "
                       f"slower, batch overlap {spread(cell['general_overlap'])}")  # fmt: skip
        print(
            f"  {'MET   ' if met else 'MISSED'} N={n:,} {variant:9s} {strategy:6s} ({len(cell)} runs, "
            f"{cell['rows'].median():,.0f} rows): selection {spread(ms)} ms; ÷ read floor {spread(by_read)}×, "
            f"÷ bandwidth floor {spread(by_bw)}× at {spread(cell['bandwidth'] / 1e9)} GB/s (goal ≤ {goal:g}×"
            f"{'' if variant == 'all' else ' or ≤ 2 ms per 30k rows'}); CPU time ÷ the read floor's "
            f"{spread(cell['cpu_select'] / cell['cpu_read'])}× (selection {spread(cell['cpu_select'] * 1e3)} ms"
            "); full ÷ pruned "
            f"{spread(cell['full'] / cell['select'])}×; pruned batch = full batch in "
            f"{int(cell['same_as_full'].sum())}/{len(cell)} runs{general}; load {spread(cell['load'])}"
            + (f"; cosine cache passes {spread(cell['cosine_passes'])}" if cell["cosine_passes"].max() else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--pools", default="all,seals,seals-sq8")
    parser.add_argument("--strategies", default="maxent,mlp,id")
    parser.add_argument("--concepts", type=int, default=3)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2, help="All: rounds after the seed before timing")
    parser.add_argument("--seals-size", type=int, default=30_000, help="SEALS: grow the pool to this many rows")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bandwidth-gb", type=float, default=0.5)
    parser.add_argument("--no-general", action="store_true", help="skip the predict_proba comparison")
    parser.add_argument("--out", type=Path, help="append the runs to this CSV")
    args = parser.parse_args()
    dataset = synthetic(args.data_dir, args.n, 256, 0)
    variants = args.pools.split(",")
    index = graph = codes = None
    if any(v != "all" for v in variants):
        index = open_index(dataset, default_factory(args.n), None)
        graph = find_graph(dataset, index.factory, 100)
    if "seals-sq8" in variants:
        codes = Sq8Codes.open_or_build(dataset.embeddings, dataset.path / "embeddings.npy")
    if "all" in variants:
        start = time.perf_counter()
        warm(dataset.embeddings)
        print(f"  page cache warmed in {time.perf_counter() - start:.1f} s", flush=True)
    concepts = pick_concepts(dataset, args.concepts, seed_pos=50, min_test=0, seed=0)
    rows = []
    for variant in variants:
        for strategy in args.strategies.split(","):
            for concept in concepts:
                for seed in (int(s) for s in args.seeds.split(",")):
                    load = os.getloadavg()[0]
                    loop, pool = grow(dataset, concept, seed, variant, strategy, args, index, graph, codes)
                    row = one_run(loop, pool, args)
                    row.update(n=args.n, variant=variant, strategy=strategy, concept=concept, seed=seed,
                               load=(load + os.getloadavg()[0]) / 2)  # fmt: skip
                    rows.append(row)
                    print(
                        f"  {variant:9s} {strategy:6s} {concept} s{seed}: {row['rows']:,} rows, selection "
                        f"{row['select'] * 1e3:.1f} ms (±{row['spread']:.0%}), full {row['full'] * 1e3:.1f}, "
                        f"read floor {row['read'] * 1e3:.1f}, bandwidth {row['bandwidth'] / 1e9:.1f} GB/s, "
                        f"same as full {row['same_as_full']}, load {row['load']:.1f}",
                        flush=True,
                    )
    runs = pd.DataFrame(rows)
    if args.out:
        runs.to_csv(args.out, mode="a", header=not args.out.exists(), index=False)
    report(runs)


if __name__ == "__main__":
    main()
