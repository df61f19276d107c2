"""The Faiss backend beyond the contract every backend passes (test_contract.py): its factory
strings, builds, re-ranking, measured recall, the dataset's saved index and their errors, against
real Faiss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from index_support import assert_one_line, brute_force, clustered_unit_vectors, exact_sims

from sealsearch.active.knn import index_recall, open_or_build_index
from sealsearch.data.dataset import Dataset
from sealsearch.data.writer import write_dataset
from sealsearch.errors import (
    InvalidDataError,
    InvalidParameterError,
    MissingFileError,
    UnknownNameError,
)
from sealsearch.index import (
    FaissIndex,
    KnnIndex,
    RerankedIndex,
    auto_factory,
    build_index,
    index_dir_name,
    load_index,
    measure_recall,
)
from sealsearch.index.rerank import split_rerank

N, DIM, K = 3000, 32, 20
FACTORIES = ["Flat", "HNSW32", "IVF64,SQ8", "IVF64,PQ8", "LSH", "IVF64,SQ8,Rerank4"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return write_dataset(tmp_path_factory.mktemp("index") / "ds", clustered_unit_vectors(N, DIM))


@pytest.fixture(scope="module")
def vectors(dataset: Dataset) -> np.ndarray:
    return np.asarray(dataset.embeddings.vectors, dtype=np.float32)


@pytest.fixture(scope="module")
def query_rows() -> np.ndarray:
    return np.random.default_rng(1).choice(N, size=60, replace=False)


_built: dict[str, KnnIndex] = {}


@pytest.fixture(params=FACTORIES)
def factory(request: pytest.FixtureRequest) -> str:
    return request.param


def built(dataset: Dataset, factory: str) -> KnnIndex:
    base, rerank = split_rerank(factory)
    if base not in _built:
        _built[base] = build_index(dataset.embeddings, np.arange(N), base, seed=0)
    return _built[base] if rerank is None else RerankedIndex(_built[base], dataset.embeddings, rerank)


# --- accuracy ---------------------------------------------------------------------------------


def test_flat_equals_brute_force(dataset: Dataset, vectors: np.ndarray, query_rows: np.ndarray) -> None:
    index = build_index(dataset.embeddings, np.arange(N), "Flat")
    ids, sims = index.search(vectors[query_rows], K, exclude=query_rows)
    np.testing.assert_allclose(sims, brute_force(vectors, query_rows, K), atol=1e-5)
    np.testing.assert_allclose(exact_sims(vectors, vectors[query_rows], ids), sims, atol=1e-5)
    plain_ids, _ = index.search(vectors[query_rows], K)
    np.testing.assert_array_equal(plain_ids[:, 0], query_rows)  # without exclude, self comes first


def test_build_reports_progress(dataset: Dataset) -> None:
    calls: list[tuple[int, int]] = []
    build_index(dataset.embeddings, np.arange(N), "Flat", progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (N, N)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_search_params_override_the_defaults(dataset: Dataset, vectors: np.ndarray, query_rows: np.ndarray) -> None:
    few_probes = build_index(dataset.embeddings, np.arange(N), "IVF64,SQ8", search_params="nprobe=1")
    all_probes = build_index(dataset.embeddings, np.arange(N), "IVF64,SQ8", search_params="nprobe=64")
    kth_best = brute_force(vectors, query_rows, K)[:, -1]

    def recall(index: KnnIndex) -> float:
        ids, _ = index.search(vectors[query_rows], K, exclude=query_rows)
        return float(((ids >= 0) & (exact_sims(vectors, vectors[query_rows], ids) >= kth_best[:, None] - 1e-5)).mean())

    assert recall(all_probes) > recall(few_probes)


# --- persistence ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    split = np.where(np.arange(N) % 5 == 0, "test", "pool")
    return write_dataset(
        tmp_path_factory.mktemp("split") / "ds",
        clustered_unit_vectors(N, DIM, seed=2),
        items=pd.DataFrame({"split": split}),
    )


def test_open_or_build_indexes_the_pool_and_reuses_it(split_dataset: Dataset, factory: str) -> None:
    pool, test = split_dataset.split_rows("pool"), split_dataset.split_rows("test")
    first = open_or_build_index(split_dataset, factory)
    saved = split_dataset.index_dir / index_dir_name(split_rerank(factory)[0]) / "index.faiss"
    assert saved.is_file()
    stamp = saved.stat().st_mtime_ns
    assert first.ntotal == len(pool)
    queries = split_dataset.embeddings.take(test[:40])
    ids, _ = first.search(queries, K)
    assert not np.isin(ids, test).any()

    second = open_or_build_index(split_dataset, factory)
    assert saved.stat().st_mtime_ns == stamp  # loaded, not rebuilt
    np.testing.assert_array_equal(second.search(queries, K)[0], ids)


def test_auto_resolves_before_choosing_the_directory(split_dataset: Dataset) -> None:
    index = open_or_build_index(split_dataset, "auto")
    assert index.factory == "Flat"
    assert (split_dataset.index_dir / "Flat" / "meta.json").is_file()


def test_a_corrupt_saved_index_is_rebuilt(split_dataset: Dataset) -> None:
    open_or_build_index(split_dataset, "Flat")
    meta = split_dataset.index_dir / "Flat" / "meta.json"
    meta.write_text("{not json")
    index = open_or_build_index(split_dataset, "Flat")
    assert index.ntotal == len(split_dataset.split_rows("pool"))
    assert json.loads(meta.read_text())["ntotal"] == index.ntotal


# --- auto_factory and names -------------------------------------------------------------------


def test_auto_factory_thresholds() -> None:
    assert auto_factory(1_000, 32) == "Flat"
    assert auto_factory(200_000, 256) == "Flat"
    assert auto_factory(200_001, 256) == "HNSW32"
    assert auto_factory(1_000_000, 256) == "HNSW32"
    assert auto_factory(1_000_001, 256) == "IVF4096,SQ8,Rerank2"
    assert auto_factory(250_001, 1024) == "IVF2048,SQ8,Rerank2"  # over 1 GB of float32: too big for HNSW
    assert auto_factory(1_500_000, 64) == "IVF4096,SQ8,Rerank2"  # and too slow to build for > 1M rows
    assert auto_factory(10_000_000, 256) == "IVF4096,SQ8,Rerank2"  # 4 * sqrt(1e7) = 12649, capped at 4096
    assert auto_factory(2_000_000, 256) == "IVF4096,SQ8,Rerank2"
    assert auto_factory(100_000_000, 256) == "IVF4096,PQ32,Rerank4"  # SQ8 codes (25.6 GB) would not fit
    assert auto_factory(100_000_000, 100) == "IVF4096,PQ10,Rerank4"  # PQ needs m | dim: 10 bytes per row
    with pytest.raises(InvalidParameterError):
        auto_factory(0, 32)


def test_index_dir_name_is_a_safe_directory_name() -> None:
    assert index_dir_name("IVF1024,SQ8") == "IVF1024_SQ8"
    assert index_dir_name("HNSW32") == "HNSW32"


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("factory_string", ["bogus", "IVF64", "IVF64,PQ7", ""])
def test_unknown_factory(dataset: Dataset, factory_string: str) -> None:
    with pytest.raises(UnknownNameError) as exc:
        build_index(dataset.embeddings, np.arange(N), factory_string)
    assert_one_line(exc, repr(factory_string), '"HNSW32"', '"IVF1024,SQ8"', '"LSH"')


def test_too_many_lists_for_the_rows(dataset: Dataset) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        build_index(dataset.embeddings, np.arange(100), "IVF256,Flat")
    assert_one_line(exc, "IVF256,Flat")


@pytest.mark.parametrize("rows", [np.array([], dtype=np.int64), np.array([0, N]), np.array([0.5])])
def test_bad_rows(dataset: Dataset, rows: np.ndarray) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        build_index(dataset.embeddings, rows, "Flat")
    assert_one_line(exc)


@pytest.mark.parametrize("params", ["nprobe=abc", "bogus=3"])
def test_bad_search_params(dataset: Dataset, params: str) -> None:
    with pytest.raises(InvalidParameterError) as exc:
        build_index(dataset.embeddings, np.arange(N), "Flat", search_params=params)
    assert_one_line(exc, params)


def test_load_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError) as exc:
        load_index(tmp_path / "nowhere")
    assert_one_line(exc, "nowhere")


@pytest.mark.parametrize("damaged", ["index.faiss", "rows.npy", "meta.json"])
def test_load_corrupt_directory(dataset: Dataset, tmp_path: Path, damaged: str) -> None:
    build_index(dataset.embeddings, np.arange(N), "Flat").save(tmp_path / "saved")
    (tmp_path / "saved" / damaged).write_bytes(b"garbage")
    with pytest.raises(InvalidDataError) as exc:
        load_index(tmp_path / "saved")
    assert_one_line(exc, damaged)


def test_load_mismatched_rows(dataset: Dataset, tmp_path: Path) -> None:
    build_index(dataset.embeddings, np.arange(N), "Flat").save(tmp_path / "saved")
    np.save(tmp_path / "saved" / "rows.npy", np.arange(N - 1))
    with pytest.raises(InvalidDataError) as exc:
        load_index(tmp_path / "saved")
    assert_one_line(exc, "rebuild")


# --- streaming builds, exact re-ranking and measured recall ----------------------------------


@pytest.mark.parametrize("factory_string", ["Flat", "IVF64,SQ8"])
def test_chunked_build_finds_the_same_neighbours_as_a_one_shot_build(
    dataset: Dataset, factory_string: str, vectors: np.ndarray, query_rows: np.ndarray
) -> None:
    rows = np.arange(N)
    one_shot = FaissIndex.build(dataset.embeddings, rows, factory_string, seed=3, chunk_rows=N)
    calls: list[int] = []
    chunked = FaissIndex.build(
        dataset.embeddings, rows, factory_string, seed=3, chunk_rows=97, progress=lambda done, _: calls.append(done)
    )
    assert calls == [*range(97, N, 97), N]  # added 97 rows at a time (the same training sample: seed 3)
    expected, got = one_shot.search(vectors, K), chunked.search(vectors, K)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_rerank_suffix_names_the_stored_index_and_the_factor() -> None:
    assert split_rerank("IVF4096,PQ32,Rerank4") == ("IVF4096,PQ32", 4)
    assert split_rerank("IVF4096,PQ32") == ("IVF4096,PQ32", None)
    for bad in ("IVF64,PQ8,Rerank0", "IVF64,PQ8,Rerank", ",Rerank4"):
        with pytest.raises(InvalidParameterError) as exc:
            split_rerank(bad)
        assert_one_line(exc, repr(bad), "Rerank4")


def test_rerank_turns_pq_candidates_into_exact_neighbours(
    dataset: Dataset, vectors: np.ndarray, query_rows: np.ndarray
) -> None:
    plain = built(dataset, "IVF64,PQ8")
    kth_best = brute_force(vectors, query_rows, K)[:, -1]

    def recall(index: KnnIndex) -> float:
        ids, _ = index.search(vectors[query_rows], K, exclude=query_rows)
        return float(((ids >= 0) & (exact_sims(vectors, vectors[query_rows], ids) >= kth_best[:, None] - 1e-5)).mean())

    reranked = [recall(RerankedIndex(plain, dataset.embeddings, factor)) for factor in (1, 2, 8)]
    assert recall(plain) == reranked[0] < reranked[1] <= reranked[2]  # factor 1: the same set, re-ordered
    assert reranked[2] >= 0.99
    # factor 1 keeps the compressed index's candidates, only re-scored and re-ordered exactly
    ids, sims = RerankedIndex(plain, dataset.embeddings, 1).search(vectors[query_rows], K, exclude=query_rows)
    plain_ids, _ = plain.search(vectors[query_rows], K, exclude=query_rows)
    np.testing.assert_array_equal(np.sort(ids, axis=1), np.sort(plain_ids, axis=1))
    np.testing.assert_allclose(sims, exact_sims(vectors, vectors[query_rows], ids), atol=1e-5)


def test_rerank_results_do_not_depend_on_the_query_batch(dataset: Dataset, vectors: np.ndarray) -> None:
    rows = np.arange(N)  # 3000 queries x 80 candidates: more pairs than one re-scoring batch
    index = build_index(dataset.embeddings, rows, "IVF64,SQ8,Rerank4")
    every_query = index.search(vectors, K, exclude=rows)
    straddling = slice(1600, 1700)
    some = index.search(vectors[straddling], K, exclude=rows[straddling])
    np.testing.assert_array_equal(every_query[0][straddling], some[0])
    np.testing.assert_array_equal(every_query[1][straddling], some[1])


def test_measure_recall_agrees_with_brute_force(dataset: Dataset, vectors: np.ndarray) -> None:
    rows = np.arange(N)
    flat = build_index(dataset.embeddings, rows, "Flat")
    lsh = build_index(dataset.embeddings, rows, "LSH")
    assert measure_recall(flat, dataset.embeddings, rows, k=K, n_queries=50, seed=1) == 1.0
    # every row a query: the sample no longer depends on the seed, so recompute it independently
    ids, _ = lsh.search(vectors, K, exclude=rows)
    kth_best = brute_force(vectors, rows, K)[:, -1]
    expected = ((ids >= 0) & (exact_sims(vectors, vectors, ids) >= kth_best[:, None] - 1e-5)).mean()
    assert measure_recall(lsh, dataset.embeddings, rows, k=K, n_queries=N) == pytest.approx(expected)
    assert expected < 0.9
    tiny = np.arange(5)  # k is capped at the 4 neighbours a row has
    assert measure_recall(build_index(dataset.embeddings, tiny, "Flat"), dataset.embeddings, tiny, k=K) == 1.0
    with pytest.raises(InvalidParameterError) as exc:
        measure_recall(flat, dataset.embeddings, rows, k=0)
    assert_one_line(exc, "k")


def test_index_recall_is_measured_once_per_index_and_settings(split_dataset: Dataset) -> None:
    index = open_or_build_index(split_dataset, "IVF64,SQ8,Rerank4")
    meta = split_dataset.index_dir / "IVF64_SQ8" / "meta.json"
    recall = index_recall(split_dataset, index, k=K)
    assert 0.9 <= recall <= 1.0
    stored = json.loads(meta.read_text())
    (key,) = stored["recall"]
    assert "IVF64,SQ8,Rerank4" in key and f"k={K}" in key
    stored["recall"][key] = 0.123  # a stored value is reported as is, without a new measurement
    meta.write_text(json.dumps(stored))
    assert index_recall(split_dataset, open_or_build_index(split_dataset, "IVF64,SQ8,Rerank4"), k=K) == 0.123
    plain = open_or_build_index(split_dataset, "IVF64,SQ8")  # same stored index, other recall
    assert 0.5 < index_recall(split_dataset, plain, k=K) <= recall
    assert len(json.loads(meta.read_text())["recall"]) == 2
    assert index_recall(split_dataset, open_or_build_index(split_dataset, "Flat")) == 1.0


def test_cli_index_build_reports_recall_and_reuses_it(split_dataset: Dataset) -> None:
    from typer.testing import CliRunner

    from sealsearch.cli import app

    def build() -> str:
        result = CliRunner().invoke(app, ["index", "build", str(split_dataset.path), "--factory", "IVF32,SQ8,Rerank2"])
        assert result.exit_code == 0, result.output
        return result.output

    first = build()
    assert "index IVF32,SQ8,Rerank2:" in first and "recall@100 vs exact search on 200 pool rows: " in first
    meta = split_dataset.index_dir / "IVF32_SQ8" / "meta.json"
    stored = json.loads(meta.read_text())
    (key,) = stored["recall"]
    stored["recall"][key] = 0.5
    meta.write_text(json.dumps(stored))
    assert "recall@100 vs exact search on 200 pool rows: 0.500" in build()


def test_index_recall_needs_a_saved_index(split_dataset: Dataset) -> None:
    unsaved = build_index(split_dataset.embeddings, split_dataset.split_rows("pool"), "IVF16,SQ8")
    with pytest.raises(MissingFileError) as exc:
        index_recall(split_dataset, unsaved, k=K)
    assert_one_line(exc, "meta.json", "open_or_build_index")
