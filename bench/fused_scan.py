"""Fused float32 scoring against the general `predict_proba` path, in one process, warm.

    PYTHONPATH=src:bench .venv/bin/python bench/fused_scan.py --n 1000000 --data-dir /work/data

Trains the default learner on 2,000 random pool rows of bench/scaling.py's synthetic dataset
(labels: one concept), then times, alternately and `--repeats` times each, the All pool's
selection scan (every unlabeled pool row through `AllPool.score_candidates`, the loop's path)
and the same over a 30k-row SEALS-sized buffer, for MaxEnt, MLP and ID, with the fused row
function and with the general one; prints medians, the ratio, the bandwidth floor (rows × d ×
4 B ÷ the best of 1- and 2-thread read bandwidth measured here) and the selections' agreement.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scaling import memory_bandwidth, synthetic, warm

from sealsearch._util import single_threaded_blas
from sealsearch.active.fused import fused_row_function
from sealsearch.active.learner import default_learner, positive_proba
from sealsearch.active.pools import AllPool
from sealsearch.active.strategies import ScoringContext, as_strategy, select_top
from sealsearch.data.scan import score_matrix
from sealsearch.experiments.simulate import pick_concepts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--strategies", default="maxent,mlp,id")
    args = parser.parse_args()
    dataset = synthetic(args.data_dir, args.n, 256, 0)
    store = dataset.embeddings
    pool_rows = dataset.split_rows("pool")
    rng = np.random.default_rng(0)
    concept = pick_concepts(dataset, 1, seed_pos=50, min_test=0, seed=0)[0]
    positives = dataset.concept_rows(concept)
    labeled = np.sort(np.r_[rng.choice(pool_rows, 1900, replace=False), positives[:100]])
    model = default_learner().fit(store.take(labeled), np.isin(labeled, positives).astype(int))
    pool = AllPool(store, pool_rows)
    pool.update(labeled)
    buffer = store.take(np.sort(rng.choice(pool_rows, 30_000, replace=False)))
    warm(store)
    rate = max(memory_bandwidth().values())
    print(
        f"N={args.n:,}: All scans {pool.size:,} rows, SEALS-sized buffer 30,000 rows; bandwidth {rate / 1e9:.1f} GB/s"
    )
    for name in args.strategies.split(","):
        strategy = as_strategy(name)
        mean = pool.mean_vector()
        fused = fused_row_function(strategy, model, mean)

        def general(vectors, strategy=strategy, mean=mean):
            return strategy.function(positive_proba(model, vectors), ScoringContext(vectors, mean, rng))

        for where, scan, rows in (
            ("All", lambda f: pool.score_candidates(f), pool.size),
            ("SEALS 30k", lambda f: score_matrix(buffer, f), buffer.shape[0]),
        ):
            times: dict[str, list[float]] = {"fused": [], "general": []}
            out = {}
            with single_threaded_blas():
                for _ in range(args.repeats):
                    for label, function in (("fused", fused), ("general", general)):
                        start = time.perf_counter()
                        out[label] = scan(function)
                        times[label].append(time.perf_counter() - start)
            floor = rows * 256 * 4 / rate
            f, g = np.median(times["fused"]), np.median(times["general"])
            same = len(np.intersect1d(select_top(out["fused"], 100), select_top(out["general"], 100))) / 100
            print(
                f"  {name:6s} {where:9s}: fused {f * 1e3:7.1f} ms [{min(times['fused']) * 1e3:.1f}–"
                f"{max(times['fused']) * 1e3:.1f}], general {g * 1e3:7.1f} ms; general ÷ fused {g / f:4.1f}×; "
                f"fused ÷ floor ({floor * 1e3:.1f} ms) {f / floor:4.1f}×; top-100 agreement {same:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
