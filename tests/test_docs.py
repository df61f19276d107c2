"""Every example in the README and docs/ runs: Python blocks are executed, `seals ...` lines in
bash blocks are invoked, in one working directory holding the real WordNet demo dataset."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
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
    return path


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
