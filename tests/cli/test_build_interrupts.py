"""Index, kNN graph, dataset and experiment builds SIGKILLed at seeded random moments (real
`seals` subprocesses): what they leave either refuses to load (a one-line SealsearchError) or
loads equal to an uninterrupted build — never a valid-looking but wrong index, graph or dataset;
and rerunning the command finishes the job (a graph build and an experiment resume).

The kill moment is drawn uniformly over the command's measured duration; a command that finished
before its moment counts as a kill point too (the finished state must also be right)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import clustered_vectors
from crash_support import kill_points, run_and_kill, run_to_end
from sealsearch.active.knn import open_graph
from sealsearch.data.dataset import Dataset
from sealsearch.errors import SealsearchError
from sealsearch.index import index_path, load_index

N_IMPORT, N_GRAPH, DIM = 200_000, 6_000, 32
INDEX_FACTORY, GRAPH_FACTORY, GRAPH_K = "IVF32,Flat", "Flat", 10
FAST, TOTAL = 2, 40  # kill points per build kind: default suite, all


def inputs(base, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    vectors, assignment = clustered_vectors(n, DIM, 20, rng)
    np.save(base / "X.npy", vectors)
    split = np.where(rng.random(n) < 0.2, "test", "pool")
    pd.DataFrame({"id": [f"i{i}" for i in range(n)], "text": "t", "split": split}).to_parquet(base / "items.parquet")
    pd.DataFrame({"row": np.flatnonzero(assignment < 2), "concept": "c"}).to_parquet(base / "concepts.parquet")


def import_args(base, out):
    return ["import", out, "--embeddings", base / "X.npy", "--items", base / "items.parquet",
            "--labels", base / "concepts.parquet"]  # fmt: skip


@pytest.fixture(scope="module")
def import_ref(tmp_path_factory):
    base = tmp_path_factory.mktemp("import")
    inputs(base, N_IMPORT)
    seconds = run_to_end(*import_args(base, base / "ref"))
    return base, Dataset.open(base / "ref"), seconds


@pytest.mark.parametrize("seed", kill_points(TOTAL, FAST))
def test_an_interrupted_import_leaves_nothing_or_the_whole_dataset(import_ref, tmp_path, seed):
    base, ref, seconds = import_ref
    out = tmp_path / "ds"
    run_and_kill(*import_args(base, out), after=np.random.default_rng(seed).uniform(0.1, seconds * 1.05))
    if out.exists():
        got = Dataset.open(out)  # must open, and be the same dataset
        np.testing.assert_array_equal(np.asarray(got.embeddings.vectors), np.asarray(ref.embeddings.vectors))
        pd.testing.assert_frame_equal(got.items, ref.items)
        assert got.concept_counts().equals(ref.concept_counts())
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "ds"]
    assert all(name.startswith(".ds.tmp-") for name in leftovers), leftovers  # hidden, never opened as ds
    if not out.exists():  # the same command run again succeeds
        run_to_end(*import_args(base, out))
        assert (Dataset.open(out).info.n, Dataset.open(out).info.dim) == (ref.info.n, ref.info.dim)


@pytest.fixture(scope="module")
def graph_ref(tmp_path_factory):
    """A dataset with its index and graph built once without interruption (the reference)."""
    base = tmp_path_factory.mktemp("graph")
    inputs(base, N_GRAPH)
    run_to_end(*import_args(base, base / "ds"))
    pristine = base / "pristine"
    shutil.copytree(base / "ds", pristine)
    seconds_index = run_to_end("index", "build", base / "ds", "--factory", INDEX_FACTORY)
    seconds_graph = run_to_end(
        "index", "graph", base / "ds", "--factory", GRAPH_FACTORY, "--k", GRAPH_K, "--chunk", 200
    )
    dataset = Dataset.open(base / "ds")
    ref_index = load_index(index_path(dataset.index_dir, INDEX_FACTORY))
    queries = dataset.embeddings.take(np.arange(0, N_GRAPH, 97))
    expected = ref_index.search(queries, 10)[0]
    graph = open_graph(dataset, GRAPH_FACTORY, GRAPH_K)
    return pristine, (queries, expected), np.asarray(graph.ids).copy(), seconds_index, seconds_graph


@pytest.mark.parametrize("seed", kill_points(TOTAL, FAST))
def test_an_interrupted_index_build_never_loads_as_a_wrong_index(graph_ref, tmp_path, seed):
    pristine, (queries, expected), _, seconds, _ = graph_ref
    shutil.copytree(pristine, tmp_path / "ds")
    rng = np.random.default_rng(seed)
    run_and_kill("index", "build", tmp_path / "ds", "--factory", INDEX_FACTORY, after=rng.uniform(0.1, seconds * 1.05))
    directory = index_path(Dataset.open(tmp_path / "ds").index_dir, INDEX_FACTORY)
    try:
        index = load_index(directory)
    except SealsearchError as exc:
        assert "\n" not in str(exc)
    else:
        np.testing.assert_array_equal(index.search(queries, 10)[0], expected)


@pytest.mark.parametrize("seed", kill_points(TOTAL, FAST))
def test_an_interrupted_graph_build_never_loads_as_a_wrong_graph_and_resumes(graph_ref, tmp_path, seed):
    pristine, _, expected_ids, _, seconds = graph_ref
    shutil.copytree(pristine, tmp_path / "ds")
    rng = np.random.default_rng(seed)
    args = ("index", "graph", tmp_path / "ds", "--factory", GRAPH_FACTORY, "--k", GRAPH_K, "--chunk", 200)
    run_and_kill(*args, after=rng.uniform(0.1, seconds * 1.05))
    try:
        graph = open_graph(Dataset.open(tmp_path / "ds"), GRAPH_FACTORY, GRAPH_K)
    except SealsearchError as exc:
        assert "\n" not in str(exc)
        run_to_end(*args)  # resumes (or restarts) and finishes
        graph = open_graph(Dataset.open(tmp_path / "ds"), GRAPH_FACTORY, GRAPH_K)
    np.testing.assert_array_equal(np.asarray(graph.ids), expected_ids)


EXPERIMENT = ("--strategy", "maxent", "--pool", "all,seals", "--k", "10", "--budget", "200", "--repeats", "3",
              "--concept", "c", "--seed-pos", "5", "--factory", "Flat")  # fmt: skip


@pytest.fixture(scope="module")
def experiment_ref(graph_ref, tmp_path_factory):
    pristine = graph_ref[0]
    base = tmp_path_factory.mktemp("experiment")
    shutil.copytree(pristine, base / "ds")
    seconds = run_to_end("experiment", base / "ds", *EXPERIMENT, "--out", base / "ref")
    return base / "ds", _runs(base / "ref"), seconds


def _runs(path) -> pd.DataFrame:
    frame = pd.read_parquet(path / "runs.parquet")
    keys = [c for c in ("concept", "strategy", "pool", "k", "repeat", "round") if c in frame.columns]
    timing = [c for c in frame.columns if c.startswith("t_")]
    return frame.drop(columns=timing).sort_values(keys).reset_index(drop=True)


@pytest.mark.parametrize("seed", kill_points(15, 1))
def test_an_interrupted_experiment_loses_only_cells_in_flight_and_resumes(experiment_ref, tmp_path, seed):
    dataset, reference, seconds = experiment_ref
    out = tmp_path / "results"
    run_and_kill(
        "experiment", dataset, *EXPERIMENT, "--out", out, after=np.random.default_rng(seed).uniform(0.5, seconds)
    )
    if (out / "runs.parquet").exists():  # every run on disk is whole and equal to the reference's
        partial = _runs(out)
        merged = partial.merge(reference, how="left", indicator=True)
        assert (merged["_merge"] == "both").all()
        cells = ["strategy", "pool", "repeat"]
        assert (
            partial.groupby(cells)
            .size()
            .equals(reference.groupby(cells).size().loc[partial.groupby(cells).size().index])
        )
    run_to_end("experiment", dataset, *EXPERIMENT, "--out", out)
    pd.testing.assert_frame_equal(_runs(out), reference)
