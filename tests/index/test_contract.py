"""The kNN index contract, one suite run on every backend that can run here (as Optuna runs one
storage suite over its STORAGE_MODES): Faiss, milvus-lite and a real Milvus server (marker
milvus_server; the `milvus_server` fixture of tests/conftest.py).

The deployments come from the backend registry (each backend at its default place) plus the
server, so a new backend is checked by this file unchanged; `FACTORIES` may list more of its index
kinds than the "Flat" every backend must build. Approximate indexes are judged against exact
search with tie-tolerant comparisons (a neighbour counts when its exact similarity reaches the
exact k-th best), as Faiss's own tests do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from index_support import assert_one_line, brute_force, clustered_unit_vectors, exact_sims

from sealsearch.data.dataset import Dataset
from sealsearch.data.writer import write_dataset
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingExtraError
from sealsearch.index import KnnIndex, backend_names, load_index, open_or_build_rows_index
from sealsearch.index.rerank import RerankedIndex

N, DIM, K = 2000, 32, 20
FACTORIES = {
    "faiss": ["Flat", "HNSW32", "IVF32,SQ8", "IVF32,PQ8", "LSH", "IVF32,SQ8,Rerank4"],
    "milvus": ["Flat", "HNSW16", "IVF16,Flat", "IVF16,SQ8", "IVF16,SQ8,Rerank4"],
}
"""Index kinds checked per backend; any other backend is checked with "Flat"."""
MIN_RECALL = {"Flat": 1.0, "HNSW32": 0.95, "HNSW16": 0.95, "IVF32,SQ8": 0.85, "IVF32,PQ8": 0.5, "LSH": 0.2,
              "IVF16,Flat": 0.9, "IVF16,SQ8": 0.85, "IVF32,SQ8,Rerank4": 0.95, "IVF16,SQ8,Rerank4": 0.9}  # fmt: skip
"""Tie-tolerant recall@K against exact search on the clustered data below."""
SIM_TOLERANCE = {"IVF32,SQ8": 0.02, "IVF16,SQ8": 0.02, "IVF32,PQ8": 0.2}
"""How far a returned similarity may be from the exact cosine (1e-5 when not listed; LSH's are ranks)."""


def deployments() -> list:
    """(backend, where) of every registered backend at its default place, and the real server."""
    places = [pytest.param((name, "default"), id=name) for name in backend_names()]
    return [*places, pytest.param(("milvus", "server"), id="milvus-server", marks=pytest.mark.milvus_server)]


CASES = [
    pytest.param((*deployment.values[0], factory), id=f"{deployment.id}-{factory}", marks=deployment.marks)
    for deployment in deployments()
    for factory in FACTORIES.get(deployment.values[0][0], ["Flat"])
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return write_dataset(tmp_path_factory.mktemp("contract") / "ds", clustered_unit_vectors(N, DIM))


@pytest.fixture(scope="module")
def vectors(dataset: Dataset) -> np.ndarray:
    return np.asarray(dataset.embeddings.vectors, dtype=np.float32)


@pytest.fixture(scope="module")
def query_rows() -> np.ndarray:
    return np.random.default_rng(1).choice(N, size=50, replace=False)


class Deployment:
    """Builds (and caches) indexes of one backend at one place, under its own directory."""

    def __init__(self, backend: str, uri: str | None, directory: Path, dataset: Dataset):
        self.backend, self.uri, self.directory, self.dataset = backend, uri, directory, dataset
        self._built: dict[tuple[str, str], KnnIndex] = {}

    def index(self, factory: str, rows: np.ndarray | None = None, name: str = "all") -> KnnIndex:
        rows = np.arange(N) if rows is None else rows
        if (factory, name) not in self._built:
            try:
                self._built[factory, name] = open_or_build_rows_index(
                    self.dataset.embeddings, rows, self.directory / name, factory, backend=self.backend, uri=self.uri
                )
            except MissingExtraError as exc:
                pytest.skip(str(exc))
        return self._built[factory, name]


_deployments: dict[tuple[str, str], Deployment] = {}


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory):
    """(deployment, factory, index over every row): indexes are built once per module and case."""
    backend, where, factory = request.param
    if (backend, where) not in _deployments:
        uri = request.getfixturevalue("milvus_server") if where == "server" else None
        directory = tmp_path_factory.mktemp(f"{backend}-{where}")
        _deployments[backend, where] = Deployment(backend, uri, directory, dataset)
    deployment = _deployments[backend, where]
    return deployment, factory, deployment.index(factory)


def test_identity_shapes_and_dtypes(case, vectors, query_rows):
    deployment, factory, index = case
    assert index.backend == deployment.backend  # an attribute, never parsed out of describe()
    assert index.describe() == f"{deployment.backend}:{factory}"
    assert (index.factory, index.ntotal, index.dim) == (factory, N, DIM)
    np.testing.assert_array_equal(index.rows, np.arange(N))
    assert index.rows.dtype == np.int64
    ids, sims = index.search(vectors[query_rows], K, exclude=query_rows)
    assert ids.shape == sims.shape == (len(query_rows), K)
    assert ids.dtype == np.int64 and sims.dtype == np.float32


def test_neighbours_agree_with_exact_search(case, vectors, query_rows):
    _, factory, index = case
    ids, sims = index.search(vectors[query_rows], K, exclude=query_rows)
    exact = brute_force(vectors, query_rows, K)
    hits = (ids >= 0) & (exact_sims(vectors, vectors[query_rows], ids) >= exact[:, -1:] - 1e-5)
    assert hits.mean() >= MIN_RECALL[factory]
    assert (sims[:, :-1] >= sims[:, 1:]).all()  # best first
    if factory != "LSH":  # LSH similarities are negated Hamming distances: ranks only
        error = np.abs(exact_sims(vectors, vectors[query_rows], ids) - sims).max()
        assert error <= SIM_TOLERANCE.get(factory, 1e-5)
    if MIN_RECALL[factory] == 1.0:
        np.testing.assert_allclose(sims, exact, atol=1e-5)


def test_a_query_never_returns_its_own_row_and_minus_one_excludes_nothing(case, vectors, query_rows):
    _, _, index = case
    ids, _ = index.search(vectors[query_rows], K, exclude=query_rows)
    assert not (ids == query_rows[:, None]).any() and (ids >= 0).all()
    plain = index.search(vectors[query_rows], K)
    none_excluded = index.search(vectors[query_rows], K, exclude=np.full(len(query_rows), -1))
    np.testing.assert_array_equal(plain[0], none_excluded[0])
    np.testing.assert_array_equal(plain[1], none_excluded[1])


def test_k_beyond_the_index_is_padded_at_the_end(case, vectors, query_rows):
    _, _, index = case
    k = N + 5
    ids, sims = index.search(vectors[query_rows[:3]], k, exclude=query_rows[:3])
    assert ids.shape == sims.shape == (3, k)
    missing = ids == -1
    assert missing[:, N - 1 :].all()  # at most N - 1 rows exist besides the query's own
    assert np.isneginf(sims[missing]).all() and np.isfinite(sims[~missing]).all()
    assert (np.maximum.accumulate(missing, axis=1) == missing).all()  # once missing, missing to the end
    for row in ids:
        found = row[row >= 0]
        assert len(np.unique(found)) == found.size and ((found >= 0) & (found < N)).all()


def test_no_queries_give_empty_results(case):
    _, _, index = case
    ids, sims = index.search(np.empty((0, DIM), dtype=np.float32), K, exclude=np.empty(0, dtype=np.int64))
    assert ids.shape == sims.shape == (0, K) and ids.dtype == np.int64 and sims.dtype == np.float32


def test_an_index_of_some_rows_returns_dataset_rows(case, vectors, query_rows):
    deployment, factory, _ = case
    even = np.arange(0, N, 2)
    index = deployment.index(factory, even, name="even")
    np.testing.assert_array_equal(index.rows, even)
    assert index.ntotal == even.size
    ids, sims = index.search(vectors[query_rows], K, exclude=query_rows)
    assert (ids >= 0).any(axis=1).all() and (ids[ids >= 0] % 2 == 0).all()
    if MIN_RECALL[factory] == 1.0:
        np.testing.assert_allclose(sims, brute_force(vectors, query_rows, K, rows=even), atol=1e-5)


def test_save_and_load_give_the_same_answers(case, vectors, query_rows, tmp_path):
    deployment, _, index = case
    index.save(tmp_path / "saved")
    loaded = load_index(tmp_path / "saved")
    if isinstance(index, RerankedIndex):  # the stored index is the base; re-ranking wraps it again
        loaded = RerankedIndex(loaded, index.embeddings, index.factor)
    assert (loaded.backend, loaded.factory, loaded.ntotal, loaded.dim) == (
        deployment.backend, index.factory, index.ntotal, index.dim)  # fmt: skip
    np.testing.assert_array_equal(loaded.rows, index.rows)
    before = index.search(vectors[query_rows], K, exclude=query_rows)
    after = loaded.search(vectors[query_rows], K, exclude=query_rows)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_allclose(before[1], after[1], atol=1e-6)


def test_bad_searches_are_refused_in_one_line(case, vectors):
    _, _, index = case
    for k in (0, -1, 2.5):
        with pytest.raises(InvalidParameterError) as exc:
            index.search(vectors[:2], k)
        assert_one_line(exc, "k")
    for shape in ((2, DIM + 1), (DIM,), (2, 3, DIM)):
        with pytest.raises(InvalidDataError) as exc:
            index.search(np.ones(shape, dtype=np.float32), K)
        assert_one_line(exc, str(DIM))
    for bad in (np.zeros((1, DIM)), np.full((1, DIM), np.nan)):
        with pytest.raises(InvalidDataError) as exc:
            index.search(bad, K)
        assert_one_line(exc)
    with pytest.raises(InvalidParameterError) as exc:
        index.search(vectors[:3], K, exclude=np.array([0, 1]))
    assert_one_line(exc, "exclude")
