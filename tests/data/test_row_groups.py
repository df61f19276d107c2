"""Rows of a parquet file by number through cached row groups: the same values as reading it all,
whatever the cache budget, and the cache never over its budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sealsearch.data.row_groups import RowGroupReader


def _file(tmp_path, n=1_000, group=64):
    frame = pd.DataFrame({"row": np.arange(n), "id": [f"item{i}" for i in range(n)],
                          "text": [f"text {i} " * (i % 7) for i in range(n)]})  # fmt: skip
    path = tmp_path / "items.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=group)
    return path, frame


def test_take_matches_the_whole_table_in_any_order(tmp_path):
    path, frame = _file(tmp_path)
    reader = RowGroupReader(path)
    rng = np.random.default_rng(0)
    for _ in range(5):
        rows = rng.choice(len(frame), 37, replace=True)  # repeats and groups in any order
        got = reader.take(rows, ("id", "text", "absent"))
        assert list(got.columns) == ["id", "text"]
        expected = frame.iloc[rows][["id", "text"]].reset_index(drop=True).astype(object)
        pd.testing.assert_frame_equal(got, expected)
    assert reader.take(np.array([], dtype=np.int64), ("id",)).empty


def test_the_cache_keeps_within_its_budget_and_reuses_groups(tmp_path):
    path, frame = _file(tmp_path)
    one_group = pq.ParquetFile(path).read_row_group(0, columns=["id"]).nbytes
    reader = RowGroupReader(path, cache_bytes=3 * one_group + 1)
    for start in range(0, len(frame), 64):  # every group once
        assert reader.take(np.array([start]), ("id",))["id"].tolist() == [f"item{start}"]
        assert reader._cached_bytes <= reader.cache_bytes
    assert len(reader._cache) == 3  # the three most recent groups
    kept = next(iter(reader._cache.values()))
    first_kept = next(iter(reader._cache))[0]
    reader.take(np.array([first_kept * 64 + 1]), ("id",))
    assert next(reversed(reader._cache.values())) is kept  # a hit: the decoded table itself, now newest


def test_a_narrower_read_of_a_cached_group_reads_nothing(tmp_path, monkeypatch):
    path, frame = _file(tmp_path)
    reader = RowGroupReader(path)
    reader.take(np.array([70, 5]), ("id", "text"))  # a batch's items: groups 0 and 1, both columns
    monkeypatch.setattr(reader._parquet, "read_row_group", lambda *a, **k: pytest.fail("read a cached group again"))
    assert reader.take(np.array([5, 70]), ("id",))["id"].tolist() == ["item5", "item70"]  # a label's id check


def test_datasets_are_written_in_small_row_groups(tmp_path):
    """A batch's scattered items each cost the decode of a row group: the writer keeps them small."""
    from sealsearch.data.row_groups import ITEM_GROUP_ROWS
    from sealsearch.data.writer import write_dataset

    n = ITEM_GROUP_ROWS + 100
    vectors = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    items = pd.DataFrame({"id": [f"i{r}" for r in range(n)], "split": "pool"})
    dataset = write_dataset(tmp_path / "ds", vectors, name="groups", embedder="test", items=items)
    sizes = [g.num_rows for g in map(pq.ParquetFile(dataset.path / "items.parquet").metadata.row_group, range(2))]
    assert sizes == [ITEM_GROUP_ROWS, 100]
    assert dataset.items_at(np.array([n - 1, 3]), ("id",))["id"].tolist() == [f"i{n - 1}", "i3"]


def test_seals_dataset_regroup_rewrites_big_groups_and_the_doctor_asks_for_it(tmp_path):
    from typer.testing import CliRunner

    from sealsearch.cli import app
    from sealsearch.data.checks import dataset_findings
    from sealsearch.data.dataset import Dataset
    from sealsearch.data.row_groups import ITEM_GROUP_ROWS, largest_group
    from sealsearch.data.writer import write_dataset

    n = ITEM_GROUP_ROWS + 10
    vectors = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    items = pd.DataFrame({"id": [f"i{r}" for r in range(n)], "split": "pool"})
    path = write_dataset(tmp_path / "ds", vectors, name="old", embedder="test", items=items).path
    file = path / "items.parquet"
    old = pd.read_parquet(file)
    pq.write_table(pa.Table.from_pandas(old, preserve_index=False), file, row_group_size=n)  # an older layout
    Dataset.open(path).rows_of(["i5"])  # its id map, built on the old file

    def warned() -> bool:
        findings, _ = dataset_findings(path)
        return any(f.status == "warn" and "seals dataset regroup" in f.fix for f in findings)

    assert warned()
    result = CliRunner().invoke(app, ["dataset", "regroup", str(path)])
    assert result.exit_code == 0 and "1 row groups -> 2" in result.stdout, result.output
    assert largest_group(file) == ITEM_GROUP_ROWS and not warned()
    pd.testing.assert_frame_equal(pd.read_parquet(file), old)
    assert Dataset.open(path).rows_of(["i5", f"i{n - 1}"]).tolist() == [5, n - 1]  # the map follows the file
