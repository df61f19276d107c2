"""The dataset directory: embeddings on disk, optional item metadata and ground-truth concepts.

Everything downstream (index, pool, loop) reads vectors through `EmbeddingStore`, which keeps
the N×d matrix memory-mapped so a 10M-row pool never has to fit in RAM; only the rows a round
touches are copied out. Writing goes through `DatasetWriter` (blocks appended in order; used by
`write_dataset` and by generators that never hold the whole matrix), which validates and
L2-normalises into a temporary directory and renames it at the end, so a bad input leaves nothing
half-written behind.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import mmap
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sealsearch.errors import (
    InvalidDataError,
    InvalidParameterError,
    MissingFileError,
    UnknownNameError,
)
from sealsearch.projection import PCA_SAMPLE_ROWS, PROJECTION_FILE, Projection, check_pca_parameters, fit_projection

FORMAT_VERSION = 1
CHUNK_ROWS = 65_536
SPLITS = ("pool", "test")

Progress = Callable[[int, int], None]
"""Called as progress(done, total) by long operations; the CLI turns it into a bar."""


@dataclass(frozen=True)
class DatasetInfo:
    """The content of `dataset.json`."""

    name: str
    n: int
    dim: int
    dtype: str
    normalized: bool
    embedder: str
    format_version: int = FORMAT_VERSION
    projection: dict[str, Any] | None = None  # set by `import --pca` (see projection.py)


def _first_bad_row(chunk: np.ndarray) -> int | None:
    bad = ~np.isfinite(chunk).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def check_embedding_matrix(matrix: np.ndarray, source: str, progress: Progress | None = None) -> None:
    """Refuse anything that is not a finite 2-D float matrix, naming the first bad row.

    Runs in chunks so a memory-mapped matrix is scanned without being copied whole.
    """
    if matrix.ndim != 2:
        raise InvalidDataError(
            f"{source}: embeddings must be a 2-D N×d matrix, got shape {matrix.shape}; reshape to (n_items, dim)"
        )
    if not np.issubdtype(matrix.dtype, np.floating):
        raise InvalidDataError(
            f"{source}: embeddings must be float16/float32/float64, got {matrix.dtype}; cast before import"
        )
    n, dim = matrix.shape
    if n == 0 or dim == 0:
        raise InvalidDataError(f"{source}: embeddings are empty (shape {matrix.shape})")
    for start in range(0, n, CHUNK_ROWS):
        bad = _first_bad_row(np.asarray(matrix[start : start + CHUNK_ROWS]))
        if bad is not None:
            raise InvalidDataError(
                f"{source}: row {start + bad} contains NaN or inf; fix or drop that row and import again"
            )
        if progress:
            progress(min(start + CHUNK_ROWS, n), n)


def _check_marker(path: Path) -> Path:
    return path.with_name(f"{path.name}.checked.json")


def _file_identity(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _check_recorded(path: Path) -> bool:
    try:
        return json.loads(_check_marker(path).read_text()) == _file_identity(path)
    except (OSError, ValueError):
        return False


def _record_check(path: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only dataset is simply scanned again next time
        _check_marker(path).write_text(json.dumps(_file_identity(path)) + "\n")


class EmbeddingStore:
    """Unit-norm N×d vectors (float32 or float16), usually memory-mapped from `embeddings.npy`.

    Cosine similarity equals the inner product because every row is L2-normalised on import.
    """

    def __init__(self, vectors: np.ndarray):
        if vectors.ndim != 2:
            raise InvalidDataError(f"embeddings must be 2-D, got shape {vectors.shape}")
        self.vectors = vectors

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> EmbeddingStore:
        """Memory-map `path`; with verify, refuse NaN/inf rows (naming the first).

        The value scan is a full pass over the file, so its success is remembered in a small
        `<file>.checked.json` keyed by the file's size and modification time: a 10M-row store is
        scanned once, not on every open, and any later change to the file triggers a new scan.
        """
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"{path}: embeddings file not found; run `seals import` to create a dataset")
        try:
            vectors = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise InvalidDataError(f"{path}: not a readable .npy matrix ({exc})") from None
        if verify and not _check_recorded(path):
            check_embedding_matrix(vectors, str(path))
            _record_check(path)
        return cls(vectors)

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows as a contiguous float32 array (the form Faiss and sklearn want)."""
        rows = np.asarray(rows, dtype=np.int64)
        return np.ascontiguousarray(self.vectors[rows], dtype=np.float32)

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """Like `take`, for a few scattered rows out of many (re-ranking, recall checks).

        They are read through a second mapping of the file advised MADV_RANDOM, so a page fault
        reads the one page it needs instead of ~128 KB of readahead: 10k random rows out of a
        10^7 x 256 file took 0.65 s instead of 8.8 s from disk. `take` and `chunks` keep the
        readahead, without which a forward pass is ~7x slower. Both mappings share the page cache.
        """
        rows = np.asarray(rows, dtype=np.int64)
        return np.ascontiguousarray(self._scattered[rows], dtype=np.float32)

    @functools.cached_property
    def _scattered(self) -> np.ndarray:
        vectors = self.vectors
        if not isinstance(vectors, np.memmap) or vectors.filename is None or not hasattr(mmap, "MADV_RANDOM"):
            return vectors
        with open(vectors.filename, "rb") as file:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        mapped.madvise(mmap.MADV_RANDOM)
        order = "F" if vectors.flags.f_contiguous and not vectors.flags.c_contiguous else "C"
        return np.ndarray(vectors.shape, vectors.dtype, buffer=mapped, offset=vectors.offset, order=order)

    def chunks(self, rows: np.ndarray | None = None, chunk_rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        """float32 blocks of the given rows (all rows by default), in order, for linear passes."""
        total = self.n if rows is None else len(rows)
        for start in range(0, total, chunk_rows):
            if rows is None:
                yield np.ascontiguousarray(self.vectors[start : start + chunk_rows], dtype=np.float32)
            else:
                yield self.take(rows[start : start + chunk_rows])


def _normalised(block: np.ndarray, first_row: int, label: str) -> np.ndarray:
    block = np.asarray(block, dtype=np.float32)
    bad = _first_bad_row(block)
    if bad is not None:
        raise InvalidDataError(
            f"{label}: row {first_row + bad} contains NaN or inf; fix or drop that row and import again"
        )
    norms = np.linalg.norm(block, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InvalidDataError(
            f"{label}: row {first_row + int(zero[0])} is an all-zero vector and cannot be L2-normalised; drop it"
        )
    return block / norms[:, None]


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
            embedder=embedder,
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
        self._target[self.written : end] = _normalised(block, self.written, self.source_label)
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
        _record_check(self.tmp / "embeddings.npy")  # every value was checked while normalising
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
    _check_float_matrix(embeddings, source_label)
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


def _check_float_matrix(embeddings: np.ndarray, source_label: str) -> None:
    if getattr(embeddings, "ndim", None) != 2:
        shape = getattr(embeddings, "shape", None)
        raise InvalidDataError(
            f"{source_label}: embeddings must be a 2-D N×d matrix, got shape {shape}; reshape to (n_items, dim)"
        )
    if not np.issubdtype(embeddings.dtype, np.floating):
        raise InvalidDataError(
            f"{source_label}: embeddings must be float16/float32/float64, got {embeddings.dtype}; cast before import"
        )


class Dataset:
    """An opened dataset directory (see the README for the layout)."""

    def __init__(self, path: Path, info: DatasetInfo, embeddings: EmbeddingStore, projection: Projection | None = None):
        self.path = path
        self.info = info
        self.embeddings = embeddings
        self.projection = projection
        self._items: pd.DataFrame | None = None
        self._concept_rows: dict[str, np.ndarray] | None = None
        self._split_codes: np.ndarray | None = None
        self._split_rows: dict[str, np.ndarray] = {}

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> Dataset:
        """Open a dataset directory: shape and dtype are checked against dataset.json, and values
        (NaN/inf) once per version of embeddings.npy (see `EmbeddingStore.open`)."""
        path = Path(path)
        meta = path / "dataset.json"
        if not meta.is_file():
            raise MissingFileError(
                f"{meta}: not found; {path} is not a dataset directory (create one with `seals import` "
                "or `seals dataset wordnet`)"
            )
        try:
            raw = json.loads(meta.read_text())
            info = DatasetInfo(**raw)
        except (json.JSONDecodeError, TypeError) as exc:
            raise InvalidDataError(f"{meta}: unreadable dataset description ({exc})") from None
        store = EmbeddingStore.open(path / "embeddings.npy", verify=verify)
        if (store.n, store.dim) != (info.n, info.dim):
            raise InvalidDataError(
                f"{path / 'embeddings.npy'}: shape {(store.n, store.dim)} does not match dataset.json "
                f"(n={info.n}, dim={info.dim}); re-import the dataset"
            )
        projection = None
        if info.projection is not None:
            projection = Projection.load(path / PROJECTION_FILE)
            if projection.dim != info.dim:
                raise InvalidDataError(
                    f"{path / PROJECTION_FILE}: projects to dimension {projection.dim} but dataset.json says "
                    f"{info.dim}; re-import the dataset"
                )
        return cls(path, info, store, projection)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors from the embedder (one, or m×d) as unit float32 vectors comparable with the rows.

        A dataset imported with --pca stores its rows after a PCA fitted on the source; a query
        embedded by the same model must go through that same map (then L2 normalisation) before
        any kNN search or dot product. Without a projection this only normalises.
        """
        vectors = np.asarray(vectors)
        batch = vectors[None] if vectors.ndim == 1 else vectors
        expected = self.info.dim if self.projection is None else self.projection.source_dim
        if batch.ndim != 2 or batch.shape[1] != expected:
            space = "its embedding dimension" if self.projection is None else "the embedder's dimension before --pca"
            raise InvalidDataError(
                f"query vectors of shape {vectors.shape} do not fit {self.path}: expected {expected} values per "
                f"vector ({space}); embed them with {self.info.embedder}"
            )
        if self.projection is not None:
            batch = self.projection.apply(batch)
        unit = _normalised(batch, 0, "query vectors")
        return unit[0] if vectors.ndim == 1 else unit

    @property
    def index_dir(self) -> Path:
        return self.path / "index"

    @property
    def items(self) -> pd.DataFrame:
        """Item metadata; a minimal table (row, id, split='pool') when items.parquet is absent."""
        if self._items is None:
            file = self.path / "items.parquet"
            if file.is_file():
                self._items = pd.read_parquet(file)
            else:
                rows = np.arange(self.info.n, dtype=np.int64)
                self._items = pd.DataFrame({"row": rows, "id": rows.astype(str), "split": "pool"})
        return self._items

    def items_at(self, rows: np.ndarray, columns: tuple[str, ...] = ("id", "text")) -> pd.DataFrame:
        """The given columns (those present) of some items, in the order of `rows`.

        Reads only the parquet row groups holding those rows (items.parquet is written in row
        order), so a few rows of a 10^7-item table with long texts cost a group at a time.
        """
        rows = np.asarray(rows, dtype=np.int64)
        file = self.path / "items.parquet"
        if self._items is not None or not file.is_file():
            table = self.items
            return table.iloc[rows][[c for c in columns if c in table.columns]].reset_index(drop=True)
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(file)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        sizes = [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)]
        starts = np.concatenate([[0], np.cumsum(sizes)])
        group_of = np.searchsorted(starts, rows, side="right") - 1
        out = pd.DataFrame(index=np.arange(rows.size), columns=present, dtype=object)
        for group in np.unique(group_of):
            where = np.flatnonzero(group_of == group)
            part = parquet.read_row_group(int(group), columns=present).take(rows[where] - starts[group])
            out.loc[where, present] = part.to_pandas()[present].to_numpy()
        return out

    def _split_of_row(self) -> np.ndarray:
        # One byte per row, computed once: comparing 10M strings costs about a second per call.
        # Read as a dictionary column when the item table is not loaded: its ids as Python
        # strings would take ~1 GB of memory at 10^7 items.
        if self._split_codes is None:
            file = self.path / "items.parquet"
            if self._items is None and file.is_file():
                import pyarrow.parquet as pq

                split = pq.read_table(file, columns=["split"], read_dictionary=["split"]).column(0)
                self._split_codes = np.concatenate(
                    [np.empty(0, dtype=np.int8)]
                    + [
                        (np.asarray(chunk.dictionary.to_pylist()) == "test").astype(np.int8)[chunk.indices.to_numpy()]
                        for chunk in split.chunks
                    ]
                )
            else:
                self._split_codes = (self.items["split"].to_numpy() == "test").astype(np.int8)
        return self._split_codes

    def split_rows(self, split: str) -> np.ndarray:
        """Sorted rows of one split ("pool" is what active learning draws from, "test" scores AP)."""
        if split not in SPLITS:
            raise UnknownNameError(f"split must be one of {SPLITS}, got {split!r}")
        if split not in self._split_rows:
            rows = np.flatnonzero(self._split_of_row() == SPLITS.index(split)).astype(np.int64)
            rows.flags.writeable = False  # shared by every caller
            self._split_rows[split] = rows
        return self._split_rows[split]

    def rows_in_split(self, rows: np.ndarray, split: str) -> np.ndarray:
        """The given rows that belong to the split, in O(len(rows)) whatever the dataset size."""
        if split not in SPLITS:
            raise UnknownNameError(f"split must be one of {SPLITS}, got {split!r}")
        rows = np.asarray(rows, dtype=np.int64)
        return rows[self._split_of_row()[rows] == SPLITS.index(split)]

    def _concepts(self) -> dict[str, np.ndarray]:
        if self._concept_rows is None:
            file = self.path / "concepts.parquet"
            if not file.is_file():
                raise MissingFileError(
                    f"{file}: not found; this dataset has no ground-truth concepts (import with --labels)"
                )
            table = pd.read_parquet(file)
            self._concept_rows = {
                str(name): np.sort(group.to_numpy(dtype=np.int64))
                for name, group in table.groupby("concept", sort=True)["row"]
            }
        return self._concept_rows

    def concept_names(self) -> list[str]:
        return list(self._concepts())

    def concept_counts(self) -> pd.DataFrame:
        """Positives of every concept per split: columns concept, pool, test."""
        split_of_row = self._split_of_row()
        names = self.concept_names()
        rows = [self._concepts()[name] for name in names]
        sizes = np.fromiter((r.size for r in rows), dtype=np.int64, count=len(rows))
        in_test = split_of_row[np.concatenate(rows)] == 1 if rows else np.empty(0, dtype=bool)
        test = np.add.reduceat(in_test, np.cumsum(sizes) - sizes) if rows else np.empty(0, dtype=np.int64)
        return pd.DataFrame({"concept": names, "pool": sizes - test, "test": test})

    def concept_rows(self, concept: str) -> np.ndarray:
        """All rows (every split) that belong to the concept."""
        concepts = self._concepts()
        if concept not in concepts:
            close = difflib.get_close_matches(concept, concepts, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; list them with `seals concepts DATASET`"
            raise UnknownNameError(f"unknown concept {concept!r} in {self.path / 'concepts.parquet'}{hint}")
        return concepts[concept]


def read_embedding_source(path: str | Path) -> np.ndarray:
    """An N×d matrix from `.npy` (memory-mapped, never copied whole) or `.parquet`.

    A parquet file holds either one list/array column (one vector per row) or d numeric columns.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: embeddings file not found")
    if path.suffix == ".npy":
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise InvalidDataError(f"{path}: not a readable .npy matrix ({exc})") from None
    if path.suffix != ".parquet":
        raise InvalidDataError(f"{path}: embeddings must be a .npy or .parquet file")
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    kind = table.schema.field(0).type if table.num_columns == 1 else None
    if kind is not None and (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        column = table.column(0).combine_chunks()
        if column.null_count:
            first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise InvalidDataError(f"{path}: row {first} has no vector (null); drop it or fill it")
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        if lengths.size and (lengths != lengths[0]).any():
            first = int(np.flatnonzero(lengths != lengths[0])[0])
            raise InvalidDataError(
                f"{path}: row {first} has {lengths[first]} values but row 0 has {lengths[0]}; "
                "every vector needs the same dimension"
            )
        return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)
    frame = table.to_pandas()
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise InvalidDataError(
            f"{path}: column {non_numeric[0]!r} is not numeric; give one vector column or only numeric columns"
        )
    return frame.to_numpy()


def _read_table(path: str | Path | None, what: str) -> pd.DataFrame | None:
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: {what} file not found")
    return pd.read_parquet(path)


def import_dataset(
    out: str | Path,
    embeddings: str | Path,
    *,
    items: str | Path | None = None,
    labels: str | Path | None = None,
    name: str | None = None,
    embedder: str = "imported",
    dtype: str | None = None,
    pca: int | None = None,
    whiten: bool = False,
    pca_sample: int = PCA_SAMPLE_ROWS,
    pca_seed: int = 0,
    progress: Progress | None = None,
    fit_progress: Progress | None = None,
) -> Dataset:
    """Bring your own embeddings: validate every input first, then write the dataset directory.

    With `pca`, rows are reduced to `pca` dimensions (optionally whitened) by a PCA fitted on
    `pca_sample` seeded random rows, then L2-normalised; the map is stored with the dataset
    (see `Dataset.project`).
    """
    matrix = read_embedding_source(embeddings)
    items_table = _read_table(items, "items")
    labels_table = _read_table(labels, "labels")
    _check_float_matrix(matrix, str(embeddings))
    n, dim = (int(s) for s in matrix.shape)
    check_pca_parameters(pca, whiten=whiten, sample_size=pca_sample, n=n, dim=dim, label=str(embeddings))
    if pca is None:
        return write_dataset(
            out, matrix, name=name, embedder=embedder, items=items_table, concepts=labels_table,
            dtype=dtype, source_label=str(embeddings), progress=progress,
        )  # fmt: skip
    with DatasetWriter(
        out, n, pca, name=name, embedder=embedder, items=items_table, concepts=labels_table,
        dtype=dtype or ("float16" if matrix.dtype == np.float16 else "float32"),
        source_label=f"{embeddings} after --pca {pca}",
    ) as writer:  # fmt: skip
        projection = fit_projection(
            matrix, pca, whiten=whiten, sample_size=pca_sample, seed=pca_seed, label=str(embeddings),
            progress=fit_progress,
        )  # fmt: skip
        for block in projection.apply_in_chunks(matrix):
            writer.append(block)
            if progress:
                progress(writer.written, n)
        return writer.finish(projection)
