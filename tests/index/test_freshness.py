"""What is built from the embeddings (an index, a kNN graph, SQ8 codes) is never reused once the
rows changed under it (issue 18, class 4): each records the store's fingerprint and is rebuilt,
or refused with one line saying how to rebuild it."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import make_dataset
from sealsearch.active.knn import build_knn_graph, find_graph, open_graph, open_or_build_index
from sealsearch.cli import app
from sealsearch.data.codes import Sq8Codes
from sealsearch.data.dataset import Dataset
from sealsearch.errors import InvalidDataError
from sealsearch.index import index_path

K = 5


@pytest.fixture()
def built(tmp_path_factory) -> Path:
    """A dataset with a Flat index, a k=5 graph and SQ8 codes, all built from its rows."""
    path = tmp_path_factory.mktemp("fresh") / "ds"
    dataset = make_dataset(path, n=500)
    build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), K, method="search")
    Sq8Codes.open_or_build(dataset.embeddings, path / "embeddings.npy")
    return path


def shuffle_rows(path: Path, keep_mtime: bool = True) -> np.ndarray:
    """Permute the rows of embeddings.npy in place (items untouched), the mtime restored."""
    file = path / "embeddings.npy"
    stat = file.stat()
    raw = np.load(file)
    order = np.random.default_rng(1).permutation(len(raw))
    np.save(file, raw[order])
    if keep_mtime:
        os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return raw[order]


def own_neighbour(dataset: Dataset, rows: np.ndarray) -> np.ndarray:
    """Each row's nearest indexed row, itself included: the row itself for a fresh Flat index."""
    index = open_or_build_index(dataset, "Flat")
    return index.search(dataset.embeddings.take(rows), 1)[0][:, 0]


def test_an_index_of_shuffled_rows_is_rebuilt(built, caplog):
    dataset = Dataset.open(built)
    rows = dataset.split_rows("pool")[:40]
    assert np.array_equal(own_neighbour(dataset, rows), rows)
    shuffle_rows(built)
    dataset = Dataset.open(built)
    with caplog.at_level(logging.WARNING):
        assert np.array_equal(own_neighbour(dataset, rows), rows)  # the old index would answer other rows
    assert "built from other embeddings" in caplog.text
    meta = json.loads((index_path(dataset.index_dir, "Flat") / "meta.json").read_text())
    assert meta["embeddings"] == dataset.embeddings.fingerprint


def test_an_index_without_a_fingerprint_is_rebuilt_once(built, caplog):
    meta_path = index_path(built / "index", "Flat") / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["embeddings"]  # as an older sealsearch saved it
    meta_path.write_text(json.dumps(meta))
    dataset = Dataset.open(built)
    with caplog.at_level(logging.WARNING):
        open_or_build_index(dataset, "Flat")
    assert "records no fingerprint" in caplog.text
    assert json.loads(meta_path.read_text())["embeddings"] == dataset.embeddings.fingerprint
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        open_or_build_index(dataset, "Flat")  # now fresh: reused without a word
    assert caplog.text == ""


def test_a_graph_of_shuffled_rows_is_refused_and_rebuilt(built, tmp_path):
    shuffle_rows(built)
    dataset = Dataset.open(built)
    with pytest.raises(InvalidDataError, match="built from other embeddings.*seals index graph"):
        open_graph(dataset, "Flat", K)
    assert find_graph(dataset, "Flat", K) is None  # knn "auto" falls back to searching the index
    args = ["run", built, "--concept", "rare", "--budget", 150, "--k", K, "--knn", "graph", "--factory", "Flat"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--out", tmp_path / "r.parquet"]])
    message = result.stderr.strip()
    assert result.exit_code != 0 and message.startswith("error:") and "\n" not in message, result.output
    assert "built from other embeddings" in message and "seals index graph" in message
    graph = build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), K, method="search")
    fresh = tmp_path / "fresh"
    shutil.copytree(built, fresh)
    shutil.rmtree(fresh / "index")
    again = Dataset.open(fresh)
    expected = build_knn_graph(again, open_or_build_index(again, "Flat"), K, method="search")
    assert np.array_equal(graph.ids, expected.ids)


def test_a_graph_of_an_older_sealsearch_is_stale(built):
    meta_path = built / "index" / "Flat" / f"graph_k{K}.json"
    meta = json.loads(meta_path.read_text())
    del meta["embeddings_sha256"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(InvalidDataError, match="records no fingerprint"):
        open_graph(Dataset.open(built), "Flat", K)


def test_sq8_codes_of_shuffled_rows_are_rebuilt_whatever_the_mtime(built):
    shuffle_rows(built, keep_mtime=False)
    os.utime(built / "embeddings.sq8.npy")  # the codes look newer than the vectors
    dataset = Dataset.open(built)
    codes = Sq8Codes.open_or_build(dataset.embeddings, built / "embeddings.npy")
    assert np.array_equal(codes.codes, Sq8Codes.build(dataset.embeddings).codes)
