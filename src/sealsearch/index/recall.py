"""How good an approximate index is on this dataset: recall@k against exact search.

Recall of IVF, PQ and HNSW depends on the data as much as on the factory (docs/index.md shows
0.4 to 0.9 for the same factory on different data), so every `seals index build` measures it
on the pool itself. The measurement is remembered in the index's meta.json, keyed by what it
depends on, because the exact side is a full pass over the vectors (~10 GB at 10^7 x 256).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sealsearch._util import Progress, positive_int, write_text_atomic
from sealsearch.data.embeddings import CHUNK_ROWS, EmbeddingStore
from sealsearch.errors import MissingFileError
from sealsearch.index.base import META_FILE, KnnIndex

RECALL_K = 100
RECALL_QUERIES = 200
# A returned row is a hit when its exact similarity reaches the exact k-th best minus this, so
# ties at the k-th place and float32 rounding (BLAS vs a row-wise dot) never count as misses.
TIE_TOLERANCE = 1e-5


def exact_neighbours(
    embeddings: EmbeddingStore,
    rows: np.ndarray,
    query_rows: np.ndarray,
    queries: np.ndarray,
    k: int,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(sims, ids): the exact k best similarities of each query (the vector of query_rows[i])
    among `rows` and their rows, best first, its own row excluded (-inf and -1 beyond the rows).

    One forward pass in chunks with BLAS, keeping a running top k per query, so memory stays at
    queries x (k + chunk) whatever the number of rows.
    """
    best = np.full((len(query_rows), k), -np.inf, dtype=np.float32)
    best_ids = np.full((len(query_rows), k), -1, dtype=np.int64)
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk_rows = np.asarray(rows[start : start + CHUNK_ROWS], dtype=np.int64)
        sims = queries @ embeddings.take(chunk_rows).T
        sims[query_rows[:, None] == chunk_rows[None, :]] = -np.inf
        merged = np.concatenate([best, sims], axis=1)
        merged_ids = np.concatenate([best_ids, np.broadcast_to(chunk_rows, sims.shape)], axis=1)
        top = np.argpartition(-merged, k - 1, axis=1)[:, :k]
        best, best_ids = np.take_along_axis(merged, top, axis=1), np.take_along_axis(merged_ids, top, axis=1)
        if progress:
            progress(min(start + CHUNK_ROWS, len(rows)), len(rows))
    order = np.argsort(-best, axis=1, kind="stable")
    best, best_ids = np.take_along_axis(best, order, axis=1), np.take_along_axis(best_ids, order, axis=1)
    best_ids[~np.isfinite(best)] = -1
    return best, best_ids


def exact_kth_similarity(
    embeddings: EmbeddingStore,
    rows: np.ndarray,
    query_rows: np.ndarray,
    queries: np.ndarray,
    k: int,
    progress: Progress | None = None,
) -> np.ndarray:
    """The exact k-th best similarity of each query (the vector of query_rows[i]) among `rows`,
    its own row excluded."""
    return exact_neighbours(embeddings, rows, query_rows, queries, k, progress)[0][:, k - 1]


def sample_queries(rows: np.ndarray, n_queries: int = RECALL_QUERIES, seed: int = 0) -> np.ndarray:
    """A seeded sample of `rows` to measure recall on, sorted (rows are read in file order)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=min(int(n_queries), len(rows)), replace=False))


def recall_of(
    embeddings: EmbeddingStore,
    rows: np.ndarray,
    query_rows: np.ndarray,
    ids: np.ndarray,
    progress: Progress | None = None,
) -> float:
    """Tie-tolerant recall of `ids` ((q, k) answers for query_rows, own rows excluded, -1 for
    none) against exact search among `rows`: an answer is a hit when its exact similarity
    reaches the exact k-th best."""
    queries = embeddings.gather(query_rows)
    kth = exact_kth_similarity(embeddings, rows, query_rows, queries, ids.shape[1], progress)
    found = ids >= 0
    unique, inverse = np.unique(ids[found], return_inverse=True)
    query_of = np.nonzero(found)[0]
    exact = np.einsum("nd,nd->n", queries[query_of], embeddings.gather(unique)[inverse])
    hits = exact >= kth[query_of] - TIE_TOLERANCE
    return float(hits.sum() / ids.size)


def measure_recall(
    index: KnnIndex,
    embeddings: EmbeddingStore,
    rows: np.ndarray,
    k: int = RECALL_K,
    n_queries: int = RECALL_QUERIES,
    seed: int = 0,
    progress: Progress | None = None,
) -> float:
    """Tie-tolerant recall@k of `index` (built over `rows`) on a seeded sample of those rows.

    Each sampled row searches with its own row excluded, as SEALS queries the index. k is
    capped at len(rows) - 1, the most neighbours a row has.
    """
    rows = np.asarray(rows, dtype=np.int64)
    k = min(positive_int(k, "k"), len(rows) - 1)
    n_queries = positive_int(n_queries, "n_queries")
    if k <= 0:
        return 1.0
    query_rows = sample_queries(rows, n_queries, seed)
    ids, _ = index.search(embeddings.gather(query_rows), k, exclude=query_rows)
    return recall_of(embeddings, rows, query_rows, ids, progress)


def _recall_key(factory: str, search_params: str | None, k: int, n_queries: int, seed: int) -> str:
    return f"{factory} | {search_params or 'default search params'} | k={k} queries={n_queries} seed={seed}"


def recorded_recall(
    directory: Path, factory: str, search_params: str | None, k: int, n_queries: int, seed: int
) -> float | None:
    """The recall stored in `directory`'s meta.json for exactly these settings, if any."""
    try:
        meta = json.loads((Path(directory) / META_FILE).read_text())
        value = meta.get("recall", {}).get(_recall_key(factory, search_params, k, n_queries, seed))
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def record_recall(
    directory: Path, factory: str, search_params: str | None, k: int, n_queries: int, seed: int, value: float
) -> None:
    """Add a measurement to meta.json, which a rebuild rewrites (dropping stale measurements).

    Written to a temporary file and renamed, so meta.json (whose presence marks a complete
    save) is never seen half-written.
    """
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise MissingFileError(f"{path}: not found; recall is stored beside an index saved by open_or_build_index")
    meta = json.loads(path.read_text())
    meta.setdefault("recall", {})[_recall_key(factory, search_params, k, n_queries, seed)] = round(value, 6)
    write_text_atomic(path, json.dumps(meta, indent=2) + "\n")
