"""Row and vector hygiene for the pools and the loop, in one place (the Faiss-python habit).

Two promises rest on these helpers. Test-split rows never enter a pool or the labels: an index
must hold only pool-split rows, and a loop given its eligible rows refuses others — both checks
are a binary search over the sorted eligible rows, so they cost O(m log n) for m rows asked about,
never a pass over a 10M-row split. And information density is the exact pairwise formula: rows
of a float16 store have norms off by ~1e-3, so they are renormalised before they are summed.
"""

from __future__ import annotations

import numpy as np

from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.errors import InvalidParameterError, LabelConflictError
from sealsearch.index import KnnIndex


def sorted_unique(rows: np.ndarray) -> np.ndarray:
    """`rows` as sorted unique int64; a split's rows already are, and re-sorting 10M rows would
    cost a second, so they are only checked."""
    rows = np.asarray(rows, dtype=np.int64).ravel()
    return rows if np.all(rows[1:] > rows[:-1]) else np.unique(rows)


def rows_outside(sorted_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A mask over `rows`: True where a row is not in `sorted_rows` (sorted unique)."""
    rows = np.asarray(rows, dtype=np.int64)
    if sorted_rows.size == 0:
        return np.ones(rows.shape, dtype=bool)
    positions = np.searchsorted(sorted_rows, rows).clip(max=sorted_rows.size - 1)
    return sorted_rows[positions] != rows


def name_rows(rows: np.ndarray, first: int = 5) -> str:
    """'3, 17, 42 (and 9 more)': a short list for an error message."""
    shown = ", ".join(str(int(r)) for r in rows[:first])
    return shown + (f" (and {rows.size - first} more)" if rows.size > first else "")


def check_index_rows(index: KnnIndex, eligible_rows: np.ndarray) -> None:
    """Refuse an index holding rows outside the eligible (pool split) rows: their neighbours
    would bring test rows into the pool. Indexes without `rows` (custom backends) are trusted."""
    indexed = getattr(index, "rows", None)
    if indexed is None:
        return
    indexed = np.asarray(indexed, dtype=np.int64)
    eligible = sorted_unique(eligible_rows)
    if indexed.size == eligible.size and np.array_equal(indexed, eligible):
        return  # the usual case, an index of exactly the pool split: one linear comparison
    outside = int(np.count_nonzero(rows_outside(eligible, indexed)))
    if outside:
        raise InvalidParameterError(
            f"the kNN index holds {outside} of its {indexed.size} rows outside the pool split (test rows "
            "would enter the pool); rebuild it over the pool split with `seals index build`"
        )


def mean_of(total: np.ndarray, count: int) -> np.ndarray:
    """A pool's mean vector from its running sum; zeros for an empty pool."""
    return total / count if count else np.zeros_like(total)


def needs_renormalising(embeddings: EmbeddingStore) -> bool:
    """float16 stores: float32 rows are unit-norm to ~1e-7 on import, float16 rows only to ~1e-3."""
    return np.dtype(embeddings.vectors.dtype).itemsize < 4


def unit_sum(vectors: np.ndarray, renormalise: bool) -> np.ndarray:
    """float64 sum of the rows, each scaled to unit norm first when `renormalise`; skipping the
    norms otherwise keeps the All pool's full pass as cheap as a plain sum."""
    if not renormalise:
        return vectors.sum(axis=0, dtype=np.float64)
    rows = np.asarray(vectors, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    return (rows / np.where(norms > 0, norms, 1.0)[:, None]).sum(axis=0)


def as_rows(values: object, what: str = "rows") -> np.ndarray:
    """Row numbers as a flat int64 array; anything but integers (floats, strings, ragged lists,
    None) is refused instead of being truncated or failing inside numpy."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"{what} must be a flat list of integer row numbers ({exc})") from None
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise InvalidParameterError(f"{what} must be integer row numbers, got {array.dtype} values")
    return array.astype(np.int64).ravel()


def first_of_each(rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row once, in first-seen order; a row given both labels in one call is a conflict."""
    _, first = np.unique(rows, return_index=True)
    if first.size == rows.size:
        return rows, labels
    seen: dict[int, int] = {}
    for row, label in zip(rows.tolist(), labels.tolist(), strict=True):
        if seen.setdefault(row, label) != label:
            raise LabelConflictError(f"row {row} was given both labels in one call")
    first = np.sort(first)
    return rows[first], labels[first]
