"""Every example in the README and docs/ runs: Python blocks are executed, `seals ...` lines in
bash blocks are invoked, in one working directory holding the real WordNet demo dataset."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.datasets.wordnet import build_wordnet_dataset

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(path.read_text()) if lang == language]


def cli_lines(path: Path) -> list[str]:
    lines = []
    for body in blocks(path, "bash"):
        for line in body.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("seals "):
                lines.append(line)
    return lines


def write_import_inputs(path: Path) -> Path:
    """The files the `seals import` example names."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 32)).astype(np.float32)
    vectors[:60] += 3 * rng.normal(size=32).astype(np.float32)
    np.save(path / "vectors.npy", vectors)
    split = np.where(np.arange(3000) % 5 == 0, "test", "pool")
    pd.DataFrame({"id": np.arange(3000).astype(str), "split": split}).to_parquet(path / "items.parquet")
    pd.DataFrame({"row": np.arange(60), "concept": "harbor seal"}).to_parquet(path / "concepts.parquet")
    write_from_inputs(path, vectors, split)
    return path


def write_from_inputs(path: Path, vectors: np.ndarray, split: np.ndarray) -> None:
    """The same items in the shapes `seals import --from` and `seals embed` read (docs/import.md)."""
    ids = [f"item-{i}" for i in range(len(vectors))]
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])
    concepts = pa.array([["harbor seal"] if i < 60 else [] for i in range(len(vectors))], pa.list_(pa.string()))
    table = pa.table({"id": ids, "text": [f"item {i}" for i in range(len(vectors))], "split": split})
    pq.write_table(table.append_column("vector", column).append_column("concepts", concepts), path / "vectors.parquet")
    for sub in ("shards", "clip-out/img_emb", "clip-out/text_emb", "clip-out/metadata", "emb", "photos"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for shard, start in enumerate(range(0, len(vectors), 1000)):
        rows = slice(start, start + 1000)
        pq.write_table(
            table.slice(start, 1000).append_column("vector", column[rows]), path / f"shards/part-{shard}.parquet"
        )
        np.save(path / f"clip-out/img_emb/img_emb_{shard}.npy", vectors[rows].astype(np.float16))
        np.save(path / f"clip-out/text_emb/text_emb_{shard}.npy", vectors[rows][:, ::-1].astype(np.float16))
        uris = [f"{i}.jpg" for i in range(start, min(start + 1000, len(vectors)))]
        pd.DataFrame({"image_path": uris, "caption": "a photo"}).to_parquet(
            path / f"clip-out/metadata/metadata_{shard}.parquet"
        )
        np.save(path / f"emb/part-{shard}.npy", vectors[rows])
    table.to_pandas().to_parquet(path / "meta.parquet")
    products = ["red wool sweater", "blue denim jeans", "leather hiking boots", "stainless steel kitchen knife"]
    pd.DataFrame({"sku": ["P1", "P2", "P3", "P4"], "description": products}).to_csv(path / "products.csv", index=False)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory holding the demo dataset, as `make demo` leaves it."""
    path = tmp_path_factory.mktemp("docs")
    build_wordnet_dataset(path / "seals-data" / "wordnet-glove50")
    return path


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_python_examples_run(doc, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    for code in blocks(doc, "python"):
        exec(compile(code, str(doc), "exec"), {"__name__": "__docs__"})


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_cli_examples_run(doc, workdir, tmp_path, monkeypatch):
    """The README's examples start from an empty directory and build what they use, in order;
    the guides in docs/ start where `make demo` leaves you."""
    monkeypatch.chdir(write_import_inputs(tmp_path if doc.name == "README.md" else workdir))
    for line in cli_lines(doc):
        result = CliRunner().invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, f"{line}\n{result.output}"


def test_readme_gives_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    assert cli_lines(ROOT / "README.md"), "the README shows the CLI"
