"""Item id -> dataset row at any size: hashed ids, sorted, memory-mapped beside items.parquet.

Labels arrive by item id. A pandas Index of every id costs ~70 bytes an id (a Python string each
and a hash table): ~7 GB at 10^8 items, which put `seals serve` over this box's 24 GB
(bench/RESULTS.md, "10^8: the labeler's waits, measured"). Here each id becomes a 64-bit hash
(pandas' vectorised SipHash, `pd.util.hash_array`: ~0.14 s per 10^6 ids), sorted, beside its row:
12 bytes an id on disk, memory-mapped, so a lookup binary-searches ~log2(N) pages and the
resident cost is what the OS chooses to keep cached. Built at 10^8 by `seals project init` in 53 s
(3.5 GB peak RSS).

A hash match alone is never trusted: the id stored at the matched row is read back and compared,
so a collision (~N^2/2^65 pairs: 3·10^-4 expected at 10^8) can never label the wrong item, and
every row sharing a hash is tried. The same comparison finds duplicated ids while building.

Files beside items.parquet: `items.ids.hash.npy` (sorted uint64), `items.ids.row.npy` (the row of
each; uint32 below 2^32 rows) and `items.ids.json` (the size and mtime of the items.parquet they
were built from, and the hash of a probe string, which changes if pandas' hash ever does). The
json is written last, atomically: a map without a json matching the current file is rebuilt. A
dataset directory that cannot be written keeps the map in memory instead (still 12 bytes an id).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress, atomic_write, write_text_atomic
from sealsearch.errors import InvalidDataError

IdsAt = Callable[[np.ndarray], np.ndarray]
"""The ids (str) stored at some rows, in their order: how a hash match is checked."""

FORMAT = 1
PROBE = "sealsearch id map probe"
BLOCK_ROWS = 1 << 20


def map_paths(items_file: Path) -> tuple[Path, Path, Path]:
    """(hashes, rows, meta json) beside an items.parquet."""
    stem = Path(items_file).with_suffix("")
    return tuple(stem.with_name(f"{stem.name}.ids.{part}") for part in ("hash.npy", "row.npy", "json"))  # type: ignore[return-value]


def _source(items_file: Path) -> dict:
    stat = items_file.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "format": FORMAT, "probe": str(hash_ids([PROBE])[0])}


def hash_ids(ids: pd.Series | np.ndarray) -> np.ndarray:
    """64-bit hashes of string ids: 8 bytes per item, so 10^7 ids are checked for duplicates in 80 MB."""
    return pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)


def first_duplicate(hashes: np.ndarray, ids_of: Callable[[np.ndarray], np.ndarray]) -> tuple[int, int] | None:
    """The first pair of rows (by the later row) whose ids are equal, or None.

    Equal hashes are only candidates: `ids_of(rows)` fetches their ids to compare, so a hash
    collision never refuses good data.
    """
    order = np.argsort(hashes, kind="stable")
    return first_duplicate_sorted(hashes[order], order, ids_of)


def first_duplicate_sorted(
    ordered: np.ndarray, order: np.ndarray, ids_of: Callable[[np.ndarray], np.ndarray]
) -> tuple[int, int] | None:
    """`first_duplicate` of hashes already sorted (`ordered`, with `order` their rows). Every row
    of a run of equal hashes is compared with every other (not only its neighbour in the run:
    ids a, b, a sharing one hash would hide the pair of a's)."""
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if not same.size:
        return None
    suspects = np.unique(np.asarray(order[np.union1d(same, same + 1)], dtype=np.int64))  # rows, sorted
    ids = pd.Series(np.asarray(ids_of(suspects), dtype=object))
    repeats = np.flatnonzero(ids.duplicated(keep="first").to_numpy())
    if not repeats.size:
        return None
    second = int(repeats[0])  # the earliest row repeating an earlier id, and that id's first row
    first = int(np.flatnonzero((ids == ids.iloc[second]).to_numpy())[0])
    return int(suspects[first]), int(suspects[second])


class IdMap:
    """Sorted id hashes and their rows; `rows_of` answers -1 for an id that is not an item."""

    def __init__(self, hashes: np.ndarray, rows: np.ndarray, ids_at: IdsAt):
        self.hashes, self.rows, self._ids_at = hashes, rows, ids_at

    def __len__(self) -> int:
        return int(self.hashes.shape[0])

    @classmethod
    def open(cls, items_file: Path, ids_at: IdsAt, progress: Progress | None = None, save: bool = True) -> IdMap:
        """The map of `items_file`, built (and saved when `save` and the directory is writable)
        unless a saved one matches the file; a duplicated id is an InvalidDataError naming it and
        its rows. `seals doctor` passes save=False: it writes nothing."""
        items_file = Path(items_file)
        hash_file, row_file, meta_file = map_paths(items_file)
        try:
            fresh = json.loads(meta_file.read_text()) == _source(items_file)
        except (OSError, ValueError):
            fresh = False
        if fresh:
            try:
                return cls(np.load(hash_file, mmap_mode="r"), np.load(row_file, mmap_mode="r"), ids_at)
            except (OSError, ValueError):
                pass  # a file deleted or damaged behind the json: rebuild below
        hashes, rows = _build(items_file, ids_at, progress)
        if not save:
            return cls(hashes, rows, ids_at)
        try:
            for path, array in ((hash_file, hashes), (row_file, rows)):
                with atomic_write(path) as tmp, open(tmp, "wb") as out:
                    np.save(out, array)
            write_text_atomic(meta_file, json.dumps(_source(items_file)) + "\n")
        except OSError:
            pass  # a read-only dataset directory: the map stays in memory for this process
        return cls(hashes, rows, ids_at)

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each id (int64), -1 where no item has that id."""
        asked = np.asarray([str(i) for i in ids], dtype=object)
        found = np.full(asked.size, -1, dtype=np.int64)
        if asked.size == 0 or len(self) == 0:
            return found
        wanted = hash_ids(asked)
        first = np.searchsorted(self.hashes, wanted, side="left")
        last = np.searchsorted(self.hashes, wanted, side="right")
        spans = last - first  # rows sharing each hash: 0 (unknown), 1, or more on a collision
        if not spans.any():
            return found
        which = np.repeat(np.arange(asked.size), spans)
        slots = np.concatenate([np.arange(a, b) for a, b in zip(first[spans > 0], last[spans > 0], strict=True)])
        candidates = np.asarray(self.rows[slots], dtype=np.int64)
        same = np.asarray(self._ids_at(candidates), dtype=object) == asked[which]
        found[which[same]] = candidates[same]
        return found


def _build(items_file: Path, ids_at: IdsAt, progress: Progress | None) -> tuple[np.ndarray, np.ndarray]:
    """Hash the id column block by block (never all ids as Python strings at once), sort, and
    check every run of equal hashes for a duplicated id."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(items_file)
    n = parquet.metadata.num_rows
    hashes = np.empty(n, dtype=np.uint64)
    done = 0
    for batch in parquet.iter_batches(columns=["id"], batch_size=BLOCK_ROWS):
        ids = batch.column(0).cast(pa.large_string()).to_numpy(zero_copy_only=False)
        hashes[done : done + ids.size] = hash_ids(ids)
        done += ids.size
        if progress:
            progress(done, n)
    order = np.argsort(hashes, kind="stable")
    hashes = hashes[order]
    rows = order.astype(np.uint32 if n < 2**32 else np.int64)
    del order
    _refuse_duplicates(items_file, hashes, rows, ids_at)
    return hashes, rows


def _refuse_duplicates(items_file: Path, hashes: np.ndarray, rows: np.ndarray, ids_at: IdsAt) -> None:
    pair = first_duplicate_sorted(hashes, rows, ids_at)
    if pair is not None:
        a, b = pair
        raise InvalidDataError(
            f"{items_file}: id {ids_at(np.array([a]))[0]!r} appears twice (row {a} and row {b}); ids must be unique: "
            "fix the table, or re-import the dataset"
        )
