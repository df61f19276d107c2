"""The kNN index's own codes as a SEALS pool's codes: one compressed copy of the pool, not two.

An IVF index with SQ8 (or finer) codes already holds every pool row in RAM, compressed, inside
its inverted lists. `Sq8Codes` (sealsearch.data.codes) is a second, row-ordered copy of the same
information: at 10^8 × 64 the index held 6.7 GB and the codes another 6.0 GB, the two largest
parts of `seals serve`'s 15.9 GB. `IndexCodes` lets the pool read a row's code straight from the
list that holds it, and Faiss's own `sa_decode` turn it back into a vector (residuals, the
coarse centroid and any pre-transform included), so the only new memory is a position per
dataset row (4 bytes while the index holds < 2^31 vectors) and a view per list.

Only lists that store one code per vector in a flat array (`ArrayInvertedLists`, and
`OnDiskInvertedLists`) can be read this way; fast-scan PQ packs codes in blocks and is refused.
Codes are "precise" when they spend at least a byte per dimension (SQ8, SQfp16, Flat): as fine as
`Sq8Codes`, so `codes="auto"` may prefer them; coarser ones (PQ, a PCA in front) are used only
when asked for by name, since the pool's exact re-ranking can fix an order only among the rows the
codes already put near the top.
"""

from __future__ import annotations

import faiss
import numpy as np

from sealsearch.errors import InvalidDataError, InvalidParameterError
from sealsearch.index.base import KnnIndex
from sealsearch.index.faiss import FaissIndex

_FLAT_LISTS = ("ArrayInvertedLists", "OnDiskInvertedLists")


def _shared_ivf(index: KnnIndex | None) -> tuple[FaissIndex, faiss.IndexIVF] | None:
    """(the Faiss index, its IVF part) when `index` (or the index a re-ranking wraps) keeps codes
    a row at a time in flat inverted lists; else None."""
    base = getattr(index, "base", index)
    if not isinstance(base, FaissIndex):
        return None
    try:
        ivf = faiss.extract_index_ivf(base.faiss_index)
    except RuntimeError:
        return None
    if type(faiss.downcast_InvertedLists(ivf.invlists)).__name__ not in _FLAT_LISTS:
        return None
    return base, ivf


def has_shared_codes(index: KnnIndex | None) -> bool:
    """Whether `IndexCodes(index, n)` can read this index's codes."""
    return _shared_ivf(index) is not None


def has_precise_codes(index: KnnIndex | None) -> bool:
    """Whether the index's codes can be shared and spend at least a byte per dimension of the
    stored vectors (SQ8, SQfp16, Flat), the rule `codes="auto"` uses to prefer them."""
    found = _shared_ivf(index)
    return found is not None and found[1].code_size >= found[0].dim


class IndexCodes:
    """The codes of a dataset's rows as the index holds them, for `SealsPool(codes=...)`.

    `take(rows)` returns each row's code prefixed with its list number (Faiss's "standalone"
    code layout), and `decode_unit` turns those into unit float32 rows with `sa_decode`. Only
    rows the index holds (the pool split) have codes; asking for another is an error, since a
    seals pool only ever asks for its neighbours' and members' codes.
    """

    mode = "index"

    def __init__(self, index: KnnIndex, n_rows: int):
        found = _shared_ivf(index)
        if found is None:
            raise InvalidParameterError(
                f"the index {index.describe()} holds no codes a pool can share (it takes an IVF index with "
                'flat lists, e.g. "IVF4096,SQ8"); use codes "sq8" or "none"',
                params=["codes"],
            )
        base, ivf = found
        self._index = base.faiss_index  # kept alive: the list views below point into its memory
        self._ntotal = base.ntotal
        self.n, self.dim = int(n_rows), base.dim
        self._code_size = int(ivf.code_size)
        self._prefix = int(ivf.coarse_code_size())
        invlists = ivf.invlists
        sizes = np.array([invlists.list_size(cell) for cell in range(ivf.nlist)], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(sizes)])
        self._position = np.full(self.n, -1, dtype=np.int32 if base.ntotal < 2**31 else np.int64)
        self._views: list[np.ndarray | None] = [None] * ivf.nlist
        for cell in np.flatnonzero(sizes):
            cell, size = int(cell), int(sizes[cell])
            ids = faiss.rev_swig_ptr(invlists.get_ids(cell), size)
            self._position[base.rows[ids]] = np.arange(self._starts[cell], self._starts[cell] + size)
            codes = faiss.rev_swig_ptr(invlists.get_codes(cell), size * self._code_size)
            self._views[cell] = np.asarray(codes).reshape(size, self._code_size)

    @property
    def nbytes(self) -> int:
        """The memory these codes add to the index's: the position of every row."""
        return int(self._position.nbytes)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The standalone codes of `rows` (uint8, len(rows) × (list number bytes + code size), a copy)."""
        if self._index.ntotal != self._ntotal:
            raise InvalidDataError("the index changed after its codes were shared; open the codes again")
        rows = np.asarray(rows, dtype=np.int64)
        positions = self._position[rows]
        if (positions < 0).any():
            raise InvalidParameterError(
                f"row {int(rows[np.argmax(positions < 0)])} is not in the index, so it has no code; "
                "only the indexed (pool) rows have codes to share"
            )
        cells = np.searchsorted(self._starts, positions, side="right") - 1
        out = np.empty((len(rows), self._prefix + self._code_size), dtype=np.uint8)
        out[:, : self._prefix] = cells.astype("<i8").view(np.uint8).reshape(-1, 8)[:, : self._prefix]
        order = np.argsort(cells, kind="stable")
        sorted_cells = cells[order]
        bounds = np.flatnonzero(np.diff(sorted_cells)) + 1
        for part in np.split(order, bounds) if len(order) else []:
            cell = int(cells[part[0]])
            out[part, self._prefix :] = self._views[cell][positions[part] - self._starts[cell]]
        return out

    def decode_unit(self, codes: np.ndarray) -> np.ndarray:
        """float32 vectors of `take`'s codes, each row scaled to unit norm (an all-zero row stays
        zero), as `Sq8Codes.decode_unit` gives them."""
        if len(codes) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        out = self._index.sa_decode(np.ascontiguousarray(codes, dtype=np.uint8))
        norms = np.sqrt(np.einsum("ij,ij->i", out, out))
        out /= np.where(norms > 0, norms, 1.0)[:, None]
        return out
