"""The index layer without a dataset: the backend registry, the protocol's identity members and
(store, rows, directory) in place of a dataset folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_dataset
from sealsearch.errors import InvalidParameterError, UnknownNameError
from sealsearch.index import (
    BACKENDS,
    build_index,
    get_backend,
    load_index,
    open_or_build_rows_index,
    register_backend,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("backends") / "ds")


def test_unknown_backend_is_refused_with_a_suggestion(dataset):
    with pytest.raises(UnknownNameError, match="unknown index backend 'fais'.*did you mean 'faiss'") as exc:
        build_index(dataset.embeddings, np.arange(100), "Flat", backend="fais")
    assert "\n" not in str(exc.value)
    with pytest.raises(UnknownNameError, match="choose one of faiss, milvus"):
        get_backend("milvis")


def test_a_registered_name_cannot_be_taken_twice():
    class Impostor:
        name = "faiss"

    with pytest.raises(InvalidParameterError, match="already registered"):
        register_backend(Impostor())  # type: ignore[arg-type]
    assert BACKENDS["faiss"] is get_backend("faiss")


def test_open_or_build_rows_index_takes_store_rows_and_directory(dataset, tmp_path):
    rows = dataset.split_rows("pool")[::2]
    index = open_or_build_rows_index(dataset.embeddings, rows, tmp_path, "IVF8,Flat,Rerank2")
    meta = json.loads((tmp_path / "IVF8_Flat" / "meta.json").read_text())
    assert meta["backend"] == "faiss" and meta["factory"] == "IVF8,Flat"
    np.testing.assert_array_equal(index.rows, rows)
    assert index.describe() == "faiss:IVF8,Flat,Rerank2"
    lists = index.ivf_lists()
    assert lists is not None and lists.nlist == 8 and np.array_equal(np.sort(lists.members), rows)
    loaded = load_index(tmp_path / "IVF8_Flat")  # dispatched by the backend meta.json names
    assert loaded.describe() == "faiss:IVF8,Flat" and np.array_equal(loaded.rows, rows)


def test_flat_has_no_inverted_lists_and_old_meta_without_backend_loads(dataset, tmp_path):
    index = build_index(dataset.embeddings, np.arange(50), "Flat")
    assert index.ivf_lists() is None and index.describe() == "faiss:Flat"
    index.save(tmp_path / "old")
    meta_path = tmp_path / "old" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["backend"]  # written before backends were named: Faiss
    meta_path.write_text(json.dumps(meta))
    assert load_index(tmp_path / "old").describe() == "faiss:Flat"


def test_the_old_name_still_works_with_a_deprecation_note_and_refuses_a_dataset(dataset, tmp_path):
    import sealsearch.index
    from sealsearch.index import open_or_build_index  # importable; calling it warns

    rows = dataset.split_rows("pool")[:40]
    with pytest.warns(DeprecationWarning, match="renamed open_or_build_rows_index"):
        index = open_or_build_index(dataset.embeddings, rows, tmp_path, "Flat")
    assert index.backend == "faiss" and np.array_equal(index.rows, rows)
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidParameterError, match="sealsearch.open_or_build_index"):
        sealsearch.index.open_or_build_index(dataset, "Flat", tmp_path)  # type: ignore[arg-type]
    assert sealsearch.open_or_build_index is not sealsearch.index.open_or_build_rows_index
