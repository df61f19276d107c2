"""IVF with an HNSW coarse quantizer and SQ8 codes: through the registry, and built resumably in shards."""

from __future__ import annotations

import numpy as np
import pytest
from index_support import brute_force, clustered_unit_vectors

import sealsearch.index.resumable as resumable
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.index import build_index, index_path, open_or_build_rows_index
from sealsearch.index.faiss import FaissBackend
from sealsearch.index.resumable import build_resumable_index

FACTORY = "IVF64_HNSW8,SQ8"
N, DIM, SHARD = 12_000, 16, 5_000


class Killed(RuntimeError):
    pass


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> EmbeddingStore:
    path = tmp_path_factory.mktemp("store") / "embeddings.npy"
    np.save(path, clustered_unit_vectors(N, DIM).astype(np.float16))
    return EmbeddingStore.open(path)


def _recall(index, store: EmbeddingStore, rows: np.ndarray, k: int = 10) -> float:
    queries = rows[:: len(rows) // 50][:50]
    vectors = store.take(np.arange(store.n))
    ids, _ = index.search(vectors[queries], k, exclude=queries)
    exact = brute_force(vectors, queries, k, rows)
    found = np.take_along_axis(vectors[queries] @ vectors.T, ids, axis=1)
    return float(np.mean(found >= exact[:, -1:] - 1e-3))


def test_the_factory_string_builds_through_the_registry(store):
    rows = np.arange(0, N, 2)
    index = build_index(store, rows, FACTORY)
    assert index.factory == FACTORY and index.ntotal == len(rows)
    assert _recall(index, store, rows) > 0.9


def test_a_killed_build_resumes_from_its_shards_to_the_same_index(store, tmp_path, monkeypatch):
    rows = np.arange(1, N, 1, dtype=np.int64)
    whole = build_resumable_index(store, rows, tmp_path / "whole", FACTORY, shard_rows=SHARD, train_per_list=40)
    real, calls, kill = resumable._add_shard, [], [True]

    def add_shard(*args, **kwargs):
        calls.append(args[3].name)
        if kill[0] and len(calls) == 2:
            raise Killed("killed while adding the second shard")
        return real(*args, **kwargs)

    monkeypatch.setattr(resumable, "_add_shard", add_shard)
    with pytest.raises(Killed):
        build_resumable_index(store, rows, tmp_path / "resumed", FACTORY, shard_rows=SHARD, train_per_list=40)
    partial = index_path(tmp_path / "resumed", FACTORY).with_name("IVF64_HNSW8_SQ8.partial")
    assert sorted(p.name for p in partial.iterdir()) == ["plan.json", "shard-0000.faiss", "trained.faiss"]
    calls.clear()
    kill[0] = False
    resumed = build_resumable_index(store, rows, tmp_path / "resumed", FACTORY, shard_rows=SHARD, train_per_list=40)
    assert calls == ["shard-0001.faiss", "shard-0002.faiss"] and not partial.exists()
    queries = store.take(rows[::97])
    for got, want in zip(resumed.search(queries, 20), whole.search(queries, 20), strict=True):
        np.testing.assert_array_equal(got, want)
    assert resumed.ntotal == len(rows) and _recall(resumed, store, rows) > 0.9

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the resumable build's index should be reused")

    monkeypatch.setattr(FaissBackend, "build", no_rebuild)
    reopened = open_or_build_rows_index(store, rows, tmp_path / "resumed", FACTORY)
    np.testing.assert_array_equal(reopened.search(queries, 5)[0], whole.search(queries, 5)[0])


def test_a_partial_build_of_other_rows_is_discarded(store, tmp_path, monkeypatch):
    monkeypatch.setattr(resumable, "_add_shard", lambda *a, **k: (_ for _ in ()).throw(Killed("stop")))
    with pytest.raises(Killed):
        build_resumable_index(store, np.arange(N), tmp_path, FACTORY, shard_rows=SHARD)
    monkeypatch.undo()
    index = build_resumable_index(store, np.arange(0, N, 3), tmp_path, FACTORY, shard_rows=SHARD)
    assert index.ntotal == len(np.arange(0, N, 3))
    np.testing.assert_array_equal(index.rows, np.arange(0, N, 3))
