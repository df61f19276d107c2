"""Does the estimated recall's 95% interval hold the true recall, and what do stopping rules save?

    PYTHONPATH=src .venv/bin/python bench/estimate_recall.py seals-data/wordnet-glove50 \
        --concepts 30 --seeds 3 --budget 2000 --out seals-data/bench/estimate-wordnet.parquet

Runs every (concept, seed) once per estimate method (`audit`, `model`); the loop's trajectory is
the same for both (audit labels never reach it). Goals of issue 13, checked over every
(run, round) checkpoint with at least `--after` labels (default 500):
coverage ≥ 90%, mean absolute error ≤ 5 recall points, audit labels ≤ 10% of all labels.
Stopping rules are replayed on each finished run (`active.stopping.first_stop`); a rule that never
fires stops at the budget. Prints medians and spreads over runs as well as pooled numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from sealsearch.active.knn import open_or_build_index
from sealsearch.active.stopping import first_stop, parse_rule
from sealsearch.data.dataset import Dataset
from sealsearch.experiments.simulate import RunConfig, pick_concepts, run

RULES = ("target:0.8", "knee", "budget:1000")


def measure(rounds: pd.DataFrame, after: int) -> pd.DataFrame:
    """Per-run coverage, MAE and audit share over the checkpoints with >= `after` labels."""
    late = rounds[rounds["n_labeled"] >= after].copy()
    truth = late["recall"]
    late["covered"] = (late["est_recall_lo"] <= truth + 1e-9) & (truth <= late["est_recall_hi"] + 1e-9)
    late["abs_error"] = (late["est_recall"] - late["recall"]).abs()
    late["width"] = late["est_recall_hi"] - late["est_recall_lo"]
    late["audit_share"] = late["audit_labels"] / (late["audit_labels"] + late["n_labeled"])
    return late


def stopping(rounds: pd.DataFrame, budget: int) -> pd.DataFrame:
    rows = []
    for (method, concept, seed), run_rounds in rounds.groupby(["method", "concept", "seed"]):
        run_rounds = run_rounds.sort_values("round")
        for text in RULES:
            rule = parse_rule(text)
            lo = run_rounds["est_recall_lo"].to_numpy() if rule.needs_estimate else None
            at, _ = first_stop(rule, run_rounds["n_labeled"].to_numpy(), run_rounds["n_positive"].to_numpy(), lo)
            stop_row = run_rounds.iloc[-1 if at is None else at]
            rows.append({
                "method": method, "rule": text, "concept": concept, "seed": seed, "fired": at is not None,
                "labels": int(stop_row["n_labeled"] + stop_row["audit_labels"]),
                "saved": budget - int(stop_row["n_labeled"]),
                "recall": float(stop_row["recall"]),
                "recall_given_up": float(run_rounds["recall"].iloc[-1] - stop_row["recall"]),
            })  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--concepts", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--strategy", default="mlp")
    parser.add_argument("--pool", default="seals")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--after", type=int, default=500)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    dataset = Dataset.open(args.dataset)
    index = open_or_build_index(dataset)
    concepts = pick_concepts(dataset, args.concepts, seed_pos=5, seed=0)
    parts = []
    for concept in concepts:
        for seed in range(args.seeds):
            for method in ("audit", "model"):
                config = RunConfig(
                    concept=concept, strategy=args.strategy, pool=args.pool, k=args.k, budget=args.budget,
                    seed=seed, estimate=method,
                )  # fmt: skip
                result = run(dataset, config, index=index)
                parts.append(result.rounds.assign(concept=concept, seed=seed, method=method))
        print(f"done {concept}", flush=True)
    rounds = pd.concat(parts, ignore_index=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        rounds.to_parquet(args.out, index=False)

    late = measure(rounds, args.after)
    print(f"\n{dataset.info.name}: {len(concepts)} concepts × {args.seeds} seeds, {args.strategy}-{args.pool} "
          f"k={args.k}, T={args.budget}; checkpoints with ≥ {args.after} labels")  # fmt: skip
    per_run = late.groupby(["method", "concept", "seed"]).agg(
        coverage=("covered", "mean"), mae=("abs_error", "mean"), width=("width", "mean")
    )
    pooled = late.groupby("method").agg(
        checkpoints=("covered", "size"), coverage=("covered", "mean"), mae=("abs_error", "mean"),
        width=("width", "mean"), audit_share=("audit_share", "max"),
    )  # fmt: skip
    spread = per_run.groupby("method").agg(
        coverage_median=("coverage", "median"), coverage_p10=("coverage", lambda s: s.quantile(0.1)),
        mae_median=("mae", "median"), mae_p90=("mae", lambda s: s.quantile(0.9)),
    )  # fmt: skip
    print(pooled.join(spread).round(3).to_string())
    by_labels = late.groupby(["method", "n_labeled"]).agg(coverage=("covered", "mean"), mae=("abs_error", "mean"))
    print("\nby labels spent:\n" + by_labels.unstack("method").round(3).to_string())
    stops = stopping(rounds, args.budget)
    summary = stops.groupby(["method", "rule"]).agg(
        runs=("fired", "size"), fired=("fired", "mean"), labels_median=("labels", "median"),
        saved_median=("saved", "median"), recall_median=("recall", "median"),
        recall_ge_075=("recall", lambda s: (s >= 0.75).mean()), given_up_median=("recall_given_up", "median"),
    )  # fmt: skip
    print("\nstopping rules (replayed on each run; never fired = stopped at the budget):")
    print(summary.round(3).to_string())
    fired = stops[stops["fired"]]
    if len(fired):
        print("\nruns where the rule fired:\n" + fired.groupby(["method", "rule"]).agg(
            runs=("fired", "size"), recall_ge_075=("recall", lambda s: (s >= 0.75).mean()),
            saved_median=("saved", "median"),
        ).round(3).to_string())  # fmt: skip


if __name__ == "__main__":
    main()
