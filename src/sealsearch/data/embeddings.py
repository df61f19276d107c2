"""Vectors on disk: `EmbeddingStore` and the one copy of the checks every embedding matrix passes.

Everything downstream (index, pool, loop) reads vectors through `EmbeddingStore`, which keeps
the N×d matrix memory-mapped so a 10M-row pool never has to fit in RAM; only the rows a round
touches are copied out.
"""

from __future__ import annotations

import contextlib
import functools
import json
import mmap
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sealsearch._util import Progress
from sealsearch.errors import InvalidDataError, MissingFileError

CHUNK_ROWS = 65_536


def _first_bad_row(chunk: np.ndarray) -> int | None:
    bad = ~np.isfinite(chunk).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def check_matrix_shape(matrix: np.ndarray, source: str) -> None:
    """Refuse anything that is not a non-empty 2-D float matrix (the one copy of these checks)."""
    if getattr(matrix, "ndim", None) != 2:
        shape = getattr(matrix, "shape", None)
        raise InvalidDataError(
            f"{source}: embeddings must be a 2-D N×d matrix, got shape {shape}; reshape to (n_items, dim)"
        )
    if not np.issubdtype(matrix.dtype, np.floating):
        raise InvalidDataError(
            f"{source}: embeddings must be float16/float32/float64, got {matrix.dtype}; cast before import"
        )
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InvalidDataError(f"{source}: embeddings are empty (shape {matrix.shape})")


def check_embedding_matrix(matrix: np.ndarray, source: str, progress: Progress | None = None) -> None:
    """Refuse anything that is not a finite 2-D float matrix, naming the first bad row.

    Runs in chunks so a memory-mapped matrix is scanned without being copied whole.
    """
    check_matrix_shape(matrix, source)
    n = matrix.shape[0]
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
    """Size, mtime and ctime: an in-place edit whose mtime was restored (os.utime) still changes
    the ctime, which no user call can set, so the file is scanned again."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns}


def _check_recorded(path: Path) -> bool:
    try:
        return json.loads(_check_marker(path).read_text()) == _file_identity(path)
    except (OSError, ValueError):
        return False


def record_check(path: Path) -> None:
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
        `<file>.checked.json` keyed by the file's size, modification and change (inode) times: a
        10M-row store is scanned once, not on every open, and any later change to the file (even
        one that restores the mtime) triggers a new scan.
        """
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"{path}: embeddings file not found; run `seals import` to create a dataset")
        try:
            vectors = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError) as exc:  # a zero-byte file raises EOFError
            raise InvalidDataError(f"{path}: not a readable .npy matrix ({exc})") from None
        if verify and not _check_recorded(path):
            check_embedding_matrix(vectors, str(path))
            record_check(path)
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
        """Like `take`, for a few scattered rows out of many (re-ranking, rows joining a pool,
        labeled rows, recall checks).

        Every row's bytes are first announced to the kernel (`posix_fadvise(WILLNEED)`, which
        starts the reads and returns), so the disk serves them all at once instead of one page
        fault after another; they are then read through a second mapping of the file advised
        MADV_RANDOM, so no fault adds ~128 KB of readahead: on a cold file this is two orders
        of magnitude faster than `take` (measured: bench/RESULTS.md, "Moved from docstrings").
        `take` and `chunks` keep the readahead, without which a forward pass is several times
        slower. Both mappings share the page cache.
        """
        rows = np.asarray(rows, dtype=np.int64)
        self._announce(rows)
        return np.ascontiguousarray(self._scattered[rows], dtype=np.float32)

    def _announce(self, rows: np.ndarray) -> None:
        fd = self._fd
        if fd is None or rows.size == 0:
            return
        row_bytes = self.dim * self.vectors.dtype.itemsize
        starts = self.vectors.offset + np.unique(rows) * row_bytes
        pages = starts // mmap.PAGESIZE
        keep = np.r_[True, pages[1:] != pages[:-1]]  # one call per page holding a wanted row
        for start in starts[keep].tolist():
            os.posix_fadvise(fd, start, row_bytes, os.POSIX_FADV_WILLNEED)

    @functools.cached_property
    def _fd(self) -> int | None:
        vectors = self.vectors
        if not isinstance(vectors, np.memmap) or vectors.filename is None or not hasattr(os, "posix_fadvise"):
            return None
        if not vectors.flags.c_contiguous:
            return None
        fd = os.open(vectors.filename, os.O_RDONLY)
        weakref.finalize(self, os.close, fd)
        return fd

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


def normalise_rows(
    block: np.ndarray, first_row: int, label: str, remedy: str = "fix or drop that row and import again"
) -> np.ndarray:
    """float32 unit rows; NaN/inf or all-zero rows are refused, named by `first_row` + their position.

    The one copy of "unit float32 rows" for imported rows, projected queries and index queries
    alike; `remedy` says what the caller's user should do about a bad row."""
    block = np.asarray(block, dtype=np.float32)
    bad = _first_bad_row(block)
    if bad is not None:
        raise InvalidDataError(f"{label}: row {first_row + bad} contains NaN or inf; {remedy}")
    norms = np.linalg.norm(block, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InvalidDataError(
            f"{label}: row {first_row + int(zero[0])} is an all-zero vector and cannot be L2-normalised; {remedy}"
        )
    return block / norms[:, None]
