"""Does the recall bound hold, and do stops come right and early? Issue 19's goal table per dataset.

    PYTHONPATH=src nohup .venv/bin/python bench/estimate_recall.py seals-data/wordnet-glove50 \
        --concepts 30 --seeds 3 --out seals-data/bench/estimate > seals-data/bench/estimate-wordnet.log 2>&1 &
    PYTHONPATH=src .venv/bin/python bench/estimate_recall.py --summary seals-data/bench/estimate

Every (strategy, pool, concept, seed) runs twice to the budget: once with the audit estimate
(10 audit labels a round that join the loop; its bound is a confidence sequence) and once with
the model-only estimate (no audit, no guarantee). Each run is written to its own parquet under
`--out/<dataset>/` and skipped when it exists, so a killed bench resumes where it stopped; a
progress line per run says how far it is. `--summary DIR` prints the table from whatever runs
exist. Stopping rules are replayed on each finished run (`active.stopping.first_stop`).

Measures, per dataset × strategy-pool × estimate (checkpoints: every round with ≥ 500 labels):
- coverage: the 95% interval holds the true recall; lower-bound coverage: lo ≤ true recall;
- MAE: mean |estimate − truth| over checkpoints with ≥ 1,000 labels (mae_1000_unbiased: of the
  audit draws' own unbiased mean, which the point estimate does not use);
- per rule (target:0.8 on that estimate's bound, zero:0.8, knee, budget): strict correctness
  (true recall ≥ 0.8 where it fired), fire rate among runs whose budget allowed 0.8 (true recall
  reached 0.8), median labels at the stop ÷ the first label count with true recall ≥ 0.8;
- audit share: audit labels ÷ all labels at the end; unreached: runs where an audit found a
  positive outside the loop's candidate pool; recall at the budget, audit run vs model run;
  certify_0.8_labels: the median labels a uniform-sample certificate of recall 0.8 would cost at
  the end of the run (`active.certify.certificate_plan`, quoted from the point estimate).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch.active.certify import certificate_plan
from sealsearch.active.knn import open_or_build_index
from sealsearch.active.stopping import first_stop, parse_rule
from sealsearch.data.dataset import Dataset
from sealsearch.experiments.simulate import RunConfig, pick_concepts, run
from sealsearch.reporting.estimate import unreached_since

RULES = ("target:0.8", "zero:0.8", "knee", "budget")
TARGET = 0.8
RUN_KEYS = ["dataset", "strategy", "pool", "concept", "seed", "method"]


def run_all(args: argparse.Namespace) -> None:
    dataset = Dataset.open(args.dataset)
    index = open_or_build_index(dataset)
    concepts = pick_concepts(dataset, args.concepts, seed_pos=5, seed=0)
    folder = args.out / dataset.info.name
    folder.mkdir(parents=True, exist_ok=True)
    plan = [
        (seed, strategy, pool, concept, method)
        for seed in range(args.seeds) for strategy in args.strategies.split(",") for pool in args.pools.split(",")
        for concept in concepts for method in ("audit", "model")
    ]  # fmt: skip
    started, done = time.perf_counter(), 0
    for i, (seed, strategy, pool, concept, method) in enumerate(plan, 1):
        path = folder / f"{strategy}-{pool}-{concept}-{seed}-{method}.parquet"
        if path.exists():
            continue
        config = RunConfig(
            concept=concept, strategy=strategy, pool=pool, k=args.k, budget=args.budget, seed=seed, estimate=method
        )
        result = run(dataset, config, index=index)
        keys = dict(zip(RUN_KEYS, (dataset.info.name, strategy, pool, concept, seed, method), strict=True))
        result.rounds.assign(**keys, pool_rows=int(dataset.split_rows("pool").size)).to_parquet(path, index=False)
        done += 1
        rate = (time.perf_counter() - started) / done
        print(f"[{i}/{len(plan)}] {path.name}: {rate:.1f} s/run, ~{rate * (len(plan) - i) / 60:.0f} min left",
              flush=True)  # fmt: skip


def load(directory: Path) -> pd.DataFrame:
    parts = [pd.read_parquet(p) for p in sorted(directory.rglob("*.parquet"))]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def stops(rounds: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, rule): fired, true recall at the stop, labels at the stop, oracle labels."""
    rows = []
    for keys, r in rounds.groupby(RUN_KEYS[:-1] + ["method"], observed=True):
        r = r.sort_values("round")
        labels, found = r["n_labeled"].to_numpy(), r["n_positive"].to_numpy()
        reached = np.flatnonzero(r["recall"].to_numpy() >= TARGET)
        oracle = int(labels[reached[0]]) if reached.size else None
        for text in RULES:
            rule = parse_rule(f"budget:{int(labels[-1])}" if text == "budget" else text)
            lo = r["est_recall_lo"].to_numpy() if rule.needs_estimate else None
            at, _ = first_stop(rule, labels, found, lo, pool_size=int(r["pool_rows"].iloc[0]), since=unreached_since(r))
            stop = r.iloc[-1 if at is None else at]
            rows.append({
                **dict(zip(RUN_KEYS, keys, strict=True)), "rule": text, "fired": at is not None,
                "recall": float(stop["recall"]), "labels": int(stop["n_labeled"]), "oracle": oracle,
            })  # fmt: skip
    return pd.DataFrame(rows)


def goal_table(rounds: pd.DataFrame) -> pd.DataFrame:
    """The issue's measures per dataset, strategy-pool and estimate (see the module doc)."""
    late = rounds[rounds["n_labeled"] >= 500]
    covered = (late["est_recall_lo"] <= late["recall"] + 1e-9) & (late["recall"] <= late["est_recall_hi"] + 1e-9)
    late = late.assign(covered=covered, lower=late["est_recall_lo"] <= late["recall"] + 1e-9,
                       error=(late["est_recall"] - late["recall"]).abs().where(late["n_labeled"] >= 1000),
                       error_unbiased=(late["est_recall_unbiased"] - late["recall"]).abs()
                       .where(late["n_labeled"] >= 1000))  # fmt: skip
    group = ["dataset", "strategy", "pool", "method"]
    last = rounds.sort_values("round").groupby(RUN_KEYS, observed=True).tail(1)
    table = late.groupby(group, observed=True).agg(
        runs=("concept", lambda s: 0), checkpoints=("covered", "size"), coverage=("covered", "mean"),
        lower_coverage=("lower", "mean"), mae_1000=("error", "mean"), mae_1000_unbiased=("error_unbiased", "mean"),
    )  # fmt: skip
    table["runs"] = last.groupby(group, observed=True).size()
    table["audit_share"] = (last["audit_labels"] / last["n_labeled"]).groupby([last[g] for g in group]).max()
    table["unreached_runs"] = (last["audit_unreached"] > 0).groupby([last[g] for g in group]).mean()
    table["recall_at_budget"] = last.groupby(group, observed=True)["recall"].mean()
    quotes = [
        certificate_plan(TARGET, 0.95, row.n_positive / max(row.est_recall, 1e-9), row.pool_rows,
                         row.pool_rows - row.n_labeled).labels
        for row in last.itertuples()
    ]  # fmt: skip
    table["certify_0.8_labels"] = pd.Series(quotes, index=last.index).groupby([last[g] for g in group]).median()
    s = stops(rounds)
    allowed = s[s["oracle"].notna()]
    for rule in RULES:
        mine, ok = s[(s["rule"] == rule) & s["fired"]], allowed[allowed["rule"] == rule]
        by = [mine[g] for g in group]
        table[f"{rule}:right"] = (mine["recall"] >= TARGET).groupby(by).mean()
        table[f"{rule}:fires"] = ok["fired"].groupby([ok[g] for g in group]).mean()
        ratio = (mine["labels"] / mine["oracle"]).where(mine["oracle"].notna())
        table[f"{rule}:cost"] = ratio.groupby(by).median()
    return table.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?")
    parser.add_argument("--concepts", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--strategies", default="mlp,maxent")
    parser.add_argument("--pools", default="seals,adaptive")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("seals-data/bench/estimate"))
    parser.add_argument("--summary", type=Path, default=None, help="print the goal table of the runs in this folder")
    args = parser.parse_args()
    if args.summary is None:
        if args.dataset is None:
            parser.error("give a dataset to run, or --summary DIR")
        run_all(args)
    rounds = load(args.summary or args.out)
    pd.set_option("display.width", 250)
    for name, table in goal_table(rounds).groupby("dataset"):
        print(f"\n== {name}: {table['runs'].sum()} runs (one column per strategy-pool-estimate) ==")
        columns = table.drop(columns="dataset").set_index(["strategy", "pool", "method"]).T
        columns.columns = ["-".join(c) for c in columns.columns]
        print(columns.round(3).to_string())


if __name__ == "__main__":
    main()
