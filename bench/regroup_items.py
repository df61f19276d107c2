"""Rewrite a dataset's items.parquet in the row groups `DatasetWriter` writes now (2^16 rows).

    PYTHONPATH=src .venv/bin/python bench/regroup_items.py DATASET

Datasets written before that change have groups of up to 2^20 rows, and a labeling batch's ten
scattered items then cost ten decodes of a million ids (~23 ms each; bench/RESULTS.md, "10^8:
the labeler's waits, measured"). Same rows, same values, same schema; the file is replaced
atomically, so a reader sees the old file or the new one. Its id map (`items.ids.*`) is rebuilt
on the next `seals project init` or project open, since the file's size and mtime change.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow.parquet as pq

from sealsearch._util import atomic_write
from sealsearch.data.row_groups import ITEM_GROUP_ROWS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    path = parser.parse_args().dataset / "items.parquet"
    source = pq.ParquetFile(path)
    before = source.metadata.num_row_groups
    started = time.perf_counter()
    with atomic_write(path) as tmp, pq.ParquetWriter(tmp, source.schema_arrow) as out:
        for batch in source.iter_batches(batch_size=ITEM_GROUP_ROWS):
            out.write_batch(batch, row_group_size=ITEM_GROUP_ROWS)
    after = pq.ParquetFile(path).metadata.num_row_groups
    print(f"{path}: {before} row groups -> {after} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
