"""A Faiss index over 10^8 rows, built in bounded memory and resumable after a kill.

`FaissIndex.build` trains and adds in one process: at 10^8 rows the add alone takes most of an
hour on two cores, and a kill loses all of it. Here the work is cut into steps that each leave
a file behind in `<index dir>.partial/`:

1. `trained.faiss`: the empty index trained on a seeded sample (`train_per_list` rows per IVF
   list, `niter` k-means iterations: k-means costs rows × lists × d per iteration, so the
   sample, not N, bounds it);
2. `shard-NNNN.faiss`: a copy of the trained index holding rows [s·shard_rows, (s+1)·shard_rows)
   of the list, added in 64k-row chunks (memory: one shard's codes and one chunk);
3. the merge: the shards' inverted lists are moved into the trained index in order (each
   shard's ids shifted by its first position), saved where `open_or_build_rows_index` looks for
   the factory, with the store's fingerprint, and the partial directory is removed.

A rerun skips every file already written (each is written atomically, so a file that exists is
whole); `plan.json` names what is being built (factory, rows, the store's fingerprint and the
step sizes), and a partial directory of another plan is discarded. With an HNSW coarse quantizer
("IVF16384_HNSW32,SQ8") assigning a row to its list costs a graph search, which grows with the
log of the number of lists rather than with the number of lists.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from sealsearch._util import atomic_write, write_text_atomic
from sealsearch.data.embeddings import CHUNK_ROWS, EmbeddingStore
from sealsearch.errors import InvalidParameterError
from sealsearch.index import index_path
from sealsearch.index.faiss import FaissIndex, _innermost, _ivf_nlist, _new_faiss_index
from sealsearch.index.freshness import record_source

PLAN_FILE = "plan.json"
Report = Callable[[str, int, int], None]
"""progress(step, done, total): step is "train", "add" or "merge"."""


def _plan(store: EmbeddingStore, rows: np.ndarray, factory: str, **steps: int) -> dict:
    digest = hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()
    return {"factory": factory, "rows": len(rows), "rows_sha256": digest, "source": store.fingerprint, **steps}


def _partial_dir(final: Path, plan: dict) -> Path:
    """`<final>.partial`, emptied unless it holds steps of this very plan."""
    work = final.with_name(final.name + ".partial")
    try:
        same = json.loads((work / PLAN_FILE).read_text()) == json.loads(json.dumps(plan))
    except (OSError, ValueError):
        same = False
    if not same:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        write_text_atomic(work / PLAN_FILE, json.dumps(plan) + "\n")
    return work


def _write(index: faiss.Index, path: Path) -> None:
    with atomic_write(path) as tmp:
        faiss.write_index(index, str(tmp))


def _train(store: EmbeddingStore, rows: np.ndarray, factory: str, plan: dict, path: Path) -> None:
    index = _new_faiss_index(factory, store.dim)
    inner = _innermost(index)
    if hasattr(inner, "do_polysemous_training"):
        inner.do_polysemous_training = False  # as FaissIndex.build: only the unused Hamming pre-filter needs it
    nlist = _ivf_nlist(index)
    if nlist is not None:
        faiss.extract_index_ivf(index).cp.niter = plan["niter"]
    if not index.is_trained:
        size = min(len(rows), max(plan["train_per_list"] * (nlist or 1), 1_000))
        picked = np.sort(np.random.default_rng(plan["seed"]).choice(len(rows), size=size, replace=False))
        index.train(store.take(rows[picked]))
    _write(index, path)


def _add_shard(store: EmbeddingStore, rows: np.ndarray, trained: Path, path: Path, report: Report, done: int) -> None:
    index = faiss.read_index(str(trained))
    for start in range(0, len(rows), CHUNK_ROWS):
        index.add(store.take(rows[start : start + CHUNK_ROWS]))
        report("add", done + min(start + CHUNK_ROWS, len(rows)), -1)
    _write(index, path)


def build_resumable_index(
    store: EmbeddingStore,
    rows: np.ndarray,
    directory: Path,
    factory: str,
    *,
    shard_rows: int = 10_000_000,
    train_per_list: int = 32,
    niter: int = 10,
    seed: int = 0,
    progress: Report | None = None,
) -> FaissIndex:
    """The Faiss index of `factory` over `rows` of `store`, saved under `directory` as
    `open_or_build_rows_index` saves it (so that call finds and reuses it); resumable step by
    step (module docstring). Memory: the merged index plus one shard."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.ndim != 1 or len(rows) == 0 or shard_rows <= 0 or train_per_list <= 0 or niter <= 0:
        raise InvalidParameterError(
            "rows must be a non-empty 1-D array and shard_rows, train_per_list, niter positive",
            params=["rows", "shard_rows", "train_per_list", "niter"],
        )
    final = index_path(directory, factory)
    plan = _plan(store, rows, factory, shard_rows=shard_rows, train_per_list=train_per_list, niter=niter, seed=seed)
    work = _partial_dir(final, plan)
    report = progress or (lambda step, done, total: None)
    trained = work / "trained.faiss"
    if not trained.is_file():
        _train(store, rows, factory, plan, trained)
    report("train", 1, 1)
    starts = range(0, len(rows), shard_rows)
    for shard, start in enumerate(starts):
        path = work / f"shard-{shard:04d}.faiss"
        if not path.is_file():
            _add_shard(store, rows[start : start + shard_rows], trained, path, report, start)
    index = faiss.read_index(str(trained))
    ivf = faiss.extract_index_ivf(index)
    for shard, start in enumerate(starts):
        part = faiss.read_index(str(work / f"shard-{shard:04d}.faiss"))
        ivf.merge_from(faiss.extract_index_ivf(part), start)
        index.ntotal = ivf.ntotal
        del part
        report("merge", shard + 1, len(starts))
    built = FaissIndex(index, rows, factory)
    built.save(final)
    record_source(final, store)
    shutil.rmtree(work, ignore_errors=True)
    return built
