"""The "hnsw" graph build: recall against exact neighbours, resuming, and "auto"'s choice."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import clustered_vectors, make_dataset
from sealsearch.active.knn import build_knn_graph, graph_paths, graph_recall, open_or_build_index
from sealsearch.data.writer import write_dataset
from sealsearch.index import hnsw_graph
from sealsearch.index.hnsw_graph import HNSW_WORK, choose_method
from sealsearch.index.recall import exact_neighbours


class Interrupted(Exception):
    """Stands for Ctrl-C in the middle of a build."""


@pytest.fixture(scope="module")
def diffuse(tmp_path_factory):
    """4,000 × 32 with wide clusters: neighbourhoods cross the IVF lists, as real embeddings do."""
    vectors, _ = clustered_vectors(4000, 32, 40, np.random.default_rng(3), spread=1.0)
    items = pd.DataFrame({"id": [f"i{i}" for i in range(4000)], "split": "pool"})
    concepts = pd.DataFrame({"row": [0, 1], "concept": "pair"})
    return write_dataset(tmp_path_factory.mktemp("hnsw") / "ds", vectors, name="d", embedder="t", items=items,
                         concepts=concepts)  # fmt: skip


def _exact_recall(dataset, graph, n: int = 300) -> float:
    pool = dataset.split_rows("pool")
    queries = pool[np.random.default_rng(0).choice(pool.size, n, replace=False)]
    _, exact = exact_neighbours(dataset.embeddings, pool, queries, dataset.embeddings.take(queries), graph.k + 1)
    hits = [np.intersect1d(row[row != q][: graph.k], found).size for q, row, found in
            zip(queries, exact, graph.neighbours(queries, graph.k), strict=True)]  # fmt: skip
    return float(np.mean(hits)) / graph.k


def test_hnsw_graph_reaches_recall_095_against_exact_neighbours(diffuse):
    index = open_or_build_index(diffuse, "IVF64,Flat")
    graph = build_knn_graph(diffuse, index, 20, method="hnsw")
    assert graph.method == "hnsw" and graph.ids.shape == (4000, 20)
    pool = diffuse.split_rows("pool")
    ids = np.asarray(graph.ids)
    assert not (ids == pool[:, None]).any() and (ids >= 0).all()  # no row is its own neighbour
    assert _exact_recall(diffuse, graph) >= 0.95
    assert graph_recall(diffuse, graph) >= 0.95  # the tie-tolerant figure the CLI prints
    meta = json.loads(graph_paths(diffuse, index.factory, 20)[1].read_text())
    assert meta["method"] == "hnsw" and meta["ef_search"] == hnsw_graph.ef_search(20)


def test_interrupted_hnsw_build_resumes_with_the_saved_index(tmp_path, monkeypatch):
    monkeypatch.setattr(hnsw_graph, "SEARCH_ROWS", 256)
    dataset = make_dataset(tmp_path / "ds")
    index = open_or_build_index(dataset, "Flat")
    calls = []

    def stop(done: int, total: int) -> None:
        calls.append(done)
        if done >= 512:
            raise Interrupted

    with pytest.raises(Interrupted):
        build_knn_graph(dataset, index, 10, method="hnsw", chunk_rows=256, progress=stop)
    path, meta_path = graph_paths(dataset, "Flat", 10)
    assert json.loads(meta_path.read_text())["rows_done"] == 512 and path.with_suffix(".hnsw").is_file()
    first = np.load(path)[:512].copy()
    resumed = []
    graph = build_knn_graph(dataset, index, 10, method="auto", chunk_rows=256, progress=lambda d, t: resumed.append(d))
    assert resumed[0] == 512 and graph.method == "hnsw"  # auto resumes what was started
    np.testing.assert_array_equal(np.asarray(graph.ids)[:512], first)
    assert _exact_recall(dataset, graph) >= 0.95


@pytest.mark.parametrize(
    ("probe", "nlist", "n_rows", "dim", "expected"),
    [
        (2, 1024, 900_000, 256, "ivf-lists"),  # synthetic 10^6: 1,758 candidates a row
        (82, 1024, 65_692, 50, "ivf-lists"),  # WordNet × GloVe
        (271, 1024, 65_692, 384, "ivf-lists"),  # WordNet × MiniLM: 6.7e6 multiply-adds
        (590, 2048, 200_000, 50, "ivf-lists"),  # GloVe 2·10^5, where ivf-lists was 4x faster
        (2, 4096, 9_000_000, 256, "ivf-lists"),  # synthetic 10^7
        (1150, 4096, 9_000_000, 50, "hnsw"),  # a GloVe-like 10^7 pool needing 28% of the lists
    ],
)
def test_auto_rule_on_the_measured_probes(probe, nlist, n_rows, dim, expected):
    assert choose_method(probe, nlist, n_rows, dim) == expected
    assert choose_method(1, 1, HNSW_WORK, 1) == "ivf-lists" and choose_method(1, 1, HNSW_WORK + 1, 1) == "hnsw"


@pytest.mark.parametrize(("work", "expected"), [(0, "hnsw"), (10**12, "ivf-lists")])
def test_auto_build_follows_the_rule(tmp_path, monkeypatch, work, expected):
    monkeypatch.setattr(hnsw_graph, "HNSW_WORK", work)
    dataset = make_dataset(tmp_path / "ds")
    graph = build_knn_graph(dataset, open_or_build_index(dataset, "IVF16,Flat"), 10)
    assert graph.method == expected
    meta = json.loads(graph.path.with_suffix(".json").read_text())
    assert "probe_recall" in meta  # the prediction the choice came from is recorded either way
