"""The id -> row map (sealsearch.data.id_map): every id finds its row, an unknown id finds none,
a hash collision never maps an id to another item's row, the saved map is memory-mapped and
reused until items.parquet changes, and a directory that cannot be written keeps it in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import make_dataset

import sealsearch.data.id_map as id_map_module
from sealsearch.data.dataset import Dataset
from sealsearch.data.id_map import IdMap, map_paths
from sealsearch.errors import InvalidDataError


def _items(tmp_path, ids, group=64):
    path = tmp_path / "items.parquet"
    frame = pd.DataFrame({"row": np.arange(len(ids)), "id": ids, "split": "pool"})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=group)
    table = [str(i) for i in ids]
    return path, lambda rows: np.asarray([table[r] for r in rows], dtype=object)


def _weak_hash(monkeypatch, buckets=4):
    """A hash with 4 values: almost every id collides with many others."""
    strong = id_map_module.hash_ids
    monkeypatch.setattr(id_map_module, "hash_ids", lambda ids: strong(ids) % np.uint64(buckets))


def test_every_id_finds_its_row_and_an_unknown_id_none(tmp_path, monkeypatch):
    monkeypatch.setattr(id_map_module, "BLOCK_ROWS", 100)  # several blocks hashed
    ids = [f"sku-{i * 7919 % 1000}" for i in range(1000)]
    path, ids_at = _items(tmp_path, ids)
    id_map = IdMap.open(path, ids_at)
    rng = np.random.default_rng(0)
    asked = rng.permutation(1000)[:300]
    assert id_map.rows_of([ids[r] for r in asked]).tolist() == asked.tolist()
    assert id_map.rows_of(["sku-1000", "", "SKU-1", "sku-1 "]).tolist() == [-1, -1, -1, -1]
    assert id_map.rows_of([]).tolist() == []


def test_integer_ids_are_looked_up_as_their_strings(tmp_path):
    path, ids_at = _items(tmp_path, list(range(100, 300)))
    assert IdMap.open(path, ids_at).rows_of(["100", "299", 150, "1000"]).tolist() == [0, 199, 50, -1]


def test_a_hash_collision_never_maps_an_id_to_another_row(tmp_path, monkeypatch):
    _weak_hash(monkeypatch)
    ids = [f"item{i}" for i in range(200)]
    path, ids_at = _items(tmp_path, ids)
    id_map = IdMap.open(path, ids_at)  # ~50 ids share each hash, none duplicated: no error
    assert id_map.rows_of(ids[::-1]).tolist() == list(range(199, -1, -1))
    assert id_map.rows_of(["item200", "nope"]).tolist() == [-1, -1]  # same hashes as real ids, yet unknown


@pytest.mark.parametrize("weak", [False, True])
def test_a_duplicated_id_is_refused_naming_its_first_two_rows(tmp_path, monkeypatch, weak):
    if weak:
        _weak_hash(monkeypatch)
    ids = [f"item{i}" for i in range(100)]
    ids[61] = ids[90] = "item40"
    path, ids_at = _items(tmp_path, ids)
    with pytest.raises(InvalidDataError, match=r"items.parquet: id 'item40' appears twice \(row 40 and row 61\)"):
        IdMap.open(path, ids_at)
    assert not any(p.exists() for p in map_paths(path))  # nothing saved for a refused table


def test_the_saved_map_is_memory_mapped_and_reused_until_the_items_change(tmp_path, monkeypatch):
    path, ids_at = _items(tmp_path, [f"a{i}" for i in range(500)])
    first = IdMap.open(path, ids_at)
    assert all(p.is_file() for p in map_paths(path))
    built = id_map_module._build
    monkeypatch.setattr(id_map_module, "_build", lambda *a: pytest.fail("rebuilt a fresh map"))
    again = IdMap.open(path, ids_at)
    assert isinstance(again.hashes, np.memmap) and isinstance(again.rows, np.memmap)
    assert again.rows_of(["a7", "a499"]).tolist() == first.rows_of(["a7", "a499"]).tolist() == [7, 499]
    monkeypatch.setattr(id_map_module, "_build", built)
    path, ids_at = _items(tmp_path, [f"b{i}" for i in range(600)])  # the table replaced
    assert IdMap.open(path, ids_at).rows_of(["a7", "b599"]).tolist() == [-1, 599]


def test_a_damaged_saved_map_is_rebuilt(tmp_path):
    path, ids_at = _items(tmp_path, [f"a{i}" for i in range(50)])
    IdMap.open(path, ids_at)
    map_paths(path)[0].write_bytes(b"not an npy file")
    assert IdMap.open(path, ids_at).rows_of(["a3"]).tolist() == [3]


def test_a_directory_that_cannot_be_written_keeps_the_map_in_memory(tmp_path, monkeypatch):
    def read_only(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(id_map_module, "atomic_write", read_only)
    path, ids_at = _items(tmp_path, [f"a{i}" for i in range(50)])
    assert IdMap.open(path, ids_at).rows_of(["a3", "zz"]).tolist() == [3, -1]
    assert not any(p.exists() for p in map_paths(path))


def test_a_dataset_looks_ids_up_with_or_without_an_items_table(tmp_path):
    dataset = make_dataset(tmp_path / "ds", n=300)
    assert dataset.rows_of(["item299", "item0", "item300"]).tolist() == [299, 0, -1]
    assert all(p.is_file() for p in map_paths(dataset.path / "items.parquet"))
    (dataset.path / "items.parquet").unlink()
    bare = Dataset.open(dataset.path)  # ids are the row numbers
    assert bare.rows_of(["0", "299", "300", "05", "-1", "1.0", "item1"]).tolist() == [0, 299, -1, -1, -1, -1, -1]
