"""`seals embed`: a user's own texts (CSV, JSON Lines, Parquet) embedded into a dataset with GloVe;
resumable chunks; one-line errors. MiniLM only where sentence-transformers is installed."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.data.dataset import Dataset
from sealsearch.datasets.texts import embed_text_table
from sealsearch.embedders import GloveQueryEmbedder, query_embedder
from sealsearch.embedders.glove import embed_texts

PRODUCTS = [
    "red wool sweater with a round neck",
    "blue denim jeans, slim fit",
    "leather hiking boots, waterproof",
    "cotton t-shirt in white",
    "stainless steel kitchen knife",
    "wooden cutting board for the kitchen",
    "running shoes with a light sole",
]


def seals(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def products() -> pd.DataFrame:
    return pd.DataFrame({
        "sku": [f"P{i:03d}" for i in range(len(PRODUCTS))],
        "description": PRODUCTS,
        "split": ["test" if i == 6 else "pool" for i in range(len(PRODUCTS))],
        "category": ["clothing"] * 4 + ["kitchen"] * 2 + ["shoes"],
    })  # fmt: skip


def unit(matrix):
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_embed_a_table_of_texts(tmp_path, suffix):
    path = tmp_path / f"products.{suffix}"
    frame = products()
    {"csv": lambda: frame.to_csv(path, index=False), "jsonl": lambda: frame.to_json(path, orient="records", lines=True),
     "parquet": lambda: frame.to_parquet(path)}[suffix]()  # fmt: skip
    result = seals(
        "embed", tmp_path / "ds", "--from", path, "--text-column", "description", "--id-column", "sku",
        "--label-column", "category", "--embedder", "glove",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    dataset = Dataset.open(tmp_path / "ds")
    assert dataset.info.embedder == GloveQueryEmbedder.name and dataset.info.dim == 50
    assert dataset.items["id"].tolist() == frame["sku"].tolist()
    assert dataset.items["text"].tolist() == PRODUCTS and dataset.split_rows("test").tolist() == [6]
    assert dataset.concept_rows("kitchen").tolist() == [4, 5]
    np.testing.assert_allclose(dataset.embeddings.vectors, unit(embed_texts(PRODUCTS)), atol=1e-6)
    query = dataset.project(query_embedder(dataset.info.embedder).embed_query("a knife for the kitchen"))
    assert int(np.argmax(dataset.embeddings.vectors @ query)) in (4, 5)  # the same model embeds queries


def test_interrupted_embedding_resumes_from_its_checkpoints(tmp_path, monkeypatch):
    path = tmp_path / "products.csv"
    products().to_csv(path, index=False)
    calls = []
    real = GloveQueryEmbedder.embed

    def flaky(self, texts):
        calls.append(list(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, texts)

    monkeypatch.setattr(GloveQueryEmbedder, "embed", flaky)
    with pytest.raises(KeyboardInterrupt):
        embed_text_table(tmp_path / "ds", path, chunk_texts=2)
    assert not (tmp_path / "ds").exists() and len(list((tmp_path / ".ds.embed-checkpoints").glob("*.npy"))) == 2
    calls.clear()
    dataset = embed_text_table(tmp_path / "ds", path, chunk_texts=2)
    assert calls == [PRODUCTS[4:6], PRODUCTS[6:]]  # only the chunks not yet on disk
    assert dataset.items["text"].tolist() == PRODUCTS and not (tmp_path / ".ds.embed-checkpoints").exists()
    np.testing.assert_allclose(dataset.embeddings.vectors, unit(embed_texts(PRODUCTS)), atol=1e-6)


@pytest.mark.parametrize(
    "edit, flags, fragments",
    [
        (lambda f: f, ["--text-column", "body"], ["no column 'body'", "'description'"]),
        (lambda f: f.drop(columns="description"), [], ["no text column", "--text-column"]),
        (lambda f: f.assign(description=["x", "", *PRODUCTS[2:]]), [], ["row 1 has no text"]),
        (lambda f: f.assign(sku=["A", "B", "A", *f["sku"][3:]]), ["--id-column", "sku"], ["id 'A' appears twice"]),
        (lambda f: f, ["--embedder", "bert"], ["unknown embedder 'bert'", "glove, minilm"]),
    ],
)
def test_bad_texts_are_one_line_and_write_nothing(tmp_path, edit, flags, fragments):
    path = tmp_path / "products.csv"
    edit(products()).to_csv(path, index=False)
    result = seals("embed", tmp_path / "ds", "--from", path, *flags)
    message = result.output.strip()
    assert result.exit_code != 0 and message.startswith("error:") and len(message.splitlines()) == 1, message
    assert all(fragment in message for fragment in fragments), message
    assert not (tmp_path / "ds").exists()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is None, reason="needs the text extra")
def test_embed_with_minilm(tmp_path):
    path = tmp_path / "products.csv"
    products().to_csv(path, index=False)
    result = seals("embed", tmp_path / "ds", "--from", path, "--embedder", "minilm")
    assert result.exit_code == 0, result.output
    dataset = Dataset.open(tmp_path / "ds")
    assert dataset.info.embedder == "all-MiniLM-L6-v2" and dataset.info.dim == 384
    query = query_embedder(dataset.info.embedder).embed_query("kitchen knife")
    assert int(np.argmax(dataset.embeddings.vectors @ query)) == 4
