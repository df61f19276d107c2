"""kNN-graph mode: every pool row's k neighbours, searched once and stored.

SEALS only ever asks for the neighbours of pool rows (the ones just labeled), and the pool split is
fixed per dataset, so every concept and every run asks the same questions again. Searching all of
them once (`seals index graph`) turns each round's index search into an array lookup; the index is
still used for what the graph cannot answer: rows outside the pool split, or a larger k.

Files, beside the index the graph was searched with (DIRECTORY is a dataset's index/ folder;
this module knows only the directory, the store and the pool rows, never the dataset):

    DATASET/index/<factory>/graph_k{k}.npy    N_pool × k int32 dataset rows, best first, -1 padded;
                                              graph row i belongs to the i-th (sorted) pool row
    DATASET/index/<factory>/graph_k{k}.json   factory, k, n, pool digest, rows_done, and how it
                                              was built: method ("search", "ivf-lists", "hnsw",
                                              "torch"), probe and lists_done for "ivf-lists"

Ways to fill it: "search" asks the index for each row's neighbours, in chunks of rows;
"ivf-lists" (IVF indexes only, see ivf_graph.py) computes them list by list with one exact
matrix product over the `probe` nearest lists; "hnsw" (hnsw_graph.py) searches an HNSW index of
the pool rows, a cost per row that grows with log N on any data. Each is resumable: the
progress counters are rewritten (atomically) only after the rows they count are flushed to disk,
so an interrupted build continues where it stopped, and a finished graph is reused as is however
it was built. The pool digest makes a graph of an older pool split stale.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from sealsearch._util import Progress, positive_int, write_text_atomic
from sealsearch.data.embeddings import CHUNK_ROWS, EmbeddingStore
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError
from sealsearch.index import IvfLists, KnnIndex, hnsw_graph, index_dir_name, torch_graph
from sealsearch.index.freshness import BUILT_FROM_OTHER_ROWS, NO_FINGERPRINT
from sealsearch.index.hnsw_graph import choose_method, fill_by_search, graph_searcher
from sealsearch.index.ivf_graph import AUTO_PROBE, DEFAULT_PROBE, IvfGraphBuilder, choose_probe, fill_from_lists
from sealsearch.index.neighbours import NeighbourSource as NeighbourSource  # re-exported: its old home
from sealsearch.index.recall import RECALL_QUERIES, recall_of, sample_queries

GRAPH_FORMAT = 1
EMBEDDINGS_KEY = "embeddings_sha256"  # the store's fingerprint when the graph was built
GRAPH_ID_DTYPE = np.dtype(np.int32)  # half the disk of int64; dataset rows stay below 2^31
METHODS = ("auto", "search", "ivf-lists", "hnsw", "torch")


def graph_paths(directory: Path, factory: str, k: int) -> tuple[Path, Path]:
    """(array file, description file) of the graph of `factory` with k neighbours per row, beside
    the index stored under `directory` (a dataset's index/ folder)."""
    folder = Path(directory) / index_dir_name(factory)  # the full factory: a re-ranked index's graph differs
    return folder / f"graph_k{k}.npy", folder / f"graph_k{k}.json"


def _build_hint(factory: str, k: int) -> str:
    return f"build it with `seals index graph DATASET --factory {factory} --k {k}`"


def _description(rows: np.ndarray, factory: str, k: int, store: EmbeddingStore | None = None) -> dict:
    """What a graph file must have been built for to be valid for the current pool rows (and,
    given the store, its current vectors: `EmbeddingStore.fingerprint`; a graph of rows since
    shuffled or re-embedded, or of an older sealsearch that recorded no fingerprint, is stale)."""
    pool = np.ascontiguousarray(rows, dtype=np.int64)
    description = {
        "format": GRAPH_FORMAT,
        "factory": factory,
        "k": k,
        "n": int(pool.size),
        "pool_sha1": hashlib.sha1(pool.data).hexdigest(),
    }
    return description if store is None else {**description, EMBEDDINGS_KEY: store.fingerprint["sha256"]}


def _stale_reason(meta_path: Path, expected: dict) -> str:
    """Why the description in meta_path does not fit `expected`, in words."""
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return "unreadable"
    if not isinstance(meta, dict):
        return "unreadable"
    if EMBEDDINGS_KEY in expected and meta.get(EMBEDDINGS_KEY) != expected[EMBEDDINGS_KEY]:
        return BUILT_FROM_OTHER_ROWS if EMBEDDINGS_KEY in meta else NO_FINGERPRINT
    return "built for another pool split or index"


def _read_meta(meta_path: Path, expected: dict) -> dict | None:
    """The description of a build for `expected` (with a valid rows_done), or None when there is none.

    Graphs written before there was more than one method carry no "method": they were searched.
    """
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or {key: meta.get(key) for key in expected} != expected:
        return None
    done = meta.get("rows_done")
    if not (isinstance(done, int) and 0 <= done <= expected["n"]):
        return None
    return {"method": "search", **meta}


def _write_meta(meta_path: Path, meta: dict) -> None:
    write_text_atomic(meta_path, json.dumps(meta, indent=2) + "\n")


class KnnGraph:
    """Row i of `ids` holds the neighbours of dataset row `rows[i]`, most similar first.

    `rows` is sorted (the pool split), so finding a row's graph row is a binary search.
    """

    def __init__(
        self,
        ids: np.ndarray,
        rows: np.ndarray,
        factory: str,
        path: Path | None = None,
        *,
        method: str = "search",
        probe: int | None = None,
    ):
        if ids.ndim != 2 or ids.shape[0] != len(rows):
            raise InvalidDataError(f"graph ids must have shape ({len(rows)}, k), got {ids.shape}")
        self.ids = ids
        self.rows = np.asarray(rows, dtype=np.int64)
        self.factory = factory
        self.path = path
        self.method = method
        self.probe = probe

    @property
    def k(self) -> int:
        return int(self.ids.shape[1])

    @classmethod
    def open(
        cls, directory: Path, rows: np.ndarray, factory: str, k: int, *, store: EmbeddingStore | None = None
    ) -> KnnGraph:
        """The finished graph of `factory` with `k` columns over the pool `rows`, memory-mapped
        read-only; given the `store`, refused unless it was built from the store's current vectors."""
        k = positive_int(k, "k")
        path, meta_path = graph_paths(directory, factory, k)
        build = _build_hint(factory, k)
        if not meta_path.is_file() or not path.is_file():
            raise MissingFileError(f"{meta_path}: not found; {build}")
        expected = _description(rows, factory, k, store)
        meta = _read_meta(meta_path, expected)
        if meta is None:
            raise InvalidDataError(f"{meta_path}: {_stale_reason(meta_path, expected)}; {build} again")
        if meta["rows_done"] < expected["n"]:
            raise MissingFileError(
                f"{path}: only {meta['rows_done']} of {expected['n']} rows searched; {build} to finish"
            )
        try:
            ids = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InvalidDataError(f"{path}: unreadable ({exc}); {build} again") from None
        if ids.shape != (expected["n"], k) or ids.dtype != GRAPH_ID_DTYPE:
            raise InvalidDataError(f"{path}: holds {ids.dtype} {ids.shape}, not int32 ({expected['n']}, {k}); {build}")
        probe = meta.get("probe")
        return cls(
            ids, rows, factory, path,
            method=str(meta["method"]), probe=probe if isinstance(probe, int) else None,
        )  # fmt: skip

    def contains(self, rows: np.ndarray) -> np.ndarray:
        """Which of the dataset rows have a graph row (the pool split's rows do, test rows do not)."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.rows.size == 0:
            return np.zeros(rows.shape, dtype=bool)
        positions = np.minimum(np.searchsorted(self.rows, rows), len(self.rows) - 1)
        return self.rows[positions] == rows

    def neighbours(self, rows: np.ndarray, k: int) -> np.ndarray:
        """(q, k) int64 neighbour rows of graph rows: the first k columns, -1 padded."""
        k = positive_int(k, "k")
        if k > self.k:
            raise InvalidParameterError(
                f"k={k} exceeds the graph's k={self.k}; search the index or build a larger graph"
            )
        rows = np.asarray(rows, dtype=np.int64)
        inside = self.contains(rows)
        if not inside.all():
            raise InvalidParameterError(
                f"row {int(rows[~inside][0])} is not a pool row, so it has no graph row; search the index for it"
            )
        return self.ids[np.searchsorted(self.rows, rows), :k].astype(np.int64)


def _graph_sizes(directory: Path, factory: str, k: int) -> list[int]:
    """k of every graph description of `factory` with at least k columns, ascending."""
    sizes = []
    for meta_path in (Path(directory) / index_dir_name(factory)).glob("graph_k*.json"):
        size = meta_path.stem.removeprefix("graph_k")
        if size.isdigit() and int(size) >= k:
            sizes.append(int(size))
    return sorted(sizes)


def find_graph(
    directory: Path, rows: np.ndarray, factory: str, k: int, *, store: EmbeddingStore | None = None
) -> KnnGraph | None:
    """The smallest finished graph of `factory` over the pool `rows` with at least k columns, if one
    was built (given the `store`: from its current vectors)."""
    for size in _graph_sizes(directory, factory, k):
        try:
            return KnnGraph.open(directory, rows, factory, size, store=store)
        except (MissingFileError, InvalidDataError):
            continue
    return None


def stale_graph(
    directory: Path, rows: np.ndarray, factory: str, k: int, *, store: EmbeddingStore | None = None
) -> str | None:
    """Why the first graph of `factory` with at least k columns that is on disk cannot be used
    (built from other embeddings, for another pool split, unreadable), or None when none is."""
    for size in _graph_sizes(directory, factory, k):
        try:
            KnnGraph.open(directory, rows, factory, size, store=store)
        except InvalidDataError as exc:
            return str(exc)
        except MissingFileError:
            continue
    return None


def build_knn_graph(
    store: EmbeddingStore,
    rows: np.ndarray,
    directory: Path,
    index: KnnIndex,
    k: int,
    *,
    method: str = "auto",
    probe: int = DEFAULT_PROBE,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
    device: str = "cuda",
    threads: int = 0,
) -> KnnGraph:
    """Find the k neighbours of every pool row (each without itself, as `SealsPool` searches) and
    store them beside `index` (which holds exactly the pool `rows`) under `directory`; resumes an
    interrupted build of the same graph and returns a finished one without computing anything.

    method "search" asks `index` for every row (chunk_rows at a time), so lookups equal searches;
    "ivf-lists" (IVF only) takes exact neighbours among the rows of the `probe` lists nearest each
    row's, on `threads` lists at once (0: every core), probe `AUTO_PROBE` chosen by `choose_probe`
    from a sample and recorded with its sampled recalls; "hnsw" searches an HNSW index of the pool
    (hnsw_graph.py); "auto" is ivf-lists unless its probe makes hnsw cheaper; "torch" is exact on
    `device` (torch_graph.py).
    """
    k = positive_int(k, "k")
    chunk_rows = positive_int(chunk_rows, "chunk_rows")
    probe = AUTO_PROBE if probe == AUTO_PROBE else positive_int(probe, "probe")
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    pool = np.asarray(rows, dtype=np.int64)
    lists = _checked_lists(store, pool, directory, index, method)
    path, meta_path = graph_paths(directory, index.factory, k)
    expected = _description(pool, index.factory, k, store)
    meta = _read_meta(meta_path, expected)
    probe, sampled = _probe(store, lists, probe, meta, pool.size, k)
    build = _build_plan(method, meta, lists, probe, pool.size, store.dim, k)
    if meta is not None and meta["rows_done"] == pool.size:
        if progress:
            progress(pool.size, pool.size)
        return KnnGraph.open(directory, pool, index.factory, k, store=store)
    ids = _resumable_ids(path, meta, build, (pool.size, k))
    if ids is None:
        meta = {**expected, **build, **sampled, "rows_done": 0} | ({"lists_done": 0} if lists is not None else {})
        ids = _new_graph_file(path, meta_path, meta, (pool.size, k))
    if progress:
        progress(meta["rows_done"], pool.size)
    if method == "torch":
        builder = torch_graph.TorchGraphBuilder(store, pool, device)
        checkpoint = lambda done: _write_meta(meta_path, {**meta, "rows_done": done})  # noqa: E731
        torch_graph.fill_with_torch(builder, ids, meta["rows_done"], k, checkpoint, progress)
    elif build["method"] in ("search", "hnsw"):
        checkpoint = lambda done: _write_meta(meta_path, {**meta, "rows_done": done})  # noqa: E731
        hnsw = path.with_suffix(".hnsw") if build["method"] == "hnsw" else None
        search = graph_searcher(store, pool, index, k, hnsw, progress)
        fill_by_search(store, pool, search, ids, meta["rows_done"], chunk_rows, checkpoint, progress)
    else:
        _fill_from_lists(store, pool, lists, probe, ids, meta, meta_path, progress, threads)
    del ids
    return KnnGraph.open(directory, pool, index.factory, k, store=store)


def _build_plan(method: str, meta: dict | None, lists, probe: int, n: int, dim: int, k: int) -> dict:
    """The build `method` asks for, as recorded in the graph's description (what a resume must match)."""
    if method == "torch":
        return {"method": "torch", "precision": "bf16+fp32", "margin": torch_graph.MARGIN}
    if method == "hnsw" or (method == "auto" and _prefers_hnsw(meta, lists, probe, n, dim)):
        return {"method": "hnsw", "M": hnsw_graph.M, "ef_search": hnsw_graph.ef_search(k)}
    return {"method": "search"} if lists is None else {"method": "ivf-lists", "probe": probe}


def _new_graph_file(path: Path, meta_path: Path, meta: dict, shape: tuple[int, int]) -> np.ndarray:
    """A fresh ids file and its description; whatever stood there before is removed first."""
    meta_path.unlink(missing_ok=True)  # a stale description must never vouch for the new file
    path.with_suffix(".hnsw").unlink(missing_ok=True)  # nor an HNSW index of other rows
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = np.lib.format.open_memmap(path, mode="w+", dtype=GRAPH_ID_DTYPE, shape=shape)
    _write_meta(meta_path, meta)
    return ids


def _fill_from_lists(
    store: EmbeddingStore, pool: np.ndarray, lists: IvfLists, probe: int, ids: np.ndarray, meta: dict,
    meta_path: Path, progress: Progress | None, threads: int,
) -> None:  # fmt: skip
    """The "ivf-lists" build, resumed from the lists its description says are done."""
    lists_done = meta.get("lists_done")
    if not isinstance(lists_done, int) or not 0 <= lists_done <= lists.nlist:
        lists_done, meta["rows_done"] = 0, 0
    checkpoint = lambda cells, done: _write_meta(meta_path, {**meta, "rows_done": done, "lists_done": cells})  # noqa: E731
    builder = IvfGraphBuilder(store, lists, probe)
    fill_from_lists(builder, pool, ids, lists_done, meta["rows_done"], checkpoint, progress, threads)


def _probe(
    store: EmbeddingStore, lists: IvfLists | None, probe: int, meta: dict | None, n_rows: int, k: int
) -> tuple[int, dict]:
    """The probe of an "ivf-lists" build and what to record of its choice: `AUTO_PROBE` resumes
    with the probe an interrupted build chose, or chooses one from a sample (`choose_probe`)."""
    if lists is None or probe != AUTO_PROBE:
        return probe, {}
    if meta is not None and meta.get("method") == "ivf-lists" and isinstance(meta.get("probe"), int):
        return meta["probe"], {}  # resuming: the probe chosen when the build began
    if meta is None or meta["rows_done"] < n_rows:
        probe, recalls = choose_probe(store, lists, k)
        return probe, {"probe_recall": {str(p): round(r, 4) for p, r in recalls.items()}}
    return probe, {}


def _prefers_hnsw(meta: dict | None, lists: IvfLists | None, probe: int, n_rows: int, dim: int) -> bool:
    """ "auto": HNSW when an interrupted build was one, or when the chosen probe makes the
    ivf-lists build do too much work per row (`hnsw_graph.choose_method`)."""
    if meta is not None and meta.get("method") == "hnsw":
        return True
    return lists is not None and choose_method(probe, lists.nlist, n_rows, dim) == "hnsw"


def _checked_lists(
    store: EmbeddingStore, pool: np.ndarray, directory: Path, index: KnnIndex, method: str
) -> IvfLists | None:
    """The index's inverted lists for an "ivf-lists"/"auto" build (None: search it), after
    checking that it holds exactly the pool rows and that their numbers fit the graph's ids."""
    if (index.ntotal, index.dim) != (pool.size, store.dim) or not np.array_equal(index.rows, pool):
        raise InvalidParameterError(
            f"index {index.describe()!r} holds {index.ntotal} vectors of dim {index.dim}, not the {pool.size} pool "
            f"rows of dim {store.dim} the graph is for; open it with open_or_build_index"
        )
    if pool.size and pool[-1] > np.iinfo(GRAPH_ID_DTYPE).max:
        raise InvalidDataError(f"{directory}: row numbers beyond 2^31 do not fit the graph's int32 ids")
    lists = index.ivf_lists() if method not in ("search", "torch", "hnsw") else None
    if method == "ivf-lists" and lists is None:
        raise InvalidParameterError(
            f"method 'ivf-lists' needs an IVF index, and {index.factory!r} has no inverted lists; use 'search'"
        )
    return lists


def _resumable_ids(path: Path, meta: dict | None, build: dict, shape: tuple[int, int]) -> np.ndarray | None:
    """The ids file of an interrupted build of the same method, opened for writing; None when
    there is none to resume (no description, another method, or a file of the wrong shape)."""
    if meta is None or {key: meta.get(key) for key in build} != build:
        return None
    try:
        ids = np.load(path, mmap_mode="r+", allow_pickle=False)
    except (ValueError, OSError):
        return None
    return ids if ids.shape == shape and ids.dtype == GRAPH_ID_DTYPE else None


def graph_recall(
    store: EmbeddingStore,
    graph: KnnGraph,
    *,
    n_queries: int = RECALL_QUERIES,
    seed: int = 0,
    progress: Progress | None = None,
) -> float:
    """Tie-tolerant recall@k of the graph's rows against exact neighbours on a seeded sample of
    pool rows (k = the graph's, at most the pool size - 1): what an approximate index, or the
    "ivf-lists" build's unprobed lists, cost."""
    n_queries = positive_int(n_queries, "n_queries")
    k = min(graph.k, graph.rows.size - 1)
    if k <= 0:
        return 1.0
    query_rows = sample_queries(graph.rows, n_queries, seed)
    return recall_of(store, graph.rows, query_rows, graph.neighbours(query_rows, k), progress)
