"""SEALS against the All baseline at scale: the paper's Table 2 on synthetic clustered data.

    .venv/bin/python bench/seals_vs_all.py --n 1000000 --dim 64 --factory HNSW32

Rare concepts are clusters of ~0.1% of the rows (bench/index_recall.py's generator). For each
strategy × pool it prints final AP, recall, pool share and the seconds spent in selection, kNN
and training, averaged over concepts, then the All/SEALS ratios, all measured in this one run.
The dataset and its index are written under --work and reused by later runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from index_recall import clustered_dataset

from sealsearch import RunConfig, compare, summarize
from sealsearch.active.knn import open_or_build_index
from sealsearch.data.dataset import Dataset
from sealsearch.data.writer import write_dataset


def synthetic_dataset(path: Path, n: int, dim: int, n_concepts: int, seed: int) -> Dataset:
    if (path / "dataset.json").is_file():
        return Dataset.open(path)
    vectors, cluster = clustered_dataset(n, dim, seed)
    split = np.where(np.random.default_rng(seed).random(n) < 0.1, "test", "pool")
    rows = np.flatnonzero(cluster < n_concepts)
    concepts = pd.DataFrame({"row": rows, "concept": [f"cluster{c}" for c in cluster[rows]]})
    return write_dataset(
        path, vectors, name=path.name, embedder="synthetic", items=pd.DataFrame({"split": split}), concepts=concepts
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--concepts", type=int, default=3)
    parser.add_argument("--strategies", nargs="+", default=["maxent", "mlp", "id"])
    parser.add_argument("--factory", default="auto")
    parser.add_argument("--search-params", default=None, help='index search knobs, e.g. "nprobe=64"')
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("seals-data/bench"))
    args = parser.parse_args()

    dataset = synthetic_dataset(args.work / f"clusters-{args.n}x{args.dim}", args.n, args.dim, args.concepts, args.seed)
    index = open_or_build_index(dataset, args.factory, search_params=args.search_params)
    print(
        f"n={args.n} dim={args.dim} index={index.factory} ({args.search_params or 'default search params'}) "
        f"k={args.k} T={args.budget} concepts={args.concepts}"
    )
    base = RunConfig(concept="", k=args.k, budget=args.budget, seed=args.seed, factory=index.factory)
    rounds = compare(
        dataset, dataset.concept_names(), base, strategies=tuple(args.strategies), pools=("all", "seals"), index=index
    )
    summary = summarize(rounds).set_index(["strategy", "pool"])
    pd.set_option("display.width", 200)
    print(summary.round(3).to_string())
    print("\nAll / SEALS (measured in this run):")
    for strategy in args.strategies:
        everything, seals = summary.loc[(strategy, "all")], summary.loc[(strategy, "seals")]
        print(
            f"  {strategy:7s} selection {everything.t_select / seals.t_select:6.1f}x"
            f"   total {everything.t_total / seals.t_total:5.1f}x   pool {seals.pool_frac:.2%} of N"
            f"   recall {everything.recall:.3f} (all) vs {seals.recall:.3f} (seals)"
        )


if __name__ == "__main__":
    main()
