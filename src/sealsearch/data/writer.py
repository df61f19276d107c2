"""Writing a dataset directory: the single place that validates tables and normalises vectors.

`DatasetWriter` takes blocks appended in order (used by `write_dataset` and by generators that
never hold the whole matrix), validates and L2-normalises them into a temporary directory and
renames it at the end, so a bad input leaves nothing half-written behind.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress
from sealsearch.data.dataset import SPLITS, Dataset, DatasetInfo
from sealsearch.data.embeddings import CHUNK_ROWS, check_matrix_shape, normalise_rows, record_check
from sealsearch.data.projection import PROJECTION_FILE, Projection
from sealsearch.errors import InvalidDataError, InvalidParameterError


def _validate_items(items: pd.DataFrame, n: int, label: str) -> pd.DataFrame:
    items = items.copy()
    if "row" in items.columns:
        rows = items["row"].to_numpy()
        if len(items) != n or not np.array_equal(np.sort(rows), np.arange(n)):
            raise InvalidDataError(f"{label}: column 'row' must hold each of 0..{n - 1} exactly once")
        items = items.sort_values("row").reset_index(drop=True)
    elif len(items) != n:
        raise InvalidDataError(
            f"{label}: has {len(items)} rows but the embeddings have {n}; they must match one to one"
        )
    items["row"] = np.arange(n, dtype=np.int64)
    if "split" in items.columns:
        split = items["split"].astype(str)
        unknown = sorted(set(split.unique()) - set(SPLITS))  # unique first: set() of 10M strings takes ~10 s
        if unknown:
            raise InvalidDataError(f"{label}: column 'split' may hold only 'pool' or 'test', found {unknown[:3]}")
        items["split"] = split
    else:
        items["split"] = "pool"
    if "id" not in items.columns:
        items["id"] = items["row"].astype(str)
    columns = ["row", "id"] + [c for c in ("text", "uri") if c in items.columns] + ["split"]
    return items[columns]


def _validate_concepts(concepts: pd.DataFrame, n: int, label: str) -> pd.DataFrame:
    missing = {"row", "concept"} - set(concepts.columns)
    if missing:
        raise InvalidDataError(f"{label}: needs columns 'row' and 'concept' (long format), missing {sorted(missing)}")
    rows = pd.to_numeric(concepts["row"], errors="coerce")
    if rows.isna().any() or (rows % 1 != 0).any():
        raise InvalidDataError(f"{label}: column 'row' must hold integers")
    rows = rows.astype(np.int64)
    out_of_range = (rows < 0) | (rows >= n)
    if out_of_range.any():
        raise InvalidDataError(
            f"{label}: row {int(rows[out_of_range].iloc[0])} is outside 0..{n - 1} (the embeddings have {n} rows)"
        )
    return pd.DataFrame(
        {"row": rows.to_numpy(), "concept": concepts["concept"].astype(str).to_numpy()}
    ).drop_duplicates()


class DatasetWriter:
    """A dataset directory written block by block, for matrices that never exist whole in memory.

    Item and concept tables are validated when the writer is created, before any vector is
    written, so a bad table fails in a second rather than after a 10 GB pass. Blocks are appended
    in row order, checked (finite, non-zero) and L2-normalised on the way into a memory-mapped
    file in a temporary sibling of `out`; `finish` renames it into place. Used as a context
    manager, an exception (or a missing `finish`) leaves nothing behind.
    """

    def __init__(
        self,
        out: str | Path,
        n: int,
        dim: int,
        *,
        name: str | None = None,
        embedder: str = "unknown",
        items: pd.DataFrame | None = None,
        concepts: pd.DataFrame | None = None,
        tables: dict[str, pd.DataFrame] | None = None,
        dtype: str = "float32",
        source_label: str = "embeddings",
        media_root: str | None = None,
    ):
        self.out = Path(out)
        if self.out.exists():
            raise InvalidParameterError(f"{self.out}: already exists; choose a new output directory or remove it first")
        if n <= 0 or dim <= 0:
            raise InvalidDataError(f"{source_label}: embeddings are empty (shape {(n, dim)})")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype("float16"), np.dtype("float32")):
            raise InvalidParameterError(f"dtype must be float16 or float32, got {self.dtype}")
        self.n, self.dim, self.written = int(n), int(dim), 0
        self.info = DatasetInfo(
            name=name or self.out.name, n=self.n, dim=self.dim, dtype=str(self.dtype), normalized=True,
            embedder=embedder, media_root=media_root,
        )  # fmt: skip
        self.source_label = source_label
        self.items = _validate_items(items, self.n, "items") if items is not None else None
        self.concepts = _validate_concepts(concepts, self.n, "concepts") if concepts is not None else None
        self.tables = dict(tables or {})
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.out.parent / f".{self.out.name}.tmp-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        self._target = np.lib.format.open_memmap(
            self.tmp / "embeddings.npy", mode="w+", dtype=self.dtype, shape=(self.n, self.dim)
        )

    def append(self, block: np.ndarray) -> None:
        """The next rows, in order; any float dtype, normalised here."""
        if block.ndim != 2 or block.shape[1] != self.dim:
            raise InvalidDataError(
                f"{self.source_label}: block of shape {block.shape} does not fit a matrix of dimension {self.dim}"
            )
        end = self.written + block.shape[0]
        if end > self.n:
            raise InvalidDataError(f"{self.source_label}: more than the announced {self.n} rows")
        self._target[self.written : end] = normalise_rows(block, self.written, self.source_label)
        self.written = end

    def finish(self, projection: Projection | None = None) -> Dataset:
        """Write the tables and dataset.json, then rename the directory into place.

        `projection` is the map the appended blocks went through (fitted once writing had begun,
        so bad tables fail before the fit); it is kept so queries can follow the same path.
        """
        if self.written != self.n:
            raise InvalidDataError(f"{self.source_label}: {self.written} of the announced {self.n} rows were written")
        if projection is not None:
            if projection.dim != self.dim:
                raise InvalidDataError(
                    f"{self.source_label}: projection gives dimension {projection.dim}, not {self.dim}"
                )
            projection.save(self.tmp / PROJECTION_FILE)
            self.info = replace(self.info, projection=projection.describe())
        self._target.flush()
        del self._target
        record_check(self.tmp / "embeddings.npy")  # every value was checked while normalising
        if self.items is not None:
            self.items.to_parquet(self.tmp / "items.parquet", index=False)
        if self.concepts is not None:
            self.concepts.to_parquet(self.tmp / "concepts.parquet", index=False)
        for table_name, table in self.tables.items():
            table.to_parquet(self.tmp / f"{table_name}.parquet", index=False)
        (self.tmp / "dataset.json").write_text(json.dumps(asdict(self.info), indent=2) + "\n")
        (self.tmp / "index").mkdir()
        self.tmp.rename(self.out)
        return Dataset.open(self.out)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.tmp.exists():  # finish renames it away; anything else is an abandoned write
            shutil.rmtree(self.tmp, ignore_errors=True)


def write_dataset(
    out: str | Path,
    embeddings: np.ndarray,
    *,
    name: str | None = None,
    embedder: str = "unknown",
    items: pd.DataFrame | None = None,
    concepts: pd.DataFrame | None = None,
    dtype: str | None = None,
    source_label: str = "embeddings",
    progress: Progress | None = None,
) -> Dataset:
    """Validate, L2-normalise and write a dataset directory; all or nothing (see `DatasetWriter`).

    `embeddings` may be a memory-mapped array: it is read in chunks.
    """
    check_matrix_shape(embeddings, source_label)
    n, dim = (int(s) for s in embeddings.shape)
    target_dtype = dtype or ("float16" if embeddings.dtype == np.float16 else "float32")
    with DatasetWriter(
        out, n, dim, name=name, embedder=embedder, items=items, concepts=concepts, dtype=target_dtype,
        source_label=source_label,
    ) as writer:  # fmt: skip
        for start in range(0, n, CHUNK_ROWS):
            writer.append(embeddings[start : start + CHUNK_ROWS])
            if progress:
                progress(writer.written, n)
        return writer.finish()
