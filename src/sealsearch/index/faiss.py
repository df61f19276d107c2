"""`FaissIndex`: the kNN index over a dataset's pool, built from a Faiss `index_factory` string.

Faiss positions become dataset rows here and the metric-specific distances become similarities
(higher is better) here; the shared hygiene (unit float32 queries, dropping the `-1` ids and the
excluded query rows, padding) is base.py's, so that no caller ever has to know which index type
or backend answered. `FAISS` is the backend the registry (backends.py) dispatches "faiss" to.
"""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np

from sealsearch._util import Progress, atomic_write, positive_int, write_text_atomic
from sealsearch.data.embeddings import CHUNK_ROWS, EmbeddingStore
from sealsearch.errors import (
    InvalidDataError,
    InvalidParameterError,
    MissingFileError,
    UnknownNameError,
)
from sealsearch.index.base import META_FILE, IvfLists, as_queries, keep_best

# Faiss scans a Flat index with BLAS only when a batch has at least this many queries; below it,
# it uses a scalar loop. The 1.15 default (128000) sends the batches SEALS issues (tens to a few
# hundred labeled rows per round) down the scalar path, about 6x slower on a 1M-row Flat index
# (bench/index_recall.py --blas-threshold measures it). BLAS pays off from a handful of queries on.
faiss.cvar.distance_compute_blas_threshold = 16

FACTORY_EXAMPLES = '"Flat", "HNSW32", "IVF1024,SQ8", "IVF4096,PQ32", "LSH", "auto"'
INDEX_FILE = "index.faiss"
ROWS_FILE = "rows.npy"
BACKEND = "faiss"

# Search-time defaults, applied to whichever of them the index type has. Faiss's own defaults
# (efSearch 16, nprobe 1) trade far too much recall for speed at the k SEALS uses (k ~ 100).
DEFAULT_SEARCH_PARAMS = {"efSearch": 128, "quantizer_efSearch": 128, "nprobe": 16}
# Enough points per centroid for k-means to be stable (Faiss warns below 39), without paying to
# train on a 10M-row pool when a sample gives the same centroids.
TRAIN_ROWS_PER_LIST = 64
MIN_TRAIN_ROWS = 50_000


def _faiss_reason(exc: RuntimeError) -> str:
    """The readable tail of a Faiss C++ error (the rest is a source location)."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown Faiss error"
    return text.split("failed: ")[-1] if "failed: " in text else text.rsplit(": ", 1)[-1]


def _new_faiss_index(factory: str, dim: int) -> faiss.Index:
    """An empty index for `factory`, on inner product where Faiss offers it.

    Some index types (LSH) exist only for L2. The stored vectors are unit norm, so L2 ranks
    exactly like inner product; those fall back to L2 and `FaissIndex` converts the distances.
    """
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError:
        try:
            return faiss.index_factory(dim, factory, faiss.METRIC_L2)
        except RuntimeError as exc:
            raise UnknownNameError(
                f"cannot build index factory {factory!r} for dim={dim} ({_faiss_reason(exc)}); "
                f"use a Faiss index_factory string such as {FACTORY_EXAMPLES}"
            ) from None


def _innermost(index: faiss.Index) -> faiss.Index:
    index = faiss.downcast_index(index)
    while isinstance(index, faiss.IndexPreTransform):
        index = faiss.downcast_index(index.index)
    return index


def _ivf_nlist(index: faiss.Index) -> int | None:
    try:
        return int(faiss.extract_index_ivf(index).nlist)
    except RuntimeError:
        return None


def _training_rows(rows: np.ndarray, nlist: int | None, seed: int) -> np.ndarray:
    """A seeded sample of the rows to train on, sorted so a memory-mapped store reads forward."""
    cap = max(TRAIN_ROWS_PER_LIST * (nlist or 0), MIN_TRAIN_ROWS)
    if len(rows) <= cap:
        return rows
    picked = np.random.default_rng(seed).choice(len(rows), size=cap, replace=False)
    return rows[np.sort(picked)]


MAX_RESULTS = 50_000_000  # ids + sims of a search result beyond this many entries (~600 MB) are refused


class FaissIndex:
    """A Faiss index plus `rows`, the dataset row of each Faiss position.

    Faiss numbers vectors 0..ntotal-1 in insertion order; keeping the mapping beside the index
    (instead of an IDMap inside it) lets any factory string index any subset of rows, such as
    only the pool split.
    """

    backend = BACKEND

    def __init__(self, index: faiss.Index, rows: np.ndarray, factory: str, search_params: str | None = None):
        if index.ntotal != len(rows):
            raise InvalidDataError(
                f"index holds {index.ntotal} vectors but {len(rows)} row numbers were given; rebuild the index"
            )
        self.factory = factory
        self.rows = np.asarray(rows, dtype=np.int64)
        self._index = index
        inner = _innermost(index)
        # How to turn what Faiss returns into "higher is more similar".
        if isinstance(inner, faiss.IndexLSH):
            self._similarity = "hamming"
        elif index.metric_type == faiss.METRIC_L2:
            self._similarity = "l2"
        else:
            self._similarity = "inner_product"
        self._apply_default_search_params()
        if search_params:
            self.set_search_params(search_params)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def faiss_index(self) -> faiss.Index:
        """The Faiss index itself (read-only use: its positions are `rows`' indices)."""
        return self._index

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def describe(self) -> str:
        return f"{self.backend}:{self.factory}"

    def ivf_lists(self) -> IvfLists | None:
        """The inverted lists as dataset rows, or None for an index without them (Flat, HNSW, LSH)."""
        try:
            ivf = faiss.extract_index_ivf(self._index)
        except RuntimeError:
            return None
        invlists = ivf.invlists
        sizes = np.array([invlists.list_size(cell) for cell in range(ivf.nlist)], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        positions = np.empty(int(offsets[-1]), dtype=np.int64)
        for cell in np.flatnonzero(sizes):
            ids = invlists.get_ids(int(cell))
            positions[offsets[cell] : offsets[cell + 1]] = faiss.rev_swig_ptr(ids, int(sizes[cell]))
            invlists.release_ids(int(cell), ids)
        return IvfLists(
            centroids=ivf.quantizer.reconstruct_n(0, ivf.nlist),
            inner_product=ivf.quantizer.metric_type == faiss.METRIC_INNER_PRODUCT,
            offsets=offsets,
            members=self.rows[positions],
        )

    def _apply_default_search_params(self) -> None:
        space = faiss.ParameterSpace()
        space.initialize(self._index)
        available = {space.parameter_ranges.at(i).name for i in range(space.parameter_ranges.size())}
        nlist = _ivf_nlist(self._index)
        for name, value in DEFAULT_SEARCH_PARAMS.items():
            if name in available:
                space.set_index_parameter(self._index, name, min(value, nlist) if name == "nprobe" and nlist else value)

    def set_search_params(self, search_params: str) -> None:
        """Override search-time knobs with a Faiss ParameterSpace string, e.g. "nprobe=32" or "efSearch=256".

        Larger values raise recall and cost time; `bench/index_recall.py` shows the trade-off.
        """
        try:
            faiss.ParameterSpace().set_index_parameters(self._index, search_params)
        except RuntimeError as exc:
            raise InvalidParameterError(
                f"search params {search_params!r} do not apply to index {self.factory!r} ({_faiss_reason(exc)}); "
                'use "name=value" pairs the index has, e.g. "nprobe=32" for IVF or "efSearch=256" for HNSW'
            ) from None

    def _similarities(self, distances: np.ndarray) -> np.ndarray:
        if self._similarity == "hamming":
            # Rank-only: only the order is meaningful, not the value or its scale.
            return -distances
        if self._similarity == "l2":
            # Faiss returns squared L2; for unit vectors |a - b|^2 = 2 - 2 cos(a, b).
            return 1.0 - 0.5 * distances
        return distances

    def search(self, vectors: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar indexed rows of each query, most similar first.

        ids are dataset row numbers (int64, -1 where fewer than k were found); sims are float32,
        padded with -inf: cosine similarity for Flat/HNSW, approximate cosine for SQ/PQ codes,
        and rank-only (negated Hamming distance) for LSH. exclude[i] is a row dropped from query
        i's results — pass the query's own row so a query from the pool never finds itself; -1
        excludes nothing. One extra neighbour is fetched so k remain after the drop.
        """
        k = positive_int(k, "k")
        queries = as_queries(vectors, self.dim)
        if k > self.ntotal and len(queries) * k > MAX_RESULTS:  # k = 10^9 used to exhaust memory
            raise InvalidParameterError(
                f"k {k} for {len(queries)} queries would return {len(queries) * k:,} results from an index of "
                f"{self.ntotal} vectors ({self.factory!r}); ask for at most {self.ntotal}"
            )
        if exclude is None:
            excluded = np.full(len(queries), -1, dtype=np.int64)
            fetch = k
        else:
            excluded = np.asarray(exclude, dtype=np.int64)
            if excluded.shape != (len(queries),):
                raise InvalidParameterError(
                    f"exclude must hold one row per query, shape ({len(queries)},), got {excluded.shape}"
                )
            fetch = k + 1
        distances, positions = self._index.search(queries, min(fetch, self.ntotal + 1))
        found = positions >= 0
        ids = np.full(positions.shape, -1, dtype=np.int64)
        ids[found] = self.rows[positions[found]]
        sims = self._similarities(distances).astype(np.float32, copy=False)
        ids, sims = keep_best(ids, sims, found & (ids != excluded[:, None]), k)
        return ids, sims

    def save(self, directory: Path) -> None:
        """Write index.faiss, rows.npy and meta.json into `directory`.

        meta.json goes last and is removed first, so an interrupted save leaves a directory that
        `load` refuses (and `open_or_build_index` rebuilds) rather than a mismatched pair.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / META_FILE).unlink(missing_ok=True)
        with atomic_write(directory / INDEX_FILE) as tmp:
            faiss.write_index(self._index, str(tmp))
        with atomic_write(directory / ROWS_FILE) as tmp, open(tmp, "wb") as file:
            np.save(file, self.rows, allow_pickle=False)
        meta = {"backend": self.backend, "factory": self.factory, "ntotal": self.ntotal, "dim": self.dim}
        write_text_atomic(directory / META_FILE, json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path, search_params: str | None = None) -> FaissIndex:
        directory = Path(directory)
        meta_path = directory / META_FILE
        for path in (directory, meta_path, directory / INDEX_FILE, directory / ROWS_FILE):
            if not path.exists():
                raise MissingFileError(
                    f"{path}: not found; build the index first (`seals index build DATASET` or open_or_build_index)"
                )
        try:
            meta = json.loads(meta_path.read_text())
            factory, ntotal, dim = str(meta["factory"]), int(meta["ntotal"]), int(meta["dim"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidDataError(f"{meta_path}: unreadable index description ({exc}); rebuild the index") from None
        try:
            index = faiss.read_index(str(directory / INDEX_FILE))
        except RuntimeError as exc:
            raise InvalidDataError(
                f"{directory / INDEX_FILE}: not a readable Faiss index ({_faiss_reason(exc)}); rebuild the index"
            ) from None
        try:
            rows = np.load(directory / ROWS_FILE, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InvalidDataError(f"{directory / ROWS_FILE}: unreadable ({exc}); rebuild the index") from None
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise InvalidDataError(f"{directory / ROWS_FILE}: must be a 1-D integer array; rebuild the index")
        if (index.ntotal, index.d, len(rows)) != (ntotal, dim, ntotal):
            raise InvalidDataError(
                f"{directory}: index ({index.ntotal} x {index.d}), rows.npy ({len(rows)}) and meta.json "
                f"({ntotal} x {dim}) disagree; rebuild the index"
            )
        return cls(index, rows, factory, search_params)

    @classmethod
    def build(
        cls,
        store: EmbeddingStore,
        rows: np.ndarray,
        factory: str,
        *,
        seed: int = 0,
        progress: Progress | None = None,
        search_params: str | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> FaissIndex:
        """Train (if the type needs it) on a seeded sample of `rows`, then add them in chunks.

        Only the training sample and one chunk of `chunk_rows` rows are ever copied out of the
        (memory-mapped) store, so the index itself is the one in-RAM copy of the data: peak
        memory is the index plus one chunk (64 MB at d=256) or the training sample. The seed
        fixes the training sample; HNSW graphs built on several threads can still differ
        slightly between builds.
        """
        rows = np.asarray(rows)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise InvalidParameterError(f"rows must be a 1-D array of row numbers, got {rows.dtype} {rows.shape}")
        rows = rows.astype(np.int64, copy=False)
        if len(rows) == 0:
            raise InvalidParameterError("rows is empty; an index needs at least one row (is the pool split empty?)")
        if rows.min() < 0 or rows.max() >= store.n:
            raise InvalidParameterError(
                f"rows must lie in 0..{store.n - 1} (the store has {store.n} rows), "
                f"got {int(rows.min())}..{int(rows.max())}"
            )
        index = _new_faiss_index(factory, store.dim)
        inner = _innermost(index)
        if hasattr(inner, "do_polysemous_training"):
            # The factory turns this on for PQ codes, but it only serves the `ht` Hamming
            # pre-filter, which is off unless asked for, and it is ~90% of the build time
            # (14 s of 15 s for IVF64,PQ8 on 3000 x 32). Same effect as the "np" suffix.
            inner.do_polysemous_training = False
        if not index.is_trained:
            sample = _training_rows(rows, _ivf_nlist(index), seed)
            try:
                index.train(store.take(sample))
            except RuntimeError as exc:
                raise InvalidParameterError(
                    f"cannot train index {factory!r} on {len(sample)} rows ({_faiss_reason(exc)}); "
                    'use fewer lists (IVF nlist about 4*sqrt(N)) or "Flat" for a small pool'
                ) from None
        done = 0
        for chunk in store.chunks(rows, chunk_rows):
            index.add(chunk)
            done += len(chunk)
            if progress:
                progress(done, len(rows))
        return cls(index, rows, factory, search_params)


class FaissBackend:
    """The "faiss" entry of the backend registry: factory strings are Faiss `index_factory` strings."""

    name = BACKEND

    def build(
        self,
        store: EmbeddingStore,
        rows: np.ndarray,
        factory: str,
        *,
        seed: int = 0,
        progress: Progress | None = None,
        search_params: str | None = None,
    ) -> FaissIndex:
        return FaissIndex.build(store, rows, factory, seed=seed, progress=progress, search_params=search_params)

    def load(self, directory: Path, *, search_params: str | None = None) -> FaissIndex:
        return FaissIndex.load(directory, search_params=search_params)


FAISS = FaissBackend()
