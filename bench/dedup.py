"""Near-duplicate-aware batches (`--dedup`) on a pool that has near-duplicates.

The paper's MLP stalled at 10 billion images because its batches filled with near-copies of what
it had already found. WordNet has no such copies (a concept's positives have median cosine 0.3
under MiniLM), so `--dedup` changes nothing there. This benchmark makes the failure mode: every
item of a dataset gets `--copies` jittered near-copies (cosine ≈ 1/sqrt(1 + noise²) to the
original; copies of a positive are positives), then runs the same concepts and seeds with and
without dedup and prints, at the end of each run: test AP, positives labeled per label, and
*distinct* originals among the positives labeled per label — the information a label bought.

    PYTHONPATH=src python bench/dedup.py seals-data/wordnet-minilm --data-dir /work/data --concepts 30
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch.active.knn import open_or_build_index
from sealsearch.data.dataset import Dataset
from sealsearch.data.writer import write_dataset
from sealsearch.experiments.simulate import RunConfig, pick_concepts, run


def with_near_copies(source: Dataset, out: Path, copies: int, noise: float, seed: int) -> Dataset:
    """Row i*(copies+1) is original i; the next `copies` rows are its jittered copies (same split,
    same concepts)."""
    if (out / "dataset.json").is_file():
        return Dataset.open(out)
    rng = np.random.default_rng(seed)
    n, dim = source.info.n, source.info.dim
    base = np.asarray(source.embeddings.take(np.arange(n)), dtype=np.float32)
    vectors = np.repeat(base, copies + 1, axis=0)
    jitter = rng.standard_normal((n * (copies + 1), dim), dtype=np.float32) * (noise / np.sqrt(dim))
    jitter[:: copies + 1] = 0  # originals stay as they were
    vectors += jitter
    items = source.items
    expanded = pd.DataFrame({
        "id": [f"{item}#{j}" for item in items["id"] for j in range(copies + 1)],
        "split": np.repeat(items["split"].to_numpy(), copies + 1),
    })  # fmt: skip
    concepts = pd.read_parquet(source.path / "concepts.parquet")
    rows = (concepts["row"].to_numpy()[:, None] * (copies + 1) + np.arange(copies + 1)).ravel()
    long = pd.DataFrame({"row": rows, "concept": np.repeat(concepts["concept"].to_numpy(), copies + 1)})
    return write_dataset(out, vectors, name=f"{source.info.name}-x{copies + 1}", embedder=source.info.embedder,
                         items=expanded, concepts=long)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True, help="where the copied dataset is written")
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.25, help="norm of the jitter added to each copy")
    parser.add_argument("--thresholds", default="0.9", help="dedup cosines to compare with no dedup")
    parser.add_argument("--strategies", default="mlp,maxent")
    parser.add_argument("--pools", default="seals", help="seals and/or all")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--concepts", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    source = Dataset.open(args.dataset)
    out = args.data_dir / f"{source.path.name}-x{args.copies + 1}-noise{args.noise:g}"
    start = time.perf_counter()
    dataset = with_near_copies(source, out, args.copies, args.noise, args.seed)
    print(f"{dataset.path}: {dataset.info.n:,} rows ({time.perf_counter() - start:.0f} s)", flush=True)
    sample = dataset.embeddings.take(np.arange(0, 4 * (args.copies + 1)))
    print(f"cosine original–copy: {float(sample[0] @ sample[1]):.3f}")
    index = open_or_build_index(dataset, "Flat")  # exact neighbours: duplicates must be found as they are
    concepts = pick_concepts(dataset, args.concepts, seed_pos=5, seed=args.seed)
    thresholds = [None] + [float(t) for t in args.thresholds.split(",")]
    rows = []
    for concept in concepts:
        for strategy in args.strategies.split(","):
            for pool in args.pools.split(","):
                for dedup in thresholds:
                    config = RunConfig(concept=concept, strategy=strategy, pool=pool, k=args.k, budget=args.budget,
                                       seed=args.seed, dedup=dedup)  # fmt: skip
                    result = run(dataset, config, index=index)
                    labels = result.labels
                    positives = labels.loc[labels["label"] == 1, "row"].to_numpy()
                    last = result.rounds.iloc[-1]
                    rows.append({
                        "strategy": strategy, "pool": pool, "dedup": "off" if dedup is None else f"{dedup:g}",
                        "ap": last["ap"], "recall": last["recall"],
                        "pos_per_label": positives.size / len(labels),
                        "distinct_per_label": np.unique(positives // (args.copies + 1)).size / len(labels),
                        "seconds": result.rounds[["t_select", "t_knn", "t_train"]].to_numpy().sum(),
                    })  # fmt: skip
        print(f"  {concept} done", flush=True)
    table = pd.DataFrame(rows).groupby(["strategy", "pool", "dedup"]).mean(numeric_only=True)
    print(f"\nmean over {len(concepts)} concepts, {args.budget} labels, k={args.k}:")
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
