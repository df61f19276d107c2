"""Small real datasets on disk (real .npy, real parquet, real Faiss) shared by the tests."""

from __future__ import annotations

import os
import socket
import subprocess
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


SERVER_PYTHON = "SEALS_MILVUS_SERVER_PYTHON"
LAUNCHER = Path(__file__).parent / "index" / "milvus_launcher.py"
DEFAULT_SERVER_PYTHON = Path(__file__).resolve().parents[1] / ".venv-milvus" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """The URI of a real Milvus server for this session: SEALS_MILVUS_URI, or a standalone started
    by milvus_launcher.py (data under tmp; it stops when this process closes its stdin)."""
    if uri := os.environ.get("SEALS_MILVUS_URI"):
        yield uri
        return
    python = Path(os.environ.get(SERVER_PYTHON) or DEFAULT_SERVER_PYTHON)
    if os.environ.get(SERVER_PYTHON) and not python.exists():
        pytest.fail(f"{SERVER_PYTHON}={python}: no such file; name a python that has milvus==2.3.5")
    if not python.exists():
        pytest.skip(f"no Milvus server: `make milvus-server` installs milvus==2.3.5 into .venv-milvus, "
                    f"or set {SERVER_PYTHON}=a python that has it, or SEALS_MILVUS_URI=http://host:19530")  # fmt: skip
    data = tmp_path_factory.mktemp("milvus-server")
    server = subprocess.Popen(
        [str(python), str(LAUNCHER), "--data", str(data), "--port", str(free_port())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = server.stdout.readline().strip()
    try:
        if not line.startswith("ready "):
            pytest.fail(f"the Milvus server did not start ({line or 'no answer'}); logs in {data}/logs")
        yield line.removeprefix("ready ")
    finally:
        server.stdin.close()
        server.wait(timeout=60)


@pytest.fixture(scope="session")
def text_dataset(tmp_path_factory):
    """web_support's ~2,500 GloVe-embedded texts, built once per session (no test writes into a
    dataset); the web tests and the disk tests share it."""
    from web_support import make_text_dataset

    return make_text_dataset(tmp_path_factory.mktemp("web") / "texts")
