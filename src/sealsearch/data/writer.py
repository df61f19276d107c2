"""Writing a dataset directory: the single place that validates tables and normalises vectors.

`DatasetWriter` takes blocks appended in order (used by `write_dataset` and by generators that
never hold the whole matrix), validates and L2-normalises them into a temporary directory and
renames it at the end, so a bad input leaves nothing half-written behind.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress, fsync_directory, fsync_tree, write_text_atomic
from sealsearch.data.dataset import Dataset, DatasetInfo
from sealsearch.data.embeddings import CHUNK_ROWS, SCANS, check_matrix_shape, normalise_rows, record_check
from sealsearch.data.id_map import first_duplicate, hash_ids
from sealsearch.data.projection import PROJECTION_FILE, Projection
from sealsearch.data.row_groups import ITEM_GROUP_ROWS
from sealsearch.data.tables import check_item_chunk, duplicate_error, validate_concepts, validate_items
from sealsearch.errors import InvalidDataError, InvalidParameterError

RESUME_FILE = "progress.json"
"""In a resumable writer's `.OUT.partial` directory: the dataset it writes and how many rows are on disk."""


def _npy_offset(path: Path) -> int:
    """Where the values of a .npy file start (after its header)."""
    with open(path, "rb") as file:
        version = np.lib.format.read_magic(file)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        read_header(file)
        return file.tell()


class DatasetWriter:
    """A dataset directory written block by block, for matrices that never exist whole in memory.

    Item and concept tables are validated when the writer is created, before any vector is
    written, so a bad table fails in a second rather than after a 10 GB pass. Blocks are appended
    in row order, checked (finite, non-zero) and L2-normalised on the way into a file (written,
    not memory-mapped) in a temporary sibling of `out`; `finish` renames it into place. Used as a context
    manager, an exception (or a missing `finish`) leaves nothing behind, unless `resumable`: then
    the sibling is `.OUT.partial`, `checkpoint()` records the rows safely on disk, and a writer
    created later for the same dataset (same n, dim, dtype, embedder) starts at `written` = those
    rows; the caller appends from there (a generator that can regenerate any row range).
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
        embedder_weights: str | None = None,
        resumable: bool = False,
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
            embedder=embedder, media_root=media_root, embedder_weights=embedder_weights,
        )  # fmt: skip
        self.source_label = source_label
        self.items = validate_items(items, self.n, "items") if items is not None else None
        self.concepts = validate_concepts(concepts, self.n, "concepts") if concepts is not None else None
        self.tables = dict(tables or {})
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.resumable = resumable
        self._items_sink = self._concepts_sink = None  # pyarrow ParquetWriters of streamed tables
        self._items_written = 0
        self._id_hashes: list[np.ndarray] = []
        if resumable:  # one fixed name, kept on failure: a rerun with the same arguments continues it
            self.tmp = self.out.parent / f".{self.out.name}.partial"
            self.written = self._resumed_rows()
        else:
            self.tmp = self.out.parent / f".{self.out.name}.tmp-{os.getpid()}"
        if self.written:
            self._offset = _npy_offset(self.tmp / "embeddings.npy")
            self._file = open(self.tmp / "embeddings.npy", "r+b")  # noqa: SIM115 (closed by finish / __exit__)
        else:
            self._create_embeddings_file()

    def _create_embeddings_file(self) -> None:
        """A fresh temporary directory holding an empty, full-size embeddings.npy, open for writing."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        # open_memmap writes the .npy header and sizes the (sparse) file; rows are then written
        # through a plain file: the dirty pages of a 10 GB map would count toward the process's
        # resident memory, written pages only toward the kernel's page cache.
        try:  # a full or read-only disk fails here, before __exit__ could remove the temporary directory
            header = np.lib.format.open_memmap(
                self.tmp / "embeddings.npy", mode="w+", dtype=self.dtype, shape=(self.n, self.dim)
            )
            self._offset = header.offset
            del header
            self._file = open(self.tmp / "embeddings.npy", "r+b")  # noqa: SIM115 (closed by finish / __exit__)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def append(self, block: np.ndarray, where: tuple[str, int] | None = None) -> None:
        """The next rows, in order; any float dtype, normalised here.

        `where` = (source, its first row) names a bad row by the shard it came from instead of
        by its row in the dataset.
        """
        if block.ndim != 2 or block.shape[1] != self.dim:
            raise InvalidDataError(
                f"{where[0] if where else self.source_label}: block of shape {block.shape} does not fit a matrix "
                f"of dimension {self.dim}"
            )
        end = self.written + block.shape[0]
        if end > self.n:
            raise InvalidDataError(f"{self.source_label}: more than the announced {self.n} rows")
        label, first = where if where else (self.source_label, self.written)
        rows = np.ascontiguousarray(normalise_rows(block, first, label), dtype=self.dtype)
        self._file.seek(self._offset + self.written * self.dim * self.dtype.itemsize)
        self._file.write(rows.data)
        self.written = end

    def checkpoint(self) -> None:
        """Make the rows appended so far survive a kill (resumable writers only): the file's bytes
        reach the disk first, then `progress.json` names their count, so a rerun never trusts a
        block that was half written."""
        if not self.resumable:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        state = {"info": asdict(self.info), "rows": self.written}
        write_text_atomic(self.tmp / RESUME_FILE, json.dumps(state) + "\n")

    def _resumed_rows(self) -> int:
        """Rows a killed run of the same dataset left complete in `self.tmp` (0: start afresh)."""
        try:
            state = json.loads((self.tmp / RESUME_FILE).read_text())
            rows = int(state["rows"])
            matches = state["info"] == json.loads(json.dumps(asdict(self.info))) and 0 < rows <= self.n
            size = (self.tmp / "embeddings.npy").stat().st_size
        except (OSError, ValueError, KeyError, TypeError):
            return 0
        expected = _npy_offset(self.tmp / "embeddings.npy") + self.n * self.dim * self.dtype.itemsize
        return rows if matches and size == expected else 0

    def append_items(self, chunk: pd.DataFrame, where: tuple[str, int]) -> None:
        """The next items, in row order, streamed into items.parquet (for tables too big to hold).

        `where` = (source, its first row) as in `append`. Every chunk needs the columns of the
        first; ids are checked for duplicates at `finish`
        (8 bytes per item), where `locate(row)` names the place a duplicate came from.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.items is not None:
            raise InvalidParameterError("items were given whole; do not stream them too")
        label, first = where  # the shard and its first row, to name a bad row where it lies
        checked = check_item_chunk(chunk, first, label)
        checked["row"] = np.arange(self._items_written, self._items_written + len(checked), dtype=np.int64)
        table = pa.Table.from_pandas(checked, preserve_index=False)
        if self._items_sink is None:
            self._items_sink = pq.ParquetWriter(self.tmp / "items.parquet", table.schema)
        elif table.schema.names != self._items_sink.schema.names:
            raise InvalidDataError(
                f"{label}: item columns {table.schema.names} differ from the first shard's "
                f"{self._items_sink.schema.names}"
            )
        self._items_sink.write_table(table.cast(self._items_sink.schema), row_group_size=ITEM_GROUP_ROWS)
        self._id_hashes.append(hash_ids(table.column("id").to_numpy(zero_copy_only=False)))
        self._items_written += len(table)

    def append_concepts(self, rows: np.ndarray, concepts: np.ndarray) -> None:
        """Ground-truth (row, concept) pairs streamed into concepts.parquet; rows must be written items."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.concepts is not None:
            raise InvalidParameterError("concepts were given whole; do not stream them too")
        frame = pd.DataFrame({"row": np.asarray(rows, dtype=np.int64), "concept": np.asarray(concepts).astype(str)})
        if not len(frame):
            return
        bad = (frame["row"] < 0) | (frame["row"] >= self.n)
        if bad.any():
            raise InvalidDataError(f"concepts: row {int(frame['row'][bad].iloc[0])} is outside 0..{self.n - 1}")
        table = pa.Table.from_pandas(frame.drop_duplicates(), preserve_index=False)
        table = table.cast(pa.schema([("row", pa.int64()), ("concept", pa.string())]))
        if self._concepts_sink is None:
            self._concepts_sink = pq.ParquetWriter(self.tmp / "concepts.parquet", table.schema)
        self._concepts_sink.write_table(table)

    def _close_streams(self, locate: Callable[[int], str]) -> None:
        """Close the streamed tables; refuse a short item table or duplicate ids (see `first_duplicate`)."""
        import pyarrow.parquet as pq

        for sink in (self._items_sink, self._concepts_sink):
            if sink is not None:
                sink.close()
        self._items_sink = self._concepts_sink = None
        if not self._id_hashes:
            return
        if self._items_written != self.n:
            raise InvalidDataError(f"items: {self._items_written} item rows for {self.n} vectors; they must match")
        ids = None

        def ids_of(rows: np.ndarray) -> np.ndarray:
            nonlocal ids
            if ids is None:  # only when two hashes collide: read the id column back once
                ids = pq.read_table(self.tmp / "items.parquet", columns=["id"]).column("id")
            return ids.take(rows).to_numpy(zero_copy_only=False)

        pair = first_duplicate(np.concatenate(self._id_hashes), ids_of)
        if pair is not None:
            raise duplicate_error("items", str(ids_of(np.array([pair[0]]))[0]), (locate(pair[0]), locate(pair[1])))

    def finish(
        self, projection: Projection | None = None, locate: Callable[[int], str] = lambda row: f"row {row}"
    ) -> Dataset:
        """Write the tables and dataset.json, then rename the directory into place.

        `projection` is the map the appended blocks went through (fitted once writing had begun,
        so bad tables fail before the fit); it is kept so queries can follow the same path.
        """
        if self.written != self.n:
            raise InvalidDataError(f"{self.source_label}: {self.written} of the announced {self.n} rows were written")
        self._close_streams(locate)
        if projection is not None:
            if projection.dim != self.dim:
                raise InvalidDataError(
                    f"{self.source_label}: projection gives dimension {projection.dim}, not {self.dim}"
                )
            projection.save(self.tmp / PROJECTION_FILE)
            self.info = replace(self.info, projection=projection.describe())
        self._file.close()
        record_check(self.tmp / "embeddings.npy", (*SCANS, "unit"))  # every row was checked while normalising
        if self.items is not None:
            self.items.to_parquet(self.tmp / "items.parquet", index=False, row_group_size=ITEM_GROUP_ROWS)
        if self.concepts is not None:
            self.concepts.to_parquet(self.tmp / "concepts.parquet", index=False)
        for table_name, table in self.tables.items():
            table.to_parquet(self.tmp / f"{table_name}.parquet", index=False)
        (self.tmp / "dataset.json").write_text(json.dumps(asdict(self.info), indent=2) + "\n")
        (self.tmp / "index").mkdir()
        fsync_tree(self.tmp)  # every file on disk before the rename makes the dataset visible
        (self.tmp / RESUME_FILE).unlink(missing_ok=True)  # last: a kill before the rename still resumes
        self.tmp.rename(self.out)
        fsync_directory(self.out.parent)
        return Dataset.open(self.out)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()
        for sink in (self._items_sink, self._concepts_sink):
            if sink is not None:
                sink.close()
        if self.tmp.exists() and not self.resumable:  # finish renames it away; anything else is an abandoned write
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
    media_root: str | None = None,
    embedder_weights: str | None = None,
) -> Dataset:
    """Validate, L2-normalise and write a dataset directory; all or nothing (see `DatasetWriter`).

    `embeddings` may be a memory-mapped array: it is read in chunks.
    """
    check_matrix_shape(embeddings, source_label)
    n, dim = (int(s) for s in embeddings.shape)
    target_dtype = dtype or ("float16" if embeddings.dtype == np.float16 else "float32")
    with DatasetWriter(
        out, n, dim, name=name, embedder=embedder, items=items, concepts=concepts, dtype=target_dtype,
        source_label=source_label, media_root=media_root, embedder_weights=embedder_weights,
    ) as writer:  # fmt: skip
        for start in range(0, n, CHUNK_ROWS):
            writer.append(embeddings[start : start + CHUNK_ROWS])
            if progress:
                progress(writer.written, n)
        return writer.finish()
