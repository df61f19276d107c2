"""Where imported vectors come from: Parquet tables and shards, clip-retrieval folders, `.npy` shards.

Embedding dumps rarely arrive as one matrix: vector stores export one table with `id`, `text`,
`vector` columns, Parquet datasets are folders of many files, and clip-retrieval's `inference`
writes `img_emb/img_emb_<i>.npy` next to `metadata/metadata_<i>.parquet`. `open_source` finds the
shards, their row counts (Parquet footers, `.npy` headers: nothing is read whole), the dimension
and dtype, and which column plays which role, so the writer can be sized before the first row.
`iter_blocks` then reads one shard at a time, batch by batch, yielding vectors with their rows'
metadata, so memory stays bounded by a batch whatever the total.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError

BATCH_ROWS = 65_536
ROLES = ("id", "vector", "text", "uri", "split", "label")
# Names each role is found by (case-insensitive), in order of preference.
ROLE_NAMES = {
    "id": ("id", "key", "item_id", "uid", "doc_id", "image_id"),
    "vector": ("vector", "embedding", "embeddings", "emb"),
    "text": ("text", "caption", "title", "description", "sentence"),
    "uri": ("uri", "url", "image_path", "path", "filepath", "file_name", "filename"),
    "split": ("split",),
    "label": ("concepts", "concept", "labels", "label"),
}
FLOATS = {"halffloat": np.float16, "float": np.float32, "double": np.float64}


@dataclass(frozen=True)
class Shard:
    """One file of vectors (`vectors`: a .npy, or None when they are a column of `metadata`)."""

    label: str
    rows: int
    vectors: Path | None
    metadata: Path | None


@dataclass
class Source:
    """Shards in row order, their total size, and the source column of each role (None: absent)."""

    kind: str  # "parquet", "clip-retrieval", "npy"
    shards: list[Shard]
    n: int
    dim: int
    dtype: np.dtype
    columns: dict[str, str | None] = field(default_factory=dict)
    metadata_files: list[Path] = field(default_factory=list)


def _natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def _expand(path: str | Path, what: str) -> list[Path]:
    """Files of a path: itself, the .parquet/.npy files under a folder, or a glob's matches."""
    text = str(path)
    if any(c in text for c in "*?["):
        files = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
    elif Path(text).is_dir():
        files = [p for p in Path(text).rglob("*") if p.suffix in (".parquet", ".npy") and p.is_file()]
    elif Path(text).is_file():
        files = [Path(text)]
    else:
        raise MissingFileError(f"{text}: {what} not found")
    if not files:
        raise MissingFileError(f"{text}: no .parquet or .npy files found for {what}")
    return sorted(files, key=_natural)


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a .npy header, without reading the data."""
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        reason = "empty file" if path.stat().st_size == 0 else str(exc)
        raise InvalidDataError(f"{path}: not a readable .npy matrix ({reason}); re-export that shard") from None
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.floating):
        raise InvalidDataError(f"{path}: must be a 2-D float matrix, got shape {matrix.shape} of {matrix.dtype}")
    return matrix.shape, matrix.dtype


def _parquet(path: Path):
    import pyarrow.parquet as pq

    try:  # no pre-buffering: a row group is read page by page, not whole
        return pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise InvalidDataError(f"{path}: not a readable Parquet file ({exc})") from None


def _is_vector_type(kind) -> bool:
    import pyarrow as pa

    lists = pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    return lists and (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type))


def resolve_columns(schema, label: str, overrides: dict[str, str | None], *, vectors_inside: bool) -> dict:
    """Source column per role: the override, else the column named like the role (see ROLE_NAMES).

    The id and vector columns must be unambiguous; a table without an id column uses its uri
    column (a file path names an item) or, with `overrides["id"] == ROW_IDS`, row numbers.
    """
    names = list(schema.names)
    lower = {name.lower(): name for name in names}
    columns: dict[str, str | None] = {}
    for role in ROLES:
        if role == "vector" and not vectors_inside:
            columns[role] = None
            continue
        given = overrides.get(role)
        if given is not None:
            if given == ROW_IDS and role == "id":
                columns[role] = None
                continue
            if given not in names:
                raise InvalidParameterError(f"{label}: no column {given!r} for --{role}-column; columns: {names}")
            columns[role] = given
            continue
        found = [lower[n] for n in ROLE_NAMES[role] if n in lower]
        if role == "vector":
            typed = [n for n in names if _is_vector_type(schema.field(n).type)]
            found = typed if len(typed) == 1 else [n for n in found if n in typed]
            if len(found) != 1:
                why = "no column holds a list of numbers per row" if not typed else f"candidates {typed}"
                raise InvalidDataError(
                    f"{label}: cannot tell the vector column ({why}); name it with vector_column",
                    params=["vector_column"],
                )
        elif role == "id" and len(found) > 1:
            raise InvalidDataError(
                f"{label}: ambiguous id column, candidates {found}; name one with id_column", params=["id_column"]
            )
        columns[role] = found[0] if found else None
    if columns["id"] is None and overrides.get("id") != ROW_IDS:
        if columns["uri"] is None:
            raise InvalidDataError(
                f"{label}: no id column (looked for {', '.join(ROLE_NAMES['id'])} in {names}); name one with "
                "id_column, or pass row_ids to number the items 0..N-1",
                params=["id_column", "row_ids"],
            )
        columns["id"] = columns["uri"]
    if columns.get("vector") is not None:
        value = schema.field(columns["vector"]).type
        if not _is_vector_type(value) or str(value.value_type) not in ("halffloat", "float", "double"):
            raise InvalidDataError(
                f"{label}: column {columns['vector']!r} is {value}, not a list of floats; cast it before import"
            )
    return columns


ROW_IDS = "\0row"  # overrides["id"] meaning: number the items, there is no id column


def _check_schemas(files: list[Path], columns: dict) -> None:
    """Every shard has every column the first one gave a role (footers only)."""
    wanted = [c for c in columns.values() if c is not None]
    for path in files[1:]:
        names = _parquet(path).schema_arrow.names
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InvalidDataError(f"{path}: lacks column {missing[0]!r} that {files[0].name} has; shards must match")


def _first_vector_length(path: Path, column: str) -> int:
    batch = next(_parquet(path).iter_batches(batch_size=1, columns=[column]), None)
    if batch is None or batch.num_rows == 0:
        raise InvalidDataError(f"{path}: holds no rows")
    value = batch.column(0)[0]
    if not value.is_valid:
        raise InvalidDataError(f"{path}: row 0 has no vector (null); drop it or fill it")
    return len(value)


def _parquet_source(files: list[Path], overrides: dict) -> Source:
    first = _parquet(files[0])
    columns = resolve_columns(first.schema_arrow, str(files[0]), overrides, vectors_inside=True)
    _check_schemas(files, columns)
    kind = first.schema_arrow.field(columns["vector"]).type
    dim = kind.list_size if hasattr(kind, "list_size") else _first_vector_length(files[0], columns["vector"])
    shards = [Shard(str(p), _parquet(p).metadata.num_rows, None, p) for p in files]
    n = sum(s.rows for s in shards)
    dtype = np.dtype(np.float16 if FLOATS[str(kind.value_type)] is np.float16 else np.float32)  # as on disk
    return Source("parquet", shards, n, dim, dtype, columns, files)


def _npy_source(kind: str, vectors: list[Path], metadata: list[Path], overrides: dict, pair: bool) -> Source:
    headers = [npy_header(p) for p in vectors]
    dim = headers[0][0][1]
    for path, (shape, _) in zip(vectors, headers, strict=True):
        if shape[1] != dim:
            raise InvalidDataError(f"{path}: dimension {shape[1]}, but {vectors[0]} has {dim}; shards must match")
    shards = [Shard(str(p), shape[0], p, None) for p, (shape, _) in zip(vectors, headers, strict=True)]
    n = sum(s.rows for s in shards)
    columns: dict[str, str | None] = dict.fromkeys(ROLES)
    if metadata:
        columns = resolve_columns(_parquet(metadata[0]).schema_arrow, str(metadata[0]), overrides, vectors_inside=False)
        _check_schemas(metadata, columns)
        counts = [_parquet(p).metadata.num_rows for p in metadata]
        if pair:
            for shard, path, rows in zip(shards, metadata, counts, strict=True):
                if rows != shard.rows:
                    raise InvalidDataError(
                        f"{shard.label}: {shard.rows} vectors but {path} has {rows} rows; the shard's files must match"
                    )
        elif sum(counts) != n:
            raise InvalidDataError(
                f"{metadata[0].parent}: {sum(counts)} metadata rows for {n} vectors; they must match"
            )
    dtypes = {h[1] for h in headers}
    dtype = np.dtype(np.float16) if dtypes == {np.dtype(np.float16)} else np.dtype(np.float32)
    return Source(kind, shards, n, dim, dtype, columns, metadata)


def _clip_source(folder: Path, modality: str | None, overrides: dict) -> Source:
    folders = {"image": folder / "img_emb", "text": folder / "text_emb"}
    found = {m: d for m, d in folders.items() if d.is_dir()}
    if modality is None:
        if len(found) > 1:
            raise InvalidParameterError(
                f"{folder}: holds image and text embeddings; choose modality image or text", params=["modality"]
            )
        modality = next(iter(found))
    elif modality not in ("image", "text"):
        raise InvalidParameterError(f"modality {modality!r}: choose image or text", params=["modality"])
    elif modality not in found:
        raise MissingFileError(f"{folders[modality]}: not found, so there are no {modality} embeddings to import")

    def numbered(directory: Path, suffix: str) -> dict[int, Path]:
        files = directory.glob(f"*{suffix}") if directory.is_dir() else []
        return {int(m.group(1)): p for p in files if (m := re.search(r"_(\d+)" + re.escape(suffix) + "$", p.name))}

    vectors = numbered(found[modality], ".npy")
    if not vectors:
        raise MissingFileError(f"{found[modality]}: no <name>_<number>.npy shards")
    metadata = numbered(folder / "metadata", ".parquet")
    if metadata and set(metadata) != set(vectors):
        shard = min(set(metadata) ^ set(vectors))
        where = "metadata" if shard in vectors else found[modality].name
        raise InvalidDataError(f"{folder}: shard {shard} has no file in {where}/; every shard needs both files")
    order = sorted(vectors)
    return _npy_source(
        "clip-retrieval", [vectors[i] for i in order], [metadata[i] for i in order] if metadata else [], overrides, True
    )


def open_source(
    path: str | Path, *, metadata: str | Path | None = None, modality: str | None = None, overrides: dict | None = None
) -> Source:
    """Find the shards of `path` (a file, folder or glob; see the module docstring) and their columns.

    `overrides` maps a role (id, vector, text, uri, split, label) to the column that plays it.
    """
    overrides = overrides or {}
    folder = Path(str(path))
    if folder.is_dir() and ((folder / "img_emb").is_dir() or (folder / "text_emb").is_dir()):
        if metadata is not None:
            raise InvalidParameterError(
                f"{folder}: a clip-retrieval folder brings its own metadata/; drop the metadata option",
                params=["metadata"],
            )
        return _clip_source(folder, modality, overrides)
    if modality is not None:
        raise InvalidParameterError(
            f"modality applies to clip-retrieval folders (img_emb/, text_emb/); {path} is not one", params=["modality"]
        )
    files = _expand(path, "vectors")
    suffixes = {p.suffix for p in files}
    if suffixes == {".parquet"}:
        if metadata is not None:
            raise InvalidParameterError(
                f"{path}: Parquet vectors carry their metadata; the metadata option goes with .npy shards",
                params=["metadata"],
            )
        return _parquet_source(files, overrides)
    if suffixes != {".npy"}:
        raise InvalidDataError(f"{path}: mixes {sorted(suffixes)} files; give .parquet tables or .npy shards")
    meta = _expand(metadata, "metadata") if metadata is not None else []
    if any(p.suffix != ".parquet" for p in meta):
        raise InvalidDataError(f"{metadata}: metadata must be .parquet files")
    return _npy_source("npy", files, meta, overrides, pair=len(meta) == len(files) and len(files) > 1)


def vectors_from_arrow(column, label: str, first_row: int, dim: int) -> np.ndarray:
    """An Arrow list column as an n×dim matrix of its own float dtype; null or ragged rows are named."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.null_count:
        first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise InvalidDataError(f"{label}: row {first_row + first} has no vector (null); drop it or fill it")
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(lengths != dim)
    if bad.size:
        raise InvalidDataError(
            f"{label}: row {first_row + int(bad[0])} has {lengths[bad[0]]} values but the vectors have {dim}; "
            "every vector needs the same dimension"
        )
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), dim)


class _RowStream:
    """Metadata rows of several Parquet files as one stream, taken in arbitrary counts."""

    def __init__(self, files: list[Path], columns: list[str]):
        self._batches = (b for p in files for b in _parquet(p).iter_batches(batch_size=BATCH_ROWS, columns=columns))
        self._buffer = None

    def take(self, count: int):
        import pyarrow as pa

        parts, have = [], 0
        while have < count:
            if self._buffer is None or self._buffer.num_rows == 0:
                self._buffer = next(self._batches)  # row counts were matched up front
            piece = self._buffer.slice(0, count - have)
            self._buffer = self._buffer.slice(piece.num_rows)
            parts.append(piece)
            have += piece.num_rows
        return pa.Table.from_batches(parts)


def iter_blocks(source: Source) -> Iterator[tuple[str, int, np.ndarray, object | None]]:
    """(shard label, first row in the shard, vectors, metadata) for at most BATCH_ROWS rows at a time.

    Metadata is an Arrow table whose columns are renamed to their roles (id, text, ...), or None
    when the source has none. Only one shard is open at a time.
    """
    import pyarrow as pa

    roles = [r for r in ROLES if r != "vector" and source.columns.get(r) is not None]
    wanted = [source.columns[r] for r in roles]
    distinct = list(dict.fromkeys(wanted))  # the uri column may also be the id

    def renamed(table) -> object:
        table = table if isinstance(table, pa.Table) else pa.Table.from_batches([table])
        return pa.Table.from_arrays([table.column(c) for c in wanted], names=roles)

    if source.kind == "parquet":
        vector = source.columns["vector"]
        for shard in source.shards:
            first = 0
            for batch in _parquet(shard.metadata).iter_batches(batch_size=BATCH_ROWS, columns=[vector, *distinct]):
                block = vectors_from_arrow(batch.column(vector), shard.label, first, source.dim)
                yield shard.label, first, block, renamed(batch) if roles else None
                first += batch.num_rows
        return
    stream = _RowStream(source.metadata_files, distinct) if source.metadata_files and roles else None
    for shard in source.shards:
        matrix = np.load(shard.vectors, mmap_mode="r", allow_pickle=False)
        for first in range(0, shard.rows, BATCH_ROWS):
            block = np.asarray(matrix[first : first + BATCH_ROWS])
            yield shard.label, first, block, renamed(stream.take(len(block))) if stream else None
        del matrix
