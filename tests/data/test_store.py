"""The dataset directory: validation on write, checks on open, all-or-nothing writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from sealsearch.data.dataset import Dataset
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.writer import DatasetWriter, write_dataset
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError


def vectors(n=50, dim=8, dtype=np.float32):
    return (np.random.default_rng(0).normal(size=(n, dim)) * 5).astype(dtype)


def test_write_normalises_and_keeps_float16(tmp_path):
    dataset = write_dataset(tmp_path / "d", vectors(dtype=np.float16))
    assert dataset.info.dtype == "float16" and dataset.embeddings.vectors.dtype == np.float16
    norms = np.linalg.norm(dataset.embeddings.take(np.arange(50)), axis=1)
    np.testing.assert_allclose(norms, 1, atol=2e-3)
    assert json.loads((tmp_path / "d" / "dataset.json").read_text())["normalized"] is True
    assert isinstance(dataset.embeddings.vectors, np.memmap)


def test_items_get_rows_ids_and_default_split(tmp_path):
    items = pd.DataFrame({"row": np.arange(50)[::-1], "text": [f"t{i}" for i in range(50)][::-1]})
    dataset = write_dataset(tmp_path / "d", vectors(), items=items)
    assert dataset.items["text"].iloc[3] == "t3"
    assert (dataset.items["split"] == "pool").all()
    assert dataset.split_rows("test").size == 0


@pytest.mark.parametrize(
    ("items", "concepts", "message"),
    [
        (pd.DataFrame({"split": ["pool"] * 49 + ["train"]}), None, "'split' may hold only 'pool' or 'test'"),
        (pd.DataFrame({"row": np.arange(1, 51)}), None, "'row' must hold each of 0..49"),
        (None, pd.DataFrame({"row": [0, 50], "concept": "x"}), "row 50 is outside 0..49"),
        (None, pd.DataFrame({"item": [0], "concept": "x"}), "missing ['row']"),
        (None, pd.DataFrame({"row": [0.5], "concept": "x"}), "'row' must hold integers"),
    ],
)
def test_bad_tables_are_refused_before_anything_is_written(tmp_path, items, concepts, message):
    with pytest.raises(InvalidDataError) as error:
        write_dataset(tmp_path / "d", vectors(), items=items, concepts=concepts)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_zero_vector_is_named(tmp_path):
    x = vectors()
    x[7] = 0
    with pytest.raises(InvalidDataError, match="row 7 is an all-zero vector"):
        write_dataset(tmp_path / "d", x)
    assert list(tmp_path.iterdir()) == []


def test_integer_matrix_is_refused(tmp_path):
    with pytest.raises(InvalidDataError, match="must be float16/float32/float64, got int64"):
        write_dataset(tmp_path / "d", np.ones((5, 3), dtype=np.int64))


def test_open_checks_values_once_per_version_of_the_file(tmp_path):
    write_dataset(tmp_path / "d", vectors())
    file = tmp_path / "d" / "embeddings.npy"
    assert (tmp_path / "d" / "embeddings.npy.checked.json").is_file()  # checked while written
    raw = np.load(file)
    kept = raw[31, 2]
    raw[31, 2] = np.inf
    np.save(file, raw)  # a new version of the file: scanned again on open
    with pytest.raises(InvalidDataError, match="row 31 contains NaN or inf"):
        Dataset.open(tmp_path / "d")
    Dataset.open(tmp_path / "d", verify=False)  # an explicit opt-out skips the scan

    raw[31, 2] = kept  # a unit row again (dataset.json says normalized: other lengths are refused)
    np.save(file, raw)
    Dataset.open(tmp_path / "d")  # clean again: scanned, and the result remembered
    stat = file.stat()
    with open(file, "r+b") as handle:  # same size, mtime restored: the ctime still changed
        handle.seek(-4, 2)
        handle.write(np.float32(np.nan).tobytes())
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(InvalidDataError, match="row 49 contains NaN or inf"):
        Dataset.open(tmp_path / "d")


def test_open_refuses_a_matrix_that_disagrees_with_dataset_json(tmp_path):
    write_dataset(tmp_path / "d", vectors())
    np.save(tmp_path / "d" / "embeddings.npy", vectors()[:40])
    with pytest.raises(InvalidDataError, match="does not match dataset.json"):
        Dataset.open(tmp_path / "d")


def test_missing_pieces_are_named(tmp_path):
    with pytest.raises(MissingFileError, match="dataset.json: not found"):
        Dataset.open(tmp_path)
    dataset = write_dataset(tmp_path / "d", vectors())
    with pytest.raises(MissingFileError, match="concepts.parquet: not found"):
        dataset.concept_names()
    with pytest.raises(InvalidParameterError, match="already exists"):
        write_dataset(tmp_path / "d", vectors())


def test_rows_in_split_agrees_with_set_intersection(small_dataset):
    rows = np.random.default_rng(0).choice(small_dataset.info.n, size=200, replace=False)
    for split in ("pool", "test"):
        expected = np.intersect1d(rows, small_dataset.split_rows(split))
        np.testing.assert_array_equal(np.sort(small_dataset.rows_in_split(rows, split)), expected)
    assert small_dataset.split_rows("pool") is small_dataset.split_rows("pool")  # computed once
    assert not small_dataset.split_rows("pool").flags.writeable


def test_writer_takes_blocks_in_order_and_leaves_nothing_when_abandoned(tmp_path):
    matrix = vectors(10, 4)
    with DatasetWriter(tmp_path / "ok", 10, 4, tables={"extra": pd.DataFrame({"a": [1]})}) as writer:
        for block in (matrix[:3], matrix[3:9], matrix[9:]):
            writer.append(block)
        dataset = writer.finish()
    np.testing.assert_allclose(dataset.embeddings.vectors, matrix / np.linalg.norm(matrix, axis=1)[:, None])
    assert pd.read_parquet(dataset.path / "extra.parquet")["a"].tolist() == [1]
    with DatasetWriter(tmp_path / "short", 10, 4) as writer:
        writer.append(matrix[:4])
        with pytest.raises(InvalidDataError, match="more than the announced 10 rows"):
            writer.append(matrix)
        with pytest.raises(InvalidDataError, match="4 of the announced 10 rows"):
            writer.finish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok"]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_gather_reads_the_same_rows_as_take(tmp_path, dtype):
    embeddings = write_dataset(tmp_path / "d", vectors(n=300, dtype=dtype)).embeddings
    rows = np.array([299, 0, 17, 17, 150])  # any order, repeats allowed, like take
    gathered = embeddings.gather(rows)
    assert gathered.dtype == np.float32 and gathered.flags.c_contiguous
    np.testing.assert_array_equal(gathered, embeddings.take(rows))
    in_memory = EmbeddingStore(np.asarray(embeddings.vectors))  # no file behind it: plain indexing
    np.testing.assert_array_equal(in_memory.gather(rows), gathered)
