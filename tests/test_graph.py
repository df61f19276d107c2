"""kNN-graph mode against index search, with real Faiss indexes and real graph files on disk.

Each test builds graphs in a dataset of its own: a graph beside the shared `small_dataset` index
would silently switch other tests' runs to graph mode.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import make_dataset
from sealsearch.cli import app
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError
from sealsearch.experiment import RunConfig, run
from sealsearch.index import build_index, open_or_build_index
from sealsearch.index.graph import KnnGraph, NeighbourSource, build_knn_graph, find_graph, graph_paths
from sealsearch.pool import SealsPool


class Interrupted(Exception):
    """Stands for Ctrl-C in the middle of a build."""


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "ds")


def test_graph_rows_equal_index_search_for_flat(dataset):
    index = open_or_build_index(dataset, "Flat")
    graph = build_knn_graph(dataset, index, 12, chunk_rows=256)
    pool = dataset.split_rows("pool")
    expected, _ = index.search(dataset.embeddings.take(pool), 12, exclude=pool)
    np.testing.assert_array_equal(np.asarray(graph.ids), expected)
    np.testing.assert_array_equal(graph.neighbours(pool[::7], 5), expected[::7, :5])
    assert graph.path == graph_paths(dataset, "Flat", 12)[0] and graph.path.name == "graph_k12.npy"
    assert json.loads(graph_paths(dataset, "Flat", 12)[1].read_text())["rows_done"] == pool.size


def test_run_in_graph_mode_matches_index_mode(dataset):
    config = RunConfig(concept="rare", strategy="maxent", pool="seals", k=10, budget=300, batch_size=20, factory="Flat")
    in_index_mode = run(dataset, config)
    index = open_or_build_index(dataset, "Flat")
    build_knn_graph(dataset, index, 15)
    assert find_graph(dataset, "Flat", 10).k == 15  # so the next run looks neighbours up
    in_graph_mode = run(dataset, config)
    compared = ["round", "n_labeled", "n_positive", "recall", "ap", "pool_size"]
    assert len(in_graph_mode.rounds) > 5
    np.testing.assert_array_equal(in_graph_mode.rounds[compared], in_index_mode.rounds[compared])
    assert in_graph_mode.labels.equals(in_index_mode.labels)


def test_interrupted_build_resumes_to_the_same_file(tmp_path):
    whole = make_dataset(tmp_path / "whole")
    build_knn_graph(whole, open_or_build_index(whole, "Flat"), 8, chunk_rows=100)
    dataset = make_dataset(tmp_path / "cut")  # the same data, built in two sittings
    index = open_or_build_index(dataset, "Flat")
    calls = []

    def stop_after_two_chunks(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 3:  # the start, then two finished chunks
            raise Interrupted

    with pytest.raises(Interrupted):
        build_knn_graph(dataset, index, 8, chunk_rows=100, progress=stop_after_two_chunks)
    path, meta_path = graph_paths(dataset, "Flat", 8)
    assert json.loads(meta_path.read_text())["rows_done"] == 200
    with pytest.raises(MissingFileError, match="only 200 of"):
        KnnGraph.open(dataset, "Flat", 8)
    assert find_graph(dataset, "Flat", 8) is None

    resumed = []
    build_knn_graph(dataset, index, 8, chunk_rows=100, progress=lambda done, total: resumed.append(done))
    assert resumed[0] == 200  # continued, not restarted
    assert path.read_bytes() == graph_paths(whole, "Flat", 8)[0].read_bytes()

    reused = []
    build_knn_graph(dataset, index, 8, progress=lambda done, total: reused.append(done))
    assert reused == [dataset.split_rows("pool").size]  # finished: nothing searched again


def test_graph_of_another_pool_split_is_rebuilt(dataset):
    index = open_or_build_index(dataset, "Flat")
    build_knn_graph(dataset, index, 6)
    _, meta_path = graph_paths(dataset, "Flat", 6)
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "pool_sha1": "0" * 40}))
    with pytest.raises(InvalidDataError, match="another pool split"):
        KnnGraph.open(dataset, "Flat", 6)
    assert find_graph(dataset, "Flat", 6) is None
    starts = []
    build_knn_graph(dataset, index, 6, chunk_rows=500, progress=lambda done, total: starts.append(done))
    assert starts[0] == 0 and KnnGraph.open(dataset, "Flat", 6).k == 6


def test_graph_is_looked_up_and_index_answers_the_rest(dataset):
    """A Flat index over the *test* rows answers differently from the pool graph, which shows who answered."""
    pool_rows, test_rows = dataset.split_rows("pool"), dataset.split_rows("test")
    graph = build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), 6)
    other = build_index(dataset.embeddings, test_rows, "Flat")
    source = NeighbourSource(other, graph)
    labeled = np.concatenate([pool_rows[:4], test_rows[:3]])
    ids = source.neighbours(labeled, dataset.embeddings.take(labeled), 6)
    np.testing.assert_array_equal(ids[:4], graph.neighbours(pool_rows[:4], 6))
    searched, _ = other.search(dataset.embeddings.take(test_rows[:3]), 6, exclude=test_rows[:3])
    np.testing.assert_array_equal(ids[4:], searched)
    # k beyond the graph's: every row is searched.
    wide, _ = other.search(dataset.embeddings.take(labeled), 7, exclude=labeled)
    np.testing.assert_array_equal(source.neighbours(labeled, dataset.embeddings.take(labeled), 7), wide)
    assert find_graph(dataset, "Flat", 7) is None and find_graph(dataset, "Flat", 3).k == 6

    pool = SealsPool(dataset.embeddings, other, 6, graph=graph)
    pool.update(pool_rows[:4])
    expected = np.setdiff1d(np.unique(graph.neighbours(pool_rows[:4], 6)), pool_rows[:4])
    np.testing.assert_array_equal(pool.candidates(), expected)


def test_bad_input_is_refused(dataset):
    index = open_or_build_index(dataset, "Flat")
    for k in (0, -3, 2.5, True):
        with pytest.raises(InvalidParameterError, match="k must be a positive integer"):
            build_knn_graph(dataset, index, k)
    with pytest.raises(InvalidParameterError, match="chunk_rows"):
        build_knn_graph(dataset, index, 4, chunk_rows=0)
    graph = build_knn_graph(dataset, index, 4)
    with pytest.raises(InvalidParameterError, match="k must be a positive integer"):
        graph.neighbours(dataset.split_rows("pool")[:2], 0)
    with pytest.raises(InvalidParameterError, match="exceeds the graph's k=4"):
        graph.neighbours(dataset.split_rows("pool")[:2], 5)
    with pytest.raises(InvalidParameterError, match="not a pool row"):
        graph.neighbours(dataset.split_rows("test")[:1], 2)
    subset = build_index(dataset.embeddings, dataset.split_rows("pool")[:500], "Flat")
    with pytest.raises(InvalidParameterError, match="holds 500 vectors"):
        build_knn_graph(dataset, subset, 4)
    with pytest.raises(InvalidParameterError, match="searched with index 'Flat'"):
        NeighbourSource(build_index(dataset.embeddings, dataset.split_rows("pool"), "LSH"), graph)
    with pytest.raises(MissingFileError, match="seals index graph"):
        KnnGraph.open(dataset, "Flat", 9)


def test_cli_builds_then_reuses_the_graph(dataset):
    runner = CliRunner()
    args = ["index", "graph", str(dataset.path), "--k", "5", "--factory", "Flat", "--chunk", "300"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "k=5" in first.output and "graph_k5.npy" in first.output
    graph = KnnGraph.open(dataset, "Flat", 5)
    assert graph.rows.size == dataset.split_rows("pool").size
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and KnnGraph.open(dataset, "Flat", 5).k == 5
    bad = runner.invoke(app, ["index", "graph", str(dataset.path), "--k", "0"])
    assert bad.exit_code == 2 and "--k and --chunk must be positive" in bad.output
