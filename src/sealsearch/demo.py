"""`seals demo`: the paper's All-vs-SEALS comparison on the embedded WordNet + GloVe dataset.

The SEALS pool grows like k·T, so the demo keeps N/(k·T) near the paper's ImageNet ratio (≈ 3)
on this 65k-item pool: k = 20, T = 1,000 (measured: k = 100, T = 2,000 lets the pool reach a third
to a half of N, which no longer shows what SEALS saves).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch.datasets.wordnet import DATASET_NAME, DEFAULT_WORDNET_DIR, build_wordnet_dataset
from sealsearch.errors import InvalidParameterError
from sealsearch.experiment import RoundCallback, RunConfig, compare, summarize
from sealsearch.plots import plot_curves
from sealsearch.store import Dataset, Progress

DEFAULT_DATA_DIR = Path("seals-data")
DEMO_CONFIG = RunConfig(concept="", k=20, budget=1000, batch_size=100, seed_pos=5, neg_ratio=19, seed=0)
MIN_TEST_POSITIVES = 5


def open_or_build_demo_dataset(
    data_dir: Path = DEFAULT_DATA_DIR, *, wordnet_dir: Path = DEFAULT_WORDNET_DIR, progress: Progress | None = None
) -> Dataset:
    """The WordNet dataset under data_dir, built (seconds) on first use."""
    path = Path(data_dir) / DATASET_NAME
    if (path / "dataset.json").is_file():
        return Dataset.open(path)
    return build_wordnet_dataset(path, wordnet_dir=wordnet_dir, progress=progress)


def pick_concepts(dataset: Dataset, n: int, *, seed_pos: int, seed: int = 0) -> list[str]:
    """A reproducible sample of concepts that can seed a run and be scored on the test split."""
    concepts = pd.read_parquet(dataset.path / "concepts.parquet")
    split = dataset.items["split"].to_numpy()[concepts["row"].to_numpy()]
    counts = pd.crosstab(concepts["concept"], split)
    usable = counts.index[(counts.get("pool", 0) >= seed_pos) & (counts.get("test", 0) >= MIN_TEST_POSITIVES)].tolist()
    if len(usable) < n:
        raise InvalidParameterError(f"only {len(usable)} concepts are usable for the demo, asked for {n}")
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(sorted(usable), size=n, replace=False).tolist())


@dataclass
class DemoResult:
    concepts: list[str]
    rounds: pd.DataFrame
    summary: pd.DataFrame
    table_path: Path
    plot_path: Path


def run_demo(
    dataset: Dataset,
    out_dir: Path,
    *,
    concepts: list[str] | None = None,
    n_concepts: int = 6,
    config: RunConfig = DEMO_CONFIG,
    strategies: tuple[str, ...] = ("maxent", "mlp"),
    pools: tuple[str, ...] = ("all", "seals"),
    on_round: RoundCallback | None = None,
) -> DemoResult:
    """Run the comparison, write `demo.parquet` (every round) and `demo.png` (the curves)."""
    concepts = concepts or pick_concepts(dataset, n_concepts, seed_pos=config.seed_pos, seed=config.seed)
    rounds = compare(dataset, concepts, config, strategies=strategies, pools=pools, on_round=on_round)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = out_dir / "demo.parquet"
    rounds.to_parquet(table_path, index=False)
    plot_path = plot_curves(
        rounds, out_dir / "demo.png",
        title=f"{dataset.info.name}: {len(concepts)} concepts, k={config.k}, b={config.batch_size}",
    )  # fmt: skip
    return DemoResult(concepts, rounds, summarize(rounds), table_path, plot_path)
