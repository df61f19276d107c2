"""`seals demo`: the paper's All-vs-SEALS comparison on the embedded WordNet + GloVe dataset.

The SEALS pool grows like k·T, so the demo keeps N/(k·T) near the paper's ImageNet ratio (≈ 3)
on this 65k-item pool: k = 20, T = 1,000 (measured: k = 100, T = 2,000 lets the pool reach a third
to a half of N, which no longer shows what SEALS saves). docs/protocol.md has the measured results.
"""

from __future__ import annotations

from pathlib import Path

from sealsearch._util import Progress
from sealsearch.data.dataset import Dataset
from sealsearch.datasets.wordnet import DATASET_NAME, DEFAULT_WORDNET_DIR, build_wordnet_dataset
from sealsearch.experiments.simulate import RunConfig

DEFAULT_DATA_DIR = Path("seals-data")
DEMO_CONFIG = RunConfig(concept="", k=20, budget=1000, batch_size=100, seed_pos=5, neg_ratio=19, seed=0)


def open_or_build_demo_dataset(
    data_dir: Path = DEFAULT_DATA_DIR, *, wordnet_dir: Path = DEFAULT_WORDNET_DIR, progress: Progress | None = None
) -> Dataset:
    """The WordNet dataset under data_dir, built (seconds) on first use."""
    path = Path(data_dir) / DATASET_NAME
    if (path / "dataset.json").is_file():
        return Dataset.open(path)
    return build_wordnet_dataset(path, wordnet_dir=wordnet_dir, progress=progress)
