"""Small real datasets on disk (real .npy, real parquet, real Faiss) shared by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sealsearch.data.dataset import Dataset
from sealsearch.data.writer import write_dataset


def clustered_vectors(n: int, dim: int, n_clusters: int, rng: np.random.Generator, spread: float = 0.35):
    """Unit vectors around random centres, so kNN neighbourhoods mean something."""
    centres = rng.normal(size=(n_clusters, dim))
    assignment = rng.integers(0, n_clusters, size=n)
    vectors = centres[assignment] + spread * rng.normal(size=(n, dim))
    return vectors.astype(np.float32), assignment


def make_dataset(path: Path, n: int = 1500, dim: int = 16, seed: int = 0) -> Dataset:
    """Clusters plus two rare concepts: 'rare' (a tight group of 30 items) and 'tiny' (3 items)."""
    rng = np.random.default_rng(seed)
    vectors, assignment = clustered_vectors(n, dim, 12, rng)
    rare_centre = rng.normal(size=dim)
    rare_rows = rng.choice(n, size=30, replace=False)
    vectors[rare_rows] = rare_centre + 0.3 * rng.normal(size=(30, dim))
    split = np.where(rng.random(n) < 0.2, "test", "pool")
    split[rare_rows[:24]] = "pool"
    split[rare_rows[24:]] = "test"
    tiny_rows = np.setdiff1d(np.arange(n), rare_rows)[:3]
    items = pd.DataFrame(
        {"id": [f"item{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)], "split": split}
    )
    concepts = pd.concat(
        [
            pd.DataFrame({"row": rare_rows, "concept": "rare"}),
            pd.DataFrame({"row": tiny_rows, "concept": "tiny"}),
            pd.DataFrame({"row": np.flatnonzero(assignment == 0), "concept": "cluster0"}),
        ]
    )
    return write_dataset(path, vectors, name="synthetic", embedder="test", items=items, concepts=concepts)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Dataset:
    return make_dataset(tmp_path_factory.mktemp("data") / "small")


@pytest.fixture(scope="session")
def local_ray():
    """One real local Ray (2 CPUs) for every Ray test of the session: starting one takes ~8 s.

    Code under test sees it initialised, so it uses it and leaves it running. Its workers import
    sealsearch through the PYTHONPATH they inherit from the test process."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'sealsearch[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def text_dataset(tmp_path_factory):
    """web_support's ~2,500 GloVe-embedded texts, built once per session (no test writes into a
    dataset); the web tests and the disk tests share it."""
    from web_support import make_text_dataset

    return make_text_dataset(tmp_path_factory.mktemp("web") / "texts")
