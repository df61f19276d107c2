"""The rounds stage of bench/hundred_million.py: SEALS vs All, warm and cold, per concept × seed.

SEALS runs in index mode (each round's labeled rows are searched in the IVF-HNSW index: no kNN
graph exists at 10^8), All scans every pool row each round. Each (storage, variant, concept,
seed) run is saved under DIR/rounds/ and skipped when present, so a killed stage resumes run by
run. Rounds are timed whole (ask + tell: kNN, training, selection), the seed round excluded.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from cold_rounds import one_run
from scaling import evict, warm

from sealsearch.data.dataset import Dataset
from sealsearch.experiments.simulate import pick_concepts
from sealsearch.index import open_or_build_rows_index


def spread(values) -> str:
    values = np.asarray(list(values), dtype=float)
    return f"{np.median(values):.3g} [{values.min():.3g}–{values.max():.3g}]" if values.size else "n/a"


def _runs(args: argparse.Namespace, dataset: Dataset, index, results: Path) -> None:
    concepts = pick_concepts(dataset, args.concepts, seed_pos=5, min_test=0, seed=0)
    path = dataset.path / "embeddings.npy"
    storages = ["warm", "cold"] if args.cold else ["warm"]
    for storage in storages:
        for concept in concepts:
            for seed in [int(s) for s in args.seeds.split(",")]:
                for variant in ("seals", "all"):
                    out = results / f"{storage}_{variant}_{concept}_s{seed}.parquet"
                    if out.is_file():
                        continue
                    hook = (lambda: evict(dataset.embeddings, path)) if storage == "cold" else None  # noqa: E731
                    if storage == "cold":
                        evict(dataset.embeddings, path)
                    elif variant == "all":
                        warm(dataset.embeddings)
                    start = time.perf_counter()
                    table = one_run(dataset, concept, seed, "maxent", variant, args, index, None, None, hook)
                    meta = {"storage": storage, "variant": variant, "concept": concept, "seed": seed}
                    tmp = out.with_suffix(".tmp")
                    table.drop(columns=["batch"]).assign(**meta).to_parquet(tmp, index=False)
                    tmp.replace(out)
                    body = table[table["round"] > 0]
                    print(
                        f"  {storage} {variant:5s} {concept} s{seed}: {body.t_round.mean() * 1e3:9.1f} ms/round "
                        f"(kNN {body.t_knn.mean() * 1e3:.1f}, select {body.t_select.mean() * 1e3:.1f}), "
                        f"recall {table.recall.iloc[-1]:.3f}, {time.perf_counter() - start:.0f} s",
                        flush=True,
                    )


def summarize(results: Path) -> dict:
    tables = [pd.read_parquet(f) for f in sorted(results.glob("*.parquet"))]
    if not tables:
        return {}
    rounds = pd.concat(tables, ignore_index=True)
    keys = ["storage", "variant", "concept", "seed"]
    body = rounds[rounds["round"] > 0]
    runs = body.groupby(keys).agg(t_round=("t_round", "mean"), t_knn=("t_knn", "mean")).reset_index()
    final = rounds.sort_values("round").groupby(keys).tail(1).set_index(keys)[["recall"]]
    runs = runs.join(final, on=keys)
    figures = {}
    for storage, group in runs.groupby("storage"):
        paired = group.set_index(["concept", "seed", "variant"])["t_round"].unstack("variant")
        cell = {v: spread(g["t_round"] * 1e3) for v, g in group.groupby("variant")}
        recall = {v: spread(g["recall"]) for v, g in group.groupby("variant")}
        ratio = (paired["all"] / paired["seals"]).dropna() if {"all", "seals"} <= set(paired.columns) else []
        figures[storage] = {
            "round_ms": cell, "recall_at_T": recall, "all_over_seals": spread(ratio), "pairs": len(ratio),
        }  # fmt: skip
    return figures


def run_rounds(args: argparse.Namespace, dataset: Dataset) -> dict:
    if not (args.dir / "stages" / "index.json").is_file():
        raise SystemExit("rounds: the index stage has not finished; run --stages index first (it resumes)")
    results = args.dir / "rounds"
    results.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    index = open_or_build_rows_index(dataset.embeddings, dataset.split_rows("pool"), dataset.index_dir, args.factory)
    print(f"  index opened in {time.perf_counter() - start:.0f} s", flush=True)
    _runs(args, dataset, index, results)
    figures = summarize(results)
    for storage, cell in figures.items():
        print(f"  {storage}: {cell}", flush=True)
    return {"budget": args.budget, "batch": args.batch, "k": args.k, "concepts": args.concepts,
            "seeds": args.seeds, **figures}  # fmt: skip
