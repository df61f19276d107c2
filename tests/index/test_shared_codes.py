"""The index's own codes as a seals pool's codes (`codes="index"`): each row's code read from
the list that holds it decodes to that row, a pool on them selects what the exact pool selects,
`auto` prefers them only when they are precise, and every door (run, experiment, project, CLI)
takes and records the mode (the CLI's in tests/cli/test_codes_cli.py)."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from codes_support import assert_codes_select_as_exact
from conftest import make_dataset
from sealsearch.active.knn import open_codes
from sealsearch.active.pools import make_pool
from sealsearch.data.codes import Sq8Codes, choose_codes
from sealsearch.errors import InvalidParameterError
from sealsearch.experiments.grid import ExperimentGrid, run_experiment
from sealsearch.experiments.simulate import RunConfig, run
from sealsearch.index import build_index
from sealsearch.index.shared_codes import IndexCodes, has_precise_codes, has_shared_codes
from sealsearch.sessions import Project


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("shared") / "ds", n=3000, dim=16)


@pytest.fixture(scope="module")
def pool_rows(dataset):
    return dataset.split_rows("pool")


def _faiss_reconstruction(index, positions: np.ndarray) -> np.ndarray:
    """Faiss's own decoding of the vectors at `positions` (through a direct map on a copy)."""
    copy = faiss.clone_index(index.faiss_index)
    faiss.extract_index_ivf(copy).make_direct_map()
    out = np.stack([copy.reconstruct(int(p)) for p in positions])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.mark.parametrize("factory", ["IVF16,SQ8", "IVF16_HNSW32,SQ8", "IVF16,Flat", "IVF16,PQ4", "PCA8,IVF16,SQ8"])
def test_each_row_decodes_to_what_faiss_reconstructs_for_it(dataset, pool_rows, factory):
    index = build_index(dataset.embeddings, pool_rows, factory)
    codes = IndexCodes(index, dataset.embeddings.n)
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.permutation(pool_rows)[:500], pool_rows[:5], pool_rows[:5]])  # repeats too
    decoded = codes.decode_unit(codes.take(rows))
    assert decoded.shape == (len(rows), dataset.embeddings.dim) and decoded.dtype == np.float32
    position_of = {int(row): position for position, row in enumerate(index.rows)}
    expected = _faiss_reconstruction(index, np.array([position_of[int(r)] for r in rows]))
    np.testing.assert_allclose(decoded, expected, atol=1e-5)
    if factory == "IVF16,Flat":  # flat lists hold the vectors themselves
        exact = dataset.embeddings.take(rows)
        np.testing.assert_allclose(decoded, exact / np.linalg.norm(exact, axis=1, keepdims=True), atol=1e-5)
    assert codes.nbytes == 4 * dataset.embeddings.n  # a position per row, not a copy of the codes
    assert codes.decode_unit(codes.take(np.empty(0, dtype=np.int64))).shape == (0, dataset.embeddings.dim)


def test_which_indexes_share_codes_and_which_are_precise(dataset, pool_rows):
    store = dataset.embeddings
    shared = {
        f: has_shared_codes(build_index(store, pool_rows, f)) for f in ("IVF16,SQ8", "Flat", "HNSW16", "IVF16,PQ4x4fs")
    }
    assert shared == {"IVF16,SQ8": True, "Flat": False, "HNSW16": False, "IVF16,PQ4x4fs": False}
    expected = {
        "IVF16,SQ8": True,
        "IVF16,SQfp16": True,
        "IVF16,Flat": True,
        "IVF16,PQ4": False,
        "PCA8,IVF16,SQ8": False,
    }
    assert {f: has_precise_codes(build_index(store, pool_rows, f)) for f in expected} == expected
    assert has_precise_codes(build_index(store, pool_rows, "IVF16,SQ8,Rerank2"))  # through the re-ranking wrapper
    assert not has_precise_codes(None)
    with pytest.raises(InvalidParameterError, match='holds no codes a pool can share.*"IVF4096,SQ8"'):
        IndexCodes(build_index(store, pool_rows, "Flat"), store.n)


def test_a_row_outside_the_index_has_no_code(dataset, pool_rows):
    codes = IndexCodes(build_index(dataset.embeddings, pool_rows, "IVF16,SQ8"), dataset.embeddings.n)
    outside = np.setdiff1d(np.arange(dataset.embeddings.n), pool_rows)[:1]
    with pytest.raises(InvalidParameterError, match=f"row {int(outside[0])} is not in the index"):
        codes.take(np.concatenate([pool_rows[:3], outside]))


@pytest.mark.parametrize("strategy", ["maxent", "mlp", "id"])
def test_seals_on_the_index_codes_selects_what_the_exact_pool_selects(dataset, pool_rows, strategy):
    store = dataset.embeddings
    index = build_index(store, pool_rows, "IVF16,SQ8")
    shared = IndexCodes(index, store.n)
    assert_codes_select_as_exact(store, pool_rows, index, dataset.concept_rows("rare"), strategy, shared)


def test_auto_prefers_precise_index_codes_once_the_file_leaves_the_cache(dataset, pool_rows):
    assert choose_codes(10, 100, index_codes=True) == "none"  # the file stays cached: exact rows
    assert choose_codes(12 * 2**30, 22 * 2**30, index_codes=True) == "index"
    assert choose_codes(int(102.4 * 2**30), 22 * 2**30, index_codes=True) == "index"  # where SQ8 codes do not fit
    size = (dataset.path / "embeddings.npy").stat().st_size
    sq8 = build_index(dataset.embeddings, pool_rows, "IVF16,SQ8")
    pq = build_index(dataset.embeddings, pool_rows, "IVF16,PQ4")
    assert isinstance(open_codes(dataset, "auto", knn_index=sq8, available_bytes=size), IndexCodes)
    assert isinstance(open_codes(dataset, "auto", knn_index=pq, available_bytes=size), Sq8Codes)  # PQ: too coarse
    assert open_codes(dataset, "auto", knn_index=sq8, available_bytes=100 * size) is None
    assert isinstance(open_codes(dataset, "index", knn_index=pq), IndexCodes)  # asked for by name: obeyed
    with pytest.raises(InvalidParameterError, match='codes "index" needs the kNN index'):
        open_codes(dataset, "index")


def _config(codes: str, factory: str = "IVF16,SQ8") -> RunConfig:
    return RunConfig(
        concept="rare", strategy="maxent", pool="seals", k=10, budget=100, batch_size=10, seed_pos=3, neg_ratio=9,
        factory=factory, knn="index", codes=codes,
    )  # fmt: skip


def test_a_run_on_the_index_codes_records_them_and_a_flat_index_is_refused(dataset):
    exact, shared = run(dataset, _config("none")), run(dataset, _config("index"))
    assert (exact.config.codes, shared.config.codes) == ("none", "index")
    assert shared.rounds["recall"].iloc[-1] >= exact.rounds["recall"].iloc[-1] - 0.1
    with pytest.raises(InvalidParameterError, match="holds no codes a pool can share") as caught:
        run(dataset, _config("index", factory="Flat"))
    assert list(caught.value.params) == ["codes"]


def test_an_experiment_records_index_codes_and_its_workers_open_them(dataset, tmp_path):
    grid = ExperimentGrid(
        concepts=["rare"], strategies=["maxent"], pools=["seals"], ks=[10], seed_pos=[3], repeats=2, budget=60,
        neg_ratio=9, factory="IVF16,SQ8", knn="index", codes="index",
    )  # fmt: skip
    result = run_experiment(dataset, grid, tmp_path / "exp", jobs=2, full_supervision=False)
    assert json.loads((tmp_path / "exp" / "experiment.json").read_text())["codes"] == "index"
    assert len(result.runs) and result.runs["recall"].notna().all()
    grid.factory = "Flat"
    with pytest.raises(InvalidParameterError, match="holds no codes a pool can share"):
        run_experiment(dataset, grid, tmp_path / "flat", full_supervision=False)


def test_a_project_on_index_codes_scores_its_sessions_on_them(dataset, tmp_path):
    Project.init(tmp_path / "p", dataset.path, factory="IVF16,SQ8", codes="index").close()
    with Project.open(tmp_path / "p") as project:
        assert project.codes == "index" and isinstance(project.pool_codes, IndexCodes)
        with pytest.warns(DeprecationWarning, match="pool_codes"):
            assert project.sq8_codes is project.pool_codes  # the older name still answers, for a release
        rare = project.ids_of(np.intersect1d(dataset.concept_rows("rare"), dataset.split_rows("pool"))[:3])
        project.create_concept("rare", positives=rare, k=10, batch_size=10)
        session = project.concept("rare")
        assert session.next_batch("me")["items"]
        with session._lock:
            assert session._synced_model(record=False).loop.pool.codes is project.pool_codes


def test_a_pool_on_codes_searches_a_reranking_index_on_its_codes_alone(dataset, pool_rows):
    """The exact re-rank of `,Rerank2` reads 2·k vectors a labeled row from the file: a pool on
    codes takes the k nearest by the codes instead, and the exact pool keeps the re-rank."""
    store = dataset.embeddings
    index = build_index(store, pool_rows, "IVF16,SQ8,Rerank2")
    rows = pool_rows[:300]
    vectors = store.take(rows)

    def union(found: np.ndarray) -> set[int]:
        return set(found[found >= 0].tolist()) - set(rows.tolist())

    reranked, by_codes = union(index.search(vectors, 10, rows)[0]), union(index.base.search(vectors, 10, rows)[0])
    assert reranked != by_codes  # else this test could not tell the two apart
    for codes, expected in ((None, reranked), (IndexCodes(index, store.n), by_codes)):
        pool = make_pool("seals", store, pool_rows, index=index, k=10, codes=codes)
        pool.update(rows)
        assert set(pool.candidates().tolist()) == expected
