"""How the logistic-regression C changes AP, recall and MaxEnt-vs-MLP on the WordNet demo data.

    .venv/bin/python bench/learner_regularization.py --concepts 8 --budget 1000

Prints mean final AP / recall / pool share over concepts for each C × strategy × pool, all
measured in one run with the same seeds and concepts.
"""

from __future__ import annotations

import argparse

import pandas as pd
from sklearn.linear_model import LogisticRegression

from sealsearch.active.knn import open_or_build_index
from sealsearch.experiments.demo import open_or_build_demo_dataset
from sealsearch.experiments.simulate import RunConfig, pick_concepts, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="seals-data")
    parser.add_argument("--concepts", type=int, default=8)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--C", type=float, nargs="+", default=[1.0, 10.0, 100.0])
    args = parser.parse_args()

    dataset = open_or_build_demo_dataset(args.data_dir)
    index = open_or_build_index(dataset)
    concepts = pick_concepts(dataset, args.concepts, seed_pos=5, seed=args.seed)
    rows = []
    for c in args.C:
        learner = LogisticRegression(C=c, max_iter=1000)
        for strategy in ("maxent", "mlp"):
            for pool in ("all", "seals"):
                for concept in concepts:
                    config = RunConfig(concept=concept, strategy=strategy, pool=pool, k=args.k, budget=args.budget)
                    last = run(dataset, config, index=index, learner=learner).rounds.iloc[-1]
                    rows.append(
                        {
                            "C": c,
                            "strategy": strategy,
                            "pool": pool,
                            "ap": last.ap,
                            "recall": last.recall,
                            "pool_frac": last.pool_frac,
                        }
                    )
    table = pd.DataFrame(rows).groupby(["C", "strategy", "pool"])[["ap", "recall", "pool_frac"]].mean()
    print(f"{len(concepts)} concepts, k={args.k}, T={args.budget}: {', '.join(concepts)}")
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
