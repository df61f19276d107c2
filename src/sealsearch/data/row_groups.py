"""A few items of a huge items.parquet without reading it whole: its row groups, decoded once.

items.parquet is written in row order, so the row group of a row is found by arithmetic on the
groups' sizes. Decoding one group of a 10^7-item table (1,048,576 ids) takes ~25-30 ms, and the
ten items of a labeling batch fall in up to ten groups: read afresh for every batch, that was
~190 ms of the ~200 ms a labeler waited for the next batch at 10^7 (bench/labeling_latency.py).
Decoded groups are kept, least recently used first out, within a byte budget, so a labeling
session pays each group once and then a `take` of microseconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress, atomic_write

CACHE_BYTES = 256 * 2**20
"""Decoded row groups kept per items file (pyarrow's `nbytes`): ~10 groups of a million short ids."""

ITEM_GROUP_ROWS = 65_536
"""Rows per row group of the items.parquet `DatasetWriter` writes. A batch's items are scattered
rows, each costing the decode of its whole group: 23 ms for a group of 2^20 ids, 2.5 ms for 2^16
(warm file, 6·10^6 ids), for a file 39% larger. At 10^8 items a labeling round's background
work (train, kNN, select, read the ten items) took 210–270 ms with 2^20-row groups on a quiet box,
72–139 ms with 2^16 beside a test suite (bench/RESULTS.md, "10^8: the labeler's waits, measured")."""


class RowGroupReader:
    """Rows of one parquet file by row number, through a byte-bounded cache of decoded groups."""

    def __init__(self, file: Path, cache_bytes: int = CACHE_BYTES):
        import pyarrow.parquet as pq

        self._parquet = pq.ParquetFile(file)
        meta = self._parquet.metadata
        sizes = [meta.row_group(g).num_rows for g in range(self._parquet.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.names = set(self._parquet.schema_arrow.names)
        self.cache_bytes = int(cache_bytes)
        self._cache: OrderedDict[tuple[int, tuple[str, ...]], object] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()  # the labeling server reads items from several threads

    def _group(self, group: int, columns: tuple[str, ...]):
        key = (group, columns)
        with self._lock:
            table = self._cache.get(key)
            if table is not None:
                self._cache.move_to_end(key)
                return table
            for (cached_group, cached_columns), cached in self._cache.items():  # ~10 entries
                if cached_group == group and set(columns) <= set(cached_columns):
                    return cached.select(list(columns))  # a label's id check reuses its batch's read
        table = self._parquet.read_row_group(group, columns=list(columns))
        with self._lock:
            if key not in self._cache and table.nbytes <= self.cache_bytes:
                self._cache[key] = table
                self._cached_bytes += table.nbytes
                while self._cached_bytes > self.cache_bytes:
                    _, dropped = self._cache.popitem(last=False)
                    self._cached_bytes -= dropped.nbytes
        return table

    def take(self, rows: np.ndarray, columns: tuple[str, ...]) -> pd.DataFrame:
        """`columns` (those the file has) of `rows`, in the order of `rows` (object columns).
        One Arrow take per group, then one conversion to pandas: converting group by group cost
        ~2 ms a group, as much as decoding it."""
        import pyarrow as pa

        present = tuple(c for c in columns if c in self.names)
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in present})
        group_of = np.searchsorted(self._starts, rows, side="right") - 1
        order = np.argsort(group_of, kind="stable")  # positions of `rows`, grouped
        groups, first = np.unique(group_of[order], return_index=True)
        parts = [
            self._group(int(group), present).take(pa.array(rows[where] - self._starts[group]))
            for group, where in zip(groups, np.split(order, first[1:]), strict=True)
        ]
        frame = pa.concat_tables(parts).to_pandas()[list(present)].astype(object)
        back = np.empty(rows.size, dtype=np.int64)
        back[order] = np.arange(rows.size)  # where each asked row landed in the grouped frame
        return frame.iloc[back].reset_index(drop=True)


def largest_group(items_file: Path) -> int:
    """Rows in the largest row group of a parquet file (its footer only)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(items_file).metadata
    return max((meta.row_group(g).num_rows for g in range(meta.num_row_groups)), default=0)


def regroup(items_file: Path, progress: Progress | None = None) -> tuple[int, int]:
    """Rewrite `items_file` in ITEM_GROUP_ROWS-row groups (same rows, values and schema), for a
    dataset written before `DatasetWriter` wrote that layout; atomic, so a reader sees the old
    file or the new one. Returns (row groups before, after). Its id map is rebuilt on next use
    (the file's size and mtime change)."""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(items_file)
    before, n, done = source.metadata.num_row_groups, source.metadata.num_rows, 0
    with atomic_write(items_file) as tmp, pq.ParquetWriter(tmp, source.schema_arrow) as out:
        for batch in source.iter_batches(batch_size=ITEM_GROUP_ROWS):
            out.write_batch(batch, row_group_size=ITEM_GROUP_ROWS)
            done += batch.num_rows
            if progress:
                progress(done, n)
    return before, pq.ParquetFile(items_file).metadata.num_row_groups
