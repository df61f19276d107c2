"""The kNN source of a run is chosen, not stumbled on: "graph" refuses without a graph, "index"
ignores one, every run records what it used, and an experiment never mixes the two."""

from __future__ import annotations

import json

import pytest

from conftest import make_dataset
from sealsearch.active.knn import build_knn_graph, open_knn, open_or_build_index
from sealsearch.errors import InvalidParameterError, UnknownNameError
from sealsearch.experiments.grid import RUNS_FILE, SETTINGS_FILE, ExperimentGrid, run_experiment
from sealsearch.experiments.simulate import RunConfig, run
from sealsearch.reporting.results import load_results


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "ds")


def config(**overrides) -> RunConfig:
    settings = dict(concept="rare", pool="seals", k=5, budget=30, batch_size=10, seed_pos=2, neg_ratio=4)
    return RunConfig(**{**settings, "factory": "Flat", **overrides})


def grid(**overrides) -> ExperimentGrid:
    settings = dict(
        concepts=["rare"], strategies=["maxent"], pools=["all", "seals"], ks=[5],
        seed_pos=[2], repeats=1, budget=30, neg_ratio=4, factory="Flat",
    )  # fmt: skip
    return ExperimentGrid(**{**settings, **overrides})


def test_graph_mode_is_refused_without_a_graph_and_names_the_command(dataset):
    with pytest.raises(InvalidParameterError, match=r"seals index graph .* --k 5") as exc:
        run(dataset, config(knn="graph"))
    assert "\n" not in str(exc.value)
    build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), 3)  # too small a k still refuses
    with pytest.raises(InvalidParameterError, match="k >= 5"):
        run(dataset, config(knn="graph"))
    with pytest.raises(UnknownNameError, match="did you mean 'graph'"):
        run(dataset, config(knn="graf"))


def test_each_run_records_its_source_and_index_mode_ignores_a_graph(dataset):
    assert set(run(dataset, config()).rounds["knn"]) == {"index"}
    assert set(run(dataset, config(pool="all")).rounds["knn"]) == {"none"}
    build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), 8)
    by_graph = run(dataset, config()).rounds
    by_index = run(dataset, config(knn="index")).rounds
    assert set(by_graph["knn"]) == {"graph"} and set(by_index["knn"]) == {"index"}
    same = [c for c in by_graph.columns if not c.startswith("t_") and c != "knn"]
    assert by_graph[same].equals(by_index[same])  # Flat graph = Flat searches: same rounds
    index, graph, source = open_knn(dataset, "Flat", 5, "auto")
    assert graph is not None and graph.k == 8 and source == "graph" and index.describe() == "faiss:Flat"
    assert open_knn(dataset, "Flat", 5, "index", knn_index=index)[1:] == (None, "index")


def test_a_resumed_experiment_refuses_to_mix_sources(dataset, tmp_path):
    out = tmp_path / "results"
    first = run_experiment(dataset, grid(), out).runs
    assert set(first.loc[first["pool"] == "seals", "knn"]) == {"index"}
    assert set(first.loc[first["pool"] == "all", "knn"]) == {"none"}
    assert json.loads((out / SETTINGS_FILE).read_text())["knn"] == {"5": "index"}

    build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), 5)  # "auto" would now switch to it
    with pytest.raises(InvalidParameterError, match=r"k=5 .* kNN index, .* kNN graph; pass knn='index'") as exc:
        run_experiment(dataset, grid(repeats=2), out)
    assert "knn='index'" in str(exc.value) and "another out_dir" in str(exc.value)
    assert len(load_results(out).runs) == len(first)  # nothing was added

    more = run_experiment(dataset, grid(repeats=2, knn="index"), out).runs  # as the message says
    assert set(more.loc[more["pool"] == "seals", "knn"]) == {"index"}
    fresh = run_experiment(dataset, grid(), tmp_path / "fresh").runs
    assert set(fresh.loc[fresh["pool"] == "seals", "knn"]) == {"graph"}
    assert json.loads((tmp_path / "fresh" / SETTINGS_FILE).read_text())["knn"] == {"5": "graph"}


def test_results_written_before_the_knn_column_stay_readable_and_resumable(dataset, tmp_path):
    out = tmp_path / "results"
    run_experiment(dataset, grid(), out)
    runs = load_results(out).runs
    old = runs.drop(columns=["knn", "method", "family", "baseline", "run"], errors="ignore")
    old.to_parquet(out / RUNS_FILE, index=False)
    settings = json.loads((out / SETTINGS_FILE).read_text())
    del settings["knn"]
    (out / SETTINGS_FILE).write_text(json.dumps(settings))
    assert set(load_results(out).runs["knn"]) == {"unrecorded"}
    resumed = run_experiment(dataset, grid(repeats=2), out).runs
    assert set(resumed.loc[resumed["repeat"] == 1, "knn"]) == {"index", "none"}
    assert set(resumed.loc[resumed["repeat"] == 0, "knn"]) == {"unrecorded"}
