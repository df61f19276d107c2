"""Block size and threads of the All round's scan (sealsearch.data.scan), on any dataset.

    PYTHONPATH=src .venv/bin/python bench/scan_blocks.py seals-data/syn1m --blocks 1 4 16 64

Trains the default learner on a seed of the dataset's first concept, then times the MaxEnt
scoring of every unlabeled pool row (what `ask` does on the All pool) for each block size (MB
of float32 per block) and worker count, with BLAS at one thread as in the loop, against the
gather-only reads the scan replaced (262,144-row fancy-index gathers, one thread). Best of
--repeat runs; the page cache is warmed first, so this measures memory, not disk.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import sealsearch.data.scan
from sealsearch._util import single_threaded_blas
from sealsearch.active.learner import default_learner, fit_learner, positive_proba
from sealsearch.active.pools import AllPool
from sealsearch.active.strategies import maxent
from sealsearch.data.dataset import Dataset
from sealsearch.experiments.simulate import seed_set


def best_of(repeat: int, function) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--blocks", type=float, nargs="+", default=[1, 4, 16, 64], help="MB per block")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    dataset = Dataset.open(args.dataset)
    store, pool_rows = dataset.embeddings, dataset.split_rows("pool")
    positives = dataset.rows_in_split(dataset.concept_rows(dataset.concept_names()[0]), "pool")
    seed = seed_set(positives, pool_rows, 5, 199, np.random.default_rng(0))
    model = fit_learner(default_learner(), store.take(seed), np.isin(seed, positives).astype(int))
    pool = AllPool(store, pool_rows)  # its running sum reads every row once: the page cache is warm
    pool.update(seed)
    candidates = pool.candidates()
    print(f"{args.dataset}: {candidates.size:,} candidates × {store.dim}, scoring = MaxEnt of logistic regression")

    def score(vectors: np.ndarray) -> np.ndarray:
        return maxent(positive_proba(model, vectors), None)

    def gathered() -> np.ndarray:
        return np.concatenate([
            score(store.take(candidates[s : s + 262_144])) for s in range(0, candidates.size, 262_144)
        ])  # fmt: skip

    with single_threaded_blas():
        reference = gathered()
        print(f"  gathers of 262,144 rows, 1 thread: {best_of(args.repeat, gathered):.3f} s")
        for megabytes in args.blocks:
            sealsearch.data.scan.BLOCK_BYTES = int(megabytes * 2**20)
            for workers in args.workers:
                seconds = best_of(
                    args.repeat, lambda w=workers: sealsearch.data.scan.score_rows(store, candidates, score, workers=w)
                )
                scores = sealsearch.data.scan.score_rows(store, candidates, score, workers=workers)
                rows = sealsearch.data.scan.block_rows(store.dim)
                error = np.abs(scores - reference).max()
                print(f"  scan, {megabytes:g} MB blocks ({rows:,} rows), {workers} thread(s): {seconds:.3f} s"
                      f"   (max |Δscore| vs gathers {error:.1e})")  # fmt: skip


if __name__ == "__main__":
    main()
