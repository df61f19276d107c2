"""`seals doctor`'s index checks: is each saved index and kNN graph of a dataset built from its
current embeddings and pool split?

The same functions decide as when a command opens them (`source_state` in freshness.py,
`KnnGraph.open` with the store), so the doctor reports exactly what a command would do: reuse,
rebuild or refuse.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.findings import FAIL, WARN, Finding, finding
from sealsearch.errors import InvalidDataError, MissingFileError
from sealsearch.index.base import META_FILE
from sealsearch.index.freshness import CHANGED, FRESH, source_state, stale_reason
from sealsearch.index.graph import KnnGraph


def index_findings(directory: Path, store: EmbeddingStore, rows: np.ndarray, dataset: str) -> list[Finding]:
    """One finding per saved index and per kNN graph under `directory` (a dataset's index/ folder)
    for the pool `rows` of `store`; `dataset` is how the fixes name the dataset."""
    directory = Path(directory)
    findings = [
        finding(f"index {meta.parent.name}", lambda meta=meta: _index(meta.parent, store, rows, dataset))
        for meta in sorted(directory.glob(f"*/{META_FILE}"))
    ]
    findings += [
        finding(f"graph {meta.parent.name} {meta.stem}", lambda meta=meta: _graph(meta, store, rows))
        for meta in sorted(directory.glob("*/graph_k*.json"))
    ]
    return findings


def _index(folder: Path, store: EmbeddingStore, rows: np.ndarray, dataset: str) -> str | Finding:
    try:
        meta = json.loads((folder / META_FILE).read_text())
        factory, backend, ntotal = str(meta["factory"]), str(meta.get("backend", "faiss")), int(meta["ntotal"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidDataError(f"{folder / META_FILE}: unreadable ({exc}); rebuild the index") from None
    build = f"seals index build {dataset} --factory {factory}" + ("" if backend == "faiss" else f" --backend {backend}")
    state = source_state(folder, store)
    name = f"index {folder.name}"
    if state == CHANGED:
        return Finding(name, FAIL, stale_reason(folder, state), f"rebuild with `{build}` (or any command rebuilds it)")
    if state != FRESH:
        return Finding(name, WARN, stale_reason(folder, state), f"rebuilt on next use, or now with `{build}`")
    if ntotal != len(rows):
        found = f"{ntotal:,} rows, but the pool split has {len(rows):,}"
        return Finding(name, WARN, found, f"rebuilt on next use, or now with `{build}`")
    return f"{backend}:{factory}, {ntotal:,} rows, built from the current embeddings"


def _graph(meta_path: Path, store: EmbeddingStore, rows: np.ndarray) -> str | Finding:
    description = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    factory, k = description.get("factory"), description.get("k")
    if not isinstance(factory, str) or not isinstance(k, int):
        raise InvalidDataError(f"{meta_path}: unreadable graph description; build the graph again (seals index graph)")
    try:
        graph = KnnGraph.open(meta_path.parent.parent, rows, factory, k, store=store)
    except MissingFileError as exc:  # unfinished: resumable, not wrong
        found, _, fix = str(exc).rpartition("; ")
        return Finding(f"graph {meta_path.parent.name} {meta_path.stem}", WARN, found, fix)
    return f"{graph.rows.size:,} pool rows x {graph.k} neighbours ({graph.method}), from the current embeddings"
