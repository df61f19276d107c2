"""Vectors on disk: `EmbeddingStore` and the one copy of the checks every embedding matrix passes.

Everything downstream (index, pool, loop) reads vectors through `EmbeddingStore`, which keeps
the N×d matrix memory-mapped so a 10M-row pool never has to fit in RAM; only the rows a round
touches are copied out.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
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
FINGERPRINT_ROWS = 1000
"""Rows hashed into a fingerprint: 1,000 scattered reads took 24 ms (page cache warm) and 30 ms (file
evicted) at 10^7 x 256, 10 GB (bench/freshness_cost.py, 2 busy cores)."""


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


UNIT_TOLERANCE = {2: 1e-2, 4: 1e-3, 8: 1e-3}
"""How far from 1 a stored row's length may be, by bytes per value: float16 rows carry ~5e-4 of
rounding error, float32 rows ~1e-7 (anything beyond was changed after import)."""

SCANS = ("finite", "nonzero")
"""What a value scan of embeddings.npy checks; `+ ("unit",)` when dataset.json says normalised."""


def row_norms(block: np.ndarray, *, for_division: bool = False) -> np.ndarray:
    """L2 norms (float64) of the rows of a float block, without under- or overflow; NaN or inf
    exactly for the rows that hold a NaN or an inf, so this one pass also finds those.

    float32 squares lose rows whose values are below ~1e-19 (the norm underflows to 0) or above
    ~1e19 (it overflows to inf); those few rows are measured again in float64, scaled by their
    largest value, so only an all-zero row has norm 0. `for_division`: the float32 norms are
    np.linalg.norm's, bit for bit.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: measured again below
        block32 = np.asarray(block, dtype=np.float32)
        if for_division:  # the summation imports have always divided by: a written file's bytes never change
            norms = np.linalg.norm(block32, axis=1).astype(np.float64)
        else:  # a check within a tolerance: einsum reads the block once, without a squared copy (2-3x faster)
            norms = np.sqrt(np.einsum("ij,ij->i", block32, block32)).astype(np.float64)
        odd = np.flatnonzero(~((norms > 1e-18) & (norms < 1e18)))  # NaN fails both: measured again too
        if odd.size:
            rows = np.asarray(block[odd], dtype=np.float64)
            scale = np.abs(rows).max(axis=1)  # NaN or inf for a row holding one
            safe = np.where(scale > 0, scale, 1.0)
            norms[odd] = scale * np.linalg.norm(rows / safe[:, None], axis=1)
    return norms


def _first_bad_norm(norms: np.ndarray) -> int | None:
    bad = ~np.isfinite(norms)
    return int(np.argmax(bad)) if bad.any() else None


def checked_norms(
    block: np.ndarray, first_row: int, label: str, remedy: str, *, for_division: bool = False
) -> np.ndarray:
    """`row_norms` of a block, refusing its first NaN/inf or all-zero row (named by `first_row` +
    its position): the one copy of these two refusals, for imports, queries and stored files."""
    norms = row_norms(block, for_division=for_division)
    bad = _first_bad_norm(norms)
    if bad is not None:
        raise InvalidDataError(f"{label}: row {first_row + bad} contains NaN or inf; {remedy}")
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InvalidDataError(
            f"{label}: row {first_row + int(zero[0])} is an all-zero vector and cannot be L2-normalised; {remedy}"
        )
    return norms


def _scan_block(block: np.ndarray, start: int, source: str, unit: bool) -> None:
    """Refuse the first NaN/inf, all-zero or (when `unit`) not-unit-length row of a block, in one
    pass over its values (`row_norms`)."""
    norms = checked_norms(block, start, source, "fix or drop that row and import again")
    if unit:
        off = np.flatnonzero(np.abs(norms - 1.0) > UNIT_TOLERANCE.get(block.dtype.itemsize, 1e-3))
        if off.size:
            row = int(off[0])
            raise InvalidDataError(
                f"{source}: row {start + row} has length {norms[row]:.6g}, but dataset.json says rows are unit length "
                "(normalized: true), so the file changed after import; re-import the dataset"
            )


def check_embedding_matrix(
    matrix: np.ndarray, source: str, progress: Progress | None = None, *, unit: bool = False
) -> None:
    """Refuse anything that is not a finite 2-D float matrix without zero rows (of unit rows
    when `unit`), naming the first bad row.

    Runs in chunks so a memory-mapped matrix is scanned without being copied whole: one pass
    that reads each value once (the norms come from the same block as the NaN test).
    """
    check_matrix_shape(matrix, source)
    n = matrix.shape[0]
    for start in range(0, n, CHUNK_ROWS):
        _scan_block(np.asarray(matrix[start : start + CHUNK_ROWS]), start, source, unit)
        if progress:
            progress(min(start + CHUNK_ROWS, n), n)


def _check_marker(path: Path) -> Path:
    return path.with_name(f"{path.name}.checked.json")


def _file_identity(path: Path) -> dict[str, int]:
    """Size, mtime and ctime: an in-place edit whose mtime was restored (os.utime) still changes
    the ctime, which no user call can set, so the file is scanned again."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns}


def _check_recorded(path: Path, scans: tuple[str, ...]) -> bool:
    """Whether this version of the file passed `scans` (a marker of an older sealsearch, which
    names no scans, covers only NaN/inf: the file is scanned again once)."""
    try:
        marker = json.loads(_check_marker(path).read_text())
        identity = {key: marker.get(key) for key in ("size", "mtime_ns", "ctime_ns")}
        return identity == _file_identity(path) and set(scans) <= set(marker.get("scans", ()))
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def record_check(path: Path, scans: tuple[str, ...] = SCANS) -> None:
    """Remember that this version of the file passed `scans`."""
    with contextlib.suppress(OSError):  # a read-only dataset is simply scanned again next time
        _check_marker(path).write_text(json.dumps({**_file_identity(path), "scans": list(scans)}) + "\n")


def verify_values(path: Path, vectors: np.ndarray, *, unit: bool = False, progress: Progress | None = None) -> None:
    """`check_embedding_matrix` of the file's matrix, skipped when this version of the file
    already passed the same scans (see `EmbeddingStore.open`)."""
    scans = SCANS + ("unit",) if unit else SCANS
    if not _check_recorded(path, scans):
        check_embedding_matrix(vectors, str(path), progress, unit=unit)
        record_check(path, scans)


class EmbeddingStore:
    """Unit-norm N×d vectors (float32 or float16), usually memory-mapped from `embeddings.npy`.

    Cosine similarity equals the inner product because every row is L2-normalised on import.
    """

    def __init__(self, vectors: np.ndarray):
        if vectors.ndim != 2:
            raise InvalidDataError(f"embeddings must be 2-D, got shape {vectors.shape}")
        self.vectors = vectors

    @classmethod
    def open(cls, path: str | Path, verify: bool = True, *, unit: bool = False) -> EmbeddingStore:
        """Memory-map `path`; with verify, refuse NaN/inf and all-zero rows (and, with `unit`, rows
        whose length is not 1), naming the first.

        The value scan is a full pass over the file, so its success is remembered in a small
        `<file>.checked.json` keyed by the file's size, modification and change (inode) times and
        the scans passed: a 10M-row store is scanned once, not on every open, and any later change
        to the file (even one that restores the mtime) triggers a new scan.
        """
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"{path}: embeddings file not found; run `seals import` to create a dataset")
        try:
            vectors = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError) as exc:  # a zero-byte file raises EOFError
            raise InvalidDataError(f"{path}: not a readable .npy matrix ({exc})") from None
        if verify:
            verify_values(path, vectors, unit=unit)
        return cls(vectors)

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @functools.cached_property
    def fingerprint(self) -> dict[str, object]:
        """What the vectors are, cheaply: n, dim, dtype and a sha256 of `FINGERPRINT_ROWS` seeded
        rows (`sampled_digest`). What is built from the vectors (an index, a kNN graph, SQ8 codes)
        records it and is stale when it changes: re-embedding, re-importing or shuffling the rows
        changes nearly every sampled row. A full hash would read all 10 GB of a 10^7 x 256 file
        on every open; the price of the sample is that an edit of a few unsampled rows goes
        unnoticed here (the value scan still sees NaN, zero and non-unit rows)."""
        n, dim = self.n, self.dim
        return {"n": n, "dim": dim, "dtype": str(self.vectors.dtype), "sha256": sampled_digest(self).hexdigest()}

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


def fingerprint_rows(n: int) -> np.ndarray:
    """The sorted rows a fingerprint hashes: `FINGERPRINT_ROWS` drawn with seed 0 (all when fewer).

    The same draw as projects have recorded since their first version, so their fingerprints stay
    valid."""
    return np.sort(np.random.default_rng(0).choice(n, size=min(FINGERPRINT_ROWS, n), replace=False))


def sampled_digest(store: EmbeddingStore) -> hashlib._Hash:
    """sha256 over the float32 bytes of the store's `fingerprint_rows` (a caller may add more)."""
    rows = fingerprint_rows(store.n)
    return hashlib.sha256(np.ascontiguousarray(store.gather(rows), dtype=np.float32).tobytes())


def normalise_rows(
    block: np.ndarray, first_row: int, label: str, remedy: str = "fix or drop that row and import again"
) -> np.ndarray:
    """float32 unit rows; NaN/inf or all-zero rows are refused, named by `first_row` + their position.

    The one copy of "unit float32 rows" for imported rows, projected queries and index queries
    alike; `remedy` says what the caller's user should do about a bad row. Rows too small or too
    large for float32 squares (|values| below ~1e-19 or above ~1e19, or beyond float32 itself in
    a float64 input) are normalised in float64 from their own values: only a row of zeros is
    refused as all-zero."""
    source = np.asarray(block)
    norms = checked_norms(source, first_row, label, remedy, for_division=True)
    if np.all((norms > 1e-18) & (norms < 1e18)):  # every row fits float32 arithmetic: the fast path
        block = np.asarray(source, dtype=np.float32)
        return block / norms.astype(np.float32)[:, None]
    scale = np.abs(source).max(axis=1).astype(np.float64)
    return ((np.asarray(source, dtype=np.float64) / scale[:, None]) / (norms / scale)[:, None]).astype(np.float32)
