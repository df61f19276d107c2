"""kNN-graph mode against index search, with real Faiss indexes and real graph files on disk.

Each test builds graphs in a dataset of its own: a graph beside the shared `small_dataset` index
would silently switch other tests' runs to graph mode.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import make_dataset
from sealsearch.active.knn import (
    build_knn_graph,
    find_graph,
    graph_paths,
    graph_recall,
    open_graph,
    open_or_build_index,
)
from sealsearch.active.pools import SealsPool
from sealsearch.cli import app
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError
from sealsearch.experiments.simulate import RunConfig, run
from sealsearch.index import build_index
from sealsearch.index.graph import KnnGraph, NeighbourSource


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
        open_graph(dataset, "Flat", 8)
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
        open_graph(dataset, "Flat", 6)
    assert find_graph(dataset, "Flat", 6) is None
    starts = []
    build_knn_graph(dataset, index, 6, chunk_rows=500, progress=lambda done, total: starts.append(done))
    assert starts[0] == 0 and open_graph(dataset, "Flat", 6).k == 6


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
        open_graph(dataset, "Flat", 9)


def test_cli_builds_then_reuses_the_graph(dataset):
    runner = CliRunner()
    args = ["index", "graph", str(dataset.path), "--k", "5", "--factory", "Flat", "--chunk", "300"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "k=5" in first.output and "graph_k5.npy" in first.output
    graph = open_graph(dataset, "Flat", 5)
    assert graph.rows.size == dataset.split_rows("pool").size
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and open_graph(dataset, "Flat", 5).k == 5
    assert "reused as built" in again.output and "recall@5 vs exact neighbours on 200 pool rows: 1.000" in again.output
    bad = runner.invoke(app, ["index", "graph", str(dataset.path), "--k", "0"])
    assert bad.exit_code == 2 and "'--k'" in bad.output and "allowed: 1.." in bad.output


# --- "ivf-lists": the graph of an IVF index from its inverted lists -----------------------------


def assert_equal_up_to_ties(dataset, graph: KnnGraph, exact: KnnGraph) -> None:
    """Neighbours whose similarities differ by float32 rounding (3e-8 happens here) may swap places."""
    ids, expected = np.asarray(graph.ids), np.asarray(exact.ids)
    queries = dataset.embeddings.take(graph.rows)[:, None, :]
    sims = np.sum(queries * dataset.embeddings.take(ids.ravel()).reshape(ids.shape + (-1,)), axis=2)
    exact_sims = np.sum(queries * dataset.embeddings.take(expected.ravel()).reshape(ids.shape + (-1,)), axis=2)
    np.testing.assert_allclose(sims, exact_sims, atol=1e-6)
    assert (ids != expected).mean() < 1e-3


@pytest.mark.parametrize("factory", ["IVF16,Flat", "IVF16,SQ8"])
def test_ivf_lists_with_every_list_probed_is_the_exact_graph(tmp_path, factory):
    """The codes play no part: candidates are scored exactly from the stored vectors."""
    dataset = make_dataset(tmp_path / "ds")
    exact = build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), 12)
    graph = build_knn_graph(dataset, open_or_build_index(dataset, factory), 12, probe=16)  # "auto" picks ivf-lists
    assert (graph.method, graph.probe) == ("ivf-lists", 16)
    assert_equal_up_to_ties(dataset, graph, exact)
    meta = json.loads(graph_paths(dataset, factory, 12)[1].read_text())
    assert meta["method"] == "ivf-lists" and meta["lists_done"] == 16 and meta["rows_done"] == graph.rows.size


def test_fewer_probed_lists_lose_little_recall_on_clustered_data(dataset):
    """12 clusters in 16 lists: one list misses the neighbours across its boundary, two find
    nearly all (measured: 0.862 and 0.999 on 200 rows)."""
    index = open_or_build_index(dataset, "IVF16,Flat")
    recalls = {}
    for probe in (1, 2):
        graph_paths(dataset, index.factory, 12)[1].unlink(missing_ok=True)
        recalls[probe] = graph_recall(dataset, build_knn_graph(dataset, index, 12, probe=probe))
    assert 0.7 < recalls[1] < 0.95 and recalls[2] > 0.99


def test_interrupted_ivf_lists_build_resumes_to_the_same_file(tmp_path, monkeypatch):
    monkeypatch.setattr("sealsearch.index.ivf_graph.CHECKPOINT_SECONDS", 0.0)  # a checkpoint after every list
    whole = make_dataset(tmp_path / "whole")
    build_knn_graph(whole, open_or_build_index(whole, "IVF16,Flat"), 8, probe=3)
    dataset = make_dataset(tmp_path / "cut")
    index = open_or_build_index(dataset, "IVF16,Flat")
    calls = []

    def stop_after_five_lists(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 6:  # the start, then five finished lists
            raise Interrupted

    with pytest.raises(Interrupted):
        build_knn_graph(dataset, index, 8, probe=3, progress=stop_after_five_lists)
    path, meta_path = graph_paths(dataset, "IVF16,Flat", 8)
    meta = json.loads(meta_path.read_text())
    assert meta["rows_done"] == calls[-1] and 5 <= meta["lists_done"] < 16  # empty lists report no progress
    assert find_graph(dataset, "IVF16,Flat", 8) is None

    resumed = []
    build_knn_graph(dataset, index, 8, probe=3, progress=lambda done, total: resumed.append(done))
    assert resumed[0] == calls[-1]
    assert path.read_bytes() == graph_paths(whole, "IVF16,Flat", 8)[0].read_bytes()

    meta_path.write_text(json.dumps({**meta, "probe": 2}))  # a part built with another probe is not continued
    restarted = []
    build_knn_graph(dataset, index, 8, probe=3, progress=lambda done, total: restarted.append(done))
    assert restarted[0] == 0 and path.read_bytes() == graph_paths(whole, "IVF16,Flat", 8)[0].read_bytes()


def test_run_with_an_exact_ivf_lists_graph_matches_a_flat_run(dataset):
    config = RunConfig(concept="rare", strategy="maxent", pool="seals", k=10, budget=300, batch_size=20)
    flat = run(dataset, replace(config, factory="Flat"))
    build_knn_graph(dataset, open_or_build_index(dataset, "IVF16,Flat"), 10, probe=16)
    assert find_graph(dataset, "IVF16,Flat", 10).method == "ivf-lists"  # what run() looks up
    in_graph_mode = run(dataset, replace(config, factory="IVF16,Flat"))
    compared = ["round", "n_labeled", "n_positive", "recall", "ap", "pool_size"]
    assert len(in_graph_mode.rounds) > 5
    np.testing.assert_array_equal(in_graph_mode.rounds[compared], flat.rounds[compared])
    assert in_graph_mode.labels.equals(flat.labels)


def test_ivf_lists_refuses_what_it_cannot_do(dataset):
    with pytest.raises(InvalidParameterError, match="'ivf-lists' needs an IVF index"):
        build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), 4, method="ivf-lists")
    index = open_or_build_index(dataset, "IVF16,Flat")
    with pytest.raises(InvalidParameterError, match="method must be one of auto, search, ivf-lists"):
        build_knn_graph(dataset, index, 4, method="blocked")
    with pytest.raises(InvalidParameterError, match="probe must be a positive integer"):
        build_knn_graph(dataset, index, 4, probe=-1)
    searched = build_knn_graph(dataset, index, 4, method="search")
    assert (searched.method, searched.probe) == ("search", None)
    assert build_knn_graph(dataset, index, 4, probe=2).method == "search"  # a finished graph is reused as built


def test_cli_reports_build_rate_and_recall_of_ivf_lists(dataset):
    args = ["index", "graph", str(dataset.path), "--k", "6", "--factory", "IVF16,Flat", "--probe", "16"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "(ivf-lists, probe 16)" in result.output and "rows/s" in result.output
    assert "recall@6 vs exact neighbours on 200 pool rows: 1.000" in result.output


def test_auto_probe_is_measured_and_recorded(dataset):
    from sealsearch.index.ivf_graph import PROBE_TARGET, choose_probe, probe_recall

    index = open_or_build_index(dataset, "IVF16,Flat")
    probe, recalls = choose_probe(dataset.embeddings, index.ivf_lists(), 6)
    curve = probe_recall(dataset.embeddings, index.ivf_lists(), 6).mean(axis=0)
    assert 1 < probe < 16 and recalls[probe] == curve[probe - 1] >= PROBE_TARGET
    assert curve[probe - 2] < PROBE_TARGET + 0.02  # one list fewer is not clearly good enough
    assert set(recalls) == {p for p in (1, 2, 4, 8) if p < probe} | {probe}
    graph = build_knn_graph(dataset, index, 6)  # probe AUTO_PROBE by default
    assert (graph.method, graph.probe) == ("ivf-lists", probe)
    meta = json.loads(graph_paths(dataset, index.factory, 6)[1].read_text())
    assert meta["probe_recall"][str(probe)] == round(recalls[probe], 4)


@pytest.mark.parametrize("factory", ["IVF16,Flat", "IVF24,SQ8"])
def test_predicted_recall_of_each_probe_is_the_built_graphs(tmp_path, factory):
    """The prediction needs no build: each sampled row finds the exact neighbours that lie in its
    list's probed lists. Built graphs, measured on the same rows, must agree at every probe."""
    from sealsearch.index.ivf_graph import PROBE_SEED, probe_recall
    from sealsearch.index.recall import recall_of, sample_queries

    dataset = make_dataset(tmp_path / "ds", n=1200, seed=3)
    index = open_or_build_index(dataset, factory)
    per_row = probe_recall(dataset.embeddings, index.ivf_lists(), 10, n_queries=150)
    assert per_row.shape == (150, index.ivf_lists().nlist)
    assert np.all(np.diff(per_row, axis=1) >= 0) and np.all(per_row[:, -1] == 1.0)  # every list probed: exact
    pool = dataset.split_rows("pool")
    queries = sample_queries(pool, 150, PROBE_SEED)
    for probe in (1, 2, 3, 5):
        graph_paths(dataset, index.factory, 10)[1].unlink(missing_ok=True)
        graph = build_knn_graph(dataset, index, 10, probe=probe)
        measured = recall_of(dataset.embeddings, pool, queries, graph.neighbours(queries, 10))
        assert measured == pytest.approx(per_row[:, probe - 1].mean(), abs=1e-9)
    assert per_row[:, 0].mean() < 0.95  # the sample is not trivially exact at probe 1


def test_ivf_lists_threads_change_nothing_but_speed(tmp_path):
    one, two = make_dataset(tmp_path / "one"), make_dataset(tmp_path / "two")
    graphs = [
        build_knn_graph(data, open_or_build_index(data, "IVF16,Flat"), 8, probe=3, threads=threads)
        for data, threads in ((one, 1), (two, 3))
    ]
    assert graphs[0].path.read_bytes() == graphs[1].path.read_bytes()


def test_torch_build_on_cpu_equals_exact_neighbours(dataset):
    pytest.importorskip("torch")
    index = open_or_build_index(dataset, "Flat")
    graph = build_knn_graph(dataset, index, 8, method="torch", device="cpu")
    assert graph.method == "torch"
    pool = dataset.split_rows("pool")
    vectors = dataset.embeddings.take(pool).astype(np.float64)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    kth = np.sort(sims, axis=1)[:, -8]
    found = graph.neighbours(pool, 8)
    position = np.searchsorted(pool, found)
    got = sims[np.arange(pool.size)[:, None], position]
    assert (found >= 0).all() and not (found == pool[:, None]).any()
    assert np.all(got >= kth[:, None] - 1e-5)  # every stored neighbour is among the exact 8 best (ties allowed)
    assert np.all(np.diff(got, axis=1) <= 1e-6)  # best first
    assert graph_recall(dataset, graph) == 1.0
