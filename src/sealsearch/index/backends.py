"""The backend registry: which library builds, stores and searches an index, by name.

"faiss" (embedded, the default) and "milvus" (milvus.py, `sealsearch[milvus]`: milvus-lite or a
Milvus server, chosen by URI) are registered; pymilvus is imported only when a Milvus index is used.
A backend with an `at(uri, directory)` method is bound to a deployment by `backend_at`.
`build_index`, `load_index` and `open_or_build_index` look the backend up here, and every saved
index records its backend in meta.json, so opening one never guesses. Indexes saved before meta.json
named a backend were all Faiss's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from sealsearch._util import Progress, check_name, register
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError
from sealsearch.index.base import META_FILE, KnnIndex
from sealsearch.index.faiss import FAISS
from sealsearch.index.milvus import MILVUS

DEFAULT_BACKEND = "faiss"


class IndexBackend(Protocol):
    """Builds an index over rows of an `EmbeddingStore` and loads one `KnnIndex.save` wrote."""

    name: str

    def build(
        self,
        store: EmbeddingStore,
        rows: np.ndarray,
        factory: str,
        *,
        seed: int = 0,
        progress: Progress | None = None,
        search_params: str | None = None,
    ) -> KnnIndex: ...

    def load(self, directory: Path, *, search_params: str | None = None) -> KnnIndex: ...


BACKENDS: dict[str, IndexBackend] = {}
"""Every index backend by name: the CLI's --backend help, "did you mean" errors and the contract
suite's parameters (tests/index/test_contract.py) come from it."""


def register_backend(backend: IndexBackend) -> IndexBackend:
    """Make `backend` available under `backend.name`; a second backend of the same name is refused."""
    return register(BACKENDS, backend.name, backend, "index backend")


def backend_names() -> tuple[str, ...]:
    """The registered backends' names, the default first."""
    return tuple(BACKENDS)


def get_backend(name: str) -> IndexBackend:
    """The registered backend `name`; an unknown name is an `UnknownNameError` with suggestions."""
    return BACKENDS[check_name(name, BACKENDS, "index backend")]


def backend_at(name: str, uri: str | None = None, directory: Path | None = None) -> IndexBackend:
    """Backend `name` bound to `uri` (its default place beside `directory` when None); a backend
    without a place of its own (Faiss stores the index in `directory`) refuses a uri."""
    backend = get_backend(name)
    at = getattr(backend, "at", None)
    if at is not None:
        return at(uri, directory)
    if uri is not None:
        raise InvalidParameterError(
            f"the {name!r} index is stored beside the dataset and takes no uri ({uri!r}); "
            "drop uri or use backend milvus",
            params=["uri", "backend"],
        )
    return backend


def saved_backend(directory: Path) -> str:
    """The backend named in a saved index's meta.json ("faiss" for indexes saved before it was named)."""
    meta_path = Path(directory) / META_FILE
    if not meta_path.is_file():
        raise MissingFileError(
            f"{meta_path}: not found; build the index first (`seals index build DATASET` or open_or_build_index)"
        )
    try:
        meta = json.loads(meta_path.read_text())
        name = meta.get("backend", DEFAULT_BACKEND)
    except (OSError, ValueError, AttributeError) as exc:
        raise InvalidDataError(f"{meta_path}: unreadable index description ({exc}); rebuild the index") from None
    if not isinstance(name, str):
        raise InvalidDataError(f"{meta_path}: backend must be a name, got {name!r}; rebuild the index")
    return name


register_backend(FAISS)
register_backend(MILVUS)
