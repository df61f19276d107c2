"""`MilvusIndex`: the kNN index kept in Milvus (`sealsearch[milvus]`), behind the same `KnnIndex`.

The URI chooses the deployment, as `pymilvus.MilvusClient` does: a local path ending in ".db" is
milvus-lite (embedded, pure Python, one process per data directory: for development and tests);
"http://host:19530" is a Milvus standalone or cluster. Without a URI, a dataset's index lives in
milvus-lite at `DATASET/index/milvus.db`. Only `pymilvus.MilvusClient` is used.

Design around Milvus's limits (a 2.3.5 server refuses each one beyond them; tests/index/test_milvus.py
runs against one): a search asks for at most 16,384 neighbours and sends at most 16,384 queries
and 64 MB per request and per reply, so queries go in batches sized by `queries_per_request`; the
query's own row is excluded client side (k + 1 fetched, then base.py's `keep_best`), never with an
`id in [...]` filter, so no filter templating (documented from Milvus 2.5) is needed. The
collection holds one INT64 primary key (the dataset row) and one float vector, metric IP on the
unit vectors. `save` writes only meta.json and rows.npy beside the dataset (the vectors stay in
Milvus), so `load` checks that the collection still holds what they describe.

Factory strings: a Milvus index type ("FLAT", "HNSW", "HNSW_SQ", "IVF_FLAT", "IVF_SQ8", with
optional build parameters "IVF_SQ8:nlist=1024") or the Faiss spelling of one ("Flat", "HNSW32",
"HNSW32,SQ8", "IVF1024,Flat", "IVF1024,SQ8"), so `--factory Flat` means the same exact index on
either backend. Milvus has no PQ in milvus-lite; "IVF…,PQ…" is refused with the SQ8 alternative.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from sealsearch._util import Progress, atomic_write, positive_int, write_text_atomic
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingExtraError, UnknownNameError
from sealsearch.index.base import META_FILE, IvfLists, as_queries, keep_best

BACKEND = "milvus"
DEFAULT_DB = "milvus.db"
"""milvus-lite data directory under a dataset's index/ when no URI is given."""
ROWS_FILE = "rows.npy"
PRIMARY, VECTOR = "row", "vector"
MAX_TOPK = 16_384
MAX_QUERIES = 16_384
MAX_REQUEST_BYTES = 64 * 1024**2
"""The server's gRPC message limit (proxy.grpc.serverMaxRecvSize and serverMaxSendSize)."""
HIT_BYTES = 16
"""Reply bytes per neighbour, bounded: an int64 id (varint, <= 10 bytes) and a float32 score."""
INSERT_ROWS = 8_192
"""Rows per insert request: 8 MB of float32 at d=256, well under the 64 MB request limit."""
INDEX_TYPES = ("FLAT", "HNSW", "HNSW_SQ", "IVF_FLAT", "IVF_SQ8")
BUILD_DEFAULTS: dict[str, dict[str, Any]] = {
    "FLAT": {},
    "HNSW": {"M": 32, "efConstruction": 200},
    "HNSW_SQ": {"M": 32, "efConstruction": 200, "sq_type": "SQ8"},
    "IVF_FLAT": {"nlist": 1024},
    "IVF_SQ8": {"nlist": 1024},
}
SEARCH_DEFAULTS: dict[str, dict[str, int]] = {
    "FLAT": {},
    "HNSW": {"ef": 128},
    "HNSW_SQ": {"ef": 128},
    "IVF_FLAT": {"nprobe": 16},
    "IVF_SQ8": {"nprobe": 16},
}
SEARCH_ALIASES = {"efSearch": "ef", "ef": "ef", "nprobe": "nprobe"}
_FAISS_SPELLING = [
    (re.compile(r"Flat"), lambda m: ("FLAT", {})),
    (re.compile(r"HNSW(\d+)"), lambda m: ("HNSW", {"M": int(m[1])})),
    (re.compile(r"HNSW(\d+),SQ8"), lambda m: ("HNSW_SQ", {"M": int(m[1])})),
    (re.compile(r"IVF(\d+),Flat"), lambda m: ("IVF_FLAT", {"nlist": int(m[1])})),
    (re.compile(r"IVF(\d+),SQ8"), lambda m: ("IVF_SQ8", {"nlist": int(m[1])})),
]


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise MissingExtraError(
            "the milvus index backend needs the milvus extra: pip install 'sealsearch[milvus]'"
        ) from None
    return pymilvus


def queries_per_request(dim: int, fetch: int) -> int:
    """Queries one search request may carry: at most MAX_QUERIES, and the request's float32 vectors
    plus the reply's hits within 90% of MAX_REQUEST_BYTES (the rest for protobuf framing). The
    request grows with dim and the reply with fetch, so the bound is on their sum, not product."""
    per_query = 4 * dim + HIT_BYTES * (fetch + 1)
    return max(1, min(MAX_QUERIES, int(0.9 * MAX_REQUEST_BYTES) // per_query))


def _value(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def index_spec(factory: str) -> tuple[str, dict[str, Any]]:
    """(Milvus index type, build params) for a factory string; see the module docstring."""
    for pattern, make in _FAISS_SPELLING:
        if match := pattern.fullmatch(factory):
            index_type, params = make(match)
            return index_type, {**BUILD_DEFAULTS[index_type], **params}
    index_type, _, params_text = factory.partition(":")
    if index_type.upper() not in INDEX_TYPES:
        hint = "IVF<n>,SQ8 (IVF_SQ8)" if "PQ" in factory else ", ".join(INDEX_TYPES)
        raise UnknownNameError(
            f"index type {factory!r} is not available on the milvus backend; use one of {hint}, "
            'or a Faiss spelling ("Flat", "HNSW32", "IVF1024,SQ8")'
        )
    index_type = index_type.upper()
    params = dict(BUILD_DEFAULTS[index_type])
    for pair in filter(None, params_text.split(",")):
        name, eq, value = pair.partition("=")
        if not eq:
            raise InvalidParameterError(f"index type {factory!r}: write build parameters as TYPE:name=value,...")
        params[name.strip()] = _value(value.strip())
    return index_type, params


def is_local(uri: str) -> bool:
    """True for a milvus-lite path, False for a server URI (http, https, tcp, unix)."""
    return not re.match(r"^(https?|tcp|unix|grpc)://", uri)


def resolve_uri(uri: str | None, directory: Path | None) -> str:
    """The URI to connect to: a server URI as given, a local path absolute; default beside `directory`."""
    if uri is None:
        if directory is None:
            raise InvalidParameterError("the milvus backend needs a uri (a ./path.db or http://host:19530)")
        uri = str(Path(directory) / DEFAULT_DB)
    if not is_local(uri):
        return uri
    if not uri.endswith(".db"):
        raise InvalidParameterError(f"milvus uri {uri!r}: a local milvus-lite path must end in .db, else use http://")
    return str(Path(uri).resolve())


_CLIENTS: dict[str, Any] = {}


def client_for(uri: str) -> Any:
    """One `MilvusClient` per URI per process (milvus-lite allows one process per data directory)."""
    if uri not in _CLIENTS:
        pymilvus = _pymilvus()
        if is_local(uri):
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            _CLIENTS[uri] = pymilvus.MilvusClient(uri=uri)
        except Exception as exc:  # connection and lock errors come in several types
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            where = "is another process using this milvus-lite .db?" if is_local(uri) else "is the server up?"
            raise InvalidParameterError(f"cannot open milvus at {uri} ({reason}); {where}") from None
    return _CLIENTS[uri]


def collection_name(directory: Path | None, factory: str) -> str:
    """A readable, unique collection name: dataset folder, factory and a hash of the index folder.
    Without a folder (`build_index`) each build gets a fresh name: two indexes built at one server
    would otherwise share a collection, the second dropping the first's vectors while it is in use."""
    place = str(Path(directory).resolve()) if directory is not None else f"unsaved-{uuid.uuid4().hex}"
    digest = hashlib.sha1(f"{place}\n{factory}".encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9]+", "_", f"{Path(place).parent.name}_{factory}").strip("_")[:60]
    return f"seals_{slug}_{digest}"


class MilvusIndex:
    """A Milvus collection of (dataset row, unit vector) plus the row list, searched by IP."""

    backend = BACKEND

    def __init__(
        self, uri: str, collection: str, rows: np.ndarray, dim: int, factory: str, search_params: str | None = None
    ):
        self.uri, self.collection, self.factory = uri, collection, factory
        self.rows = np.asarray(rows, dtype=np.int64)
        self._dim = int(dim)
        self.index_type, self.build_params = index_spec(factory)
        self._search = dict(SEARCH_DEFAULTS[self.index_type])
        self._client = client_for(uri)
        if search_params:
            self.set_search_params(search_params)

    @property
    def ntotal(self) -> int:
        return len(self.rows)

    @property
    def dim(self) -> int:
        return self._dim

    def describe(self) -> str:
        return f"{self.backend}:{self.factory}"

    def ivf_lists(self) -> IvfLists | None:
        """Milvus does not expose its inverted lists: graphs are built by search."""
        return None

    def set_search_params(self, search_params: str) -> None:
        """ "nprobe=32" (IVF) or "ef=256" / "efSearch=256" (HNSW); larger values trade time for recall."""
        for pair in filter(None, search_params.split(",")):
            name, _, value = pair.partition("=")
            key = SEARCH_ALIASES.get(name.strip())
            if key is None or key not in SEARCH_DEFAULTS[self.index_type] or not value.strip().isdigit():
                raise InvalidParameterError(
                    f"search params {search_params!r} do not apply to milvus index {self.factory!r}; "
                    f"use {', '.join(f'{k}=N' for k in SEARCH_DEFAULTS[self.index_type]) or 'none (FLAT is exact)'}"
                )
            self._search[key] = int(value)

    def search(self, vectors: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar indexed rows per query (ids padded -1, sims padded -inf); exclude[i]
        (the query's own row, -1 for none) is dropped client side from k + 1 fetched."""
        k = positive_int(k, "k")
        queries = as_queries(vectors, self.dim)
        excluded = np.full(len(queries), -1, dtype=np.int64) if exclude is None else np.asarray(exclude, np.int64)
        if excluded.shape != (len(queries),):
            raise InvalidParameterError(
                f"exclude must hold one row per query, shape ({len(queries)},), got {excluded.shape}"
            )
        fetch = min(k + (exclude is not None), self.ntotal)
        if fetch > MAX_TOPK:
            own = " (k + 1: the query's own row is fetched to be dropped)" if fetch > k else ""
            raise InvalidParameterError(
                f"k={k}: Milvus returns at most {MAX_TOPK} neighbours per query{own}; use a smaller k"
            )
        params = dict(self._search)
        if "ef" in params:
            params["ef"] = max(params["ef"], fetch)  # Milvus refuses ef < limit
        per_request = queries_per_request(self.dim, fetch)
        ids = np.full((len(queries), fetch), -1, dtype=np.int64)
        sims = np.full((len(queries), fetch), -np.inf, dtype=np.float32)
        for start in range(0, len(queries), per_request):
            hits = self._client.search(
                self.collection, data=queries[start : start + per_request], limit=fetch, anns_field=VECTOR,
                output_fields=[], search_params={"metric_type": "IP", "params": params},
            )  # fmt: skip
            for offset, row_hits in enumerate(hits):  # pymilvus `Hits`: primary keys and scores, best first
                ids[start + offset, : len(row_hits.ids)] = row_hits.ids
                sims[start + offset, : len(row_hits.distances)] = row_hits.distances
        found = ids >= 0
        return keep_best(ids, sims, found & (ids != excluded[:, None]), k)

    def meta(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "factory": self.factory, "ntotal": self.ntotal, "dim": self.dim,
            "uri": self.uri, "collection": self.collection, "index_type": self.index_type,
            "build_params": self.build_params,
        }  # fmt: skip

    def save(self, directory: Path) -> None:
        """meta.json (URI, collection, factory) and rows.npy; the vectors stay in Milvus."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / META_FILE).unlink(missing_ok=True)
        with atomic_write(directory / ROWS_FILE) as tmp, open(tmp, "wb") as file:
            np.save(file, self.rows, allow_pickle=False)
        write_text_atomic(directory / META_FILE, json.dumps(self.meta(), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path, search_params: str | None = None, uri: str | None = None) -> MilvusIndex:
        """The index meta.json describes; refused (InvalidDataError) when its collection is gone or
        differs, or when `uri` names another deployment, so `open_or_build_index` rebuilds it."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / META_FILE).read_text())
            rows = np.load(directory / ROWS_FILE, allow_pickle=False)
            saved_uri, name, factory, dim = str(meta["uri"]), str(meta["collection"]), meta["factory"], meta["dim"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidDataError(f"{directory}: unreadable milvus index description ({exc}); rebuild it") from None
        if uri is not None and uri != saved_uri:
            raise InvalidDataError(f"{directory}: index lives at {saved_uri}, not {uri}; rebuild it there")
        client = client_for(saved_uri)
        if not client.has_collection(name):
            raise InvalidDataError(f"{directory}: collection {name!r} is missing at {saved_uri}; rebuild the index")
        count = int(client.get_collection_stats(name)["row_count"])
        if count != len(rows) or len(rows) != int(meta["ntotal"]):
            raise InvalidDataError(
                f"{directory}: collection {name!r} holds {count} rows, rows.npy {len(rows)}; rebuild the index"
            )
        client.load_collection(name)
        return cls(saved_uri, name, rows, int(dim), str(factory), search_params)

    @classmethod
    def build(
        cls, store: EmbeddingStore, rows: np.ndarray, factory: str, *, uri: str, collection: str,
        progress: Progress | None = None, search_params: str | None = None, insert_rows: int = INSERT_ROWS,
    ) -> MilvusIndex:  # fmt: skip
        """(Re)create `collection` at `uri` and insert the rows' unit vectors in batches."""
        rows = np.asarray(rows)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer) or len(rows) == 0:
            raise InvalidParameterError(f"rows must be a non-empty 1-D array of row numbers, got {rows.shape}")
        rows = rows.astype(np.int64, copy=False)
        if rows.min() < 0 or rows.max() >= store.n:
            raise InvalidParameterError(f"rows must lie in 0..{store.n - 1}")
        index_type, build_params = index_spec(factory)
        pymilvus = _pymilvus()
        client = client_for(uri)
        if client.has_collection(collection):
            client.drop_collection(collection)
        schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(PRIMARY, pymilvus.DataType.INT64, is_primary=True)
        schema.add_field(VECTOR, pymilvus.DataType.FLOAT_VECTOR, dim=store.dim)
        index_params = client.prepare_index_params()
        index_params.add_index(field_name=VECTOR, index_type=index_type, metric_type="IP", params=build_params)
        try:
            client.create_collection(collection, schema=schema, index_params=index_params)
        except pymilvus.MilvusException as exc:  # e.g. a Milvus 2.3 server has no HNSW_SQ
            if client.has_collection(collection):  # created, then its index refused
                client.drop_collection(collection)
            reason = str(getattr(exc, "message", exc)).strip().splitlines()[0]
            raise InvalidParameterError(
                f"milvus at {uri} refused index {index_type} {build_params} ({reason}); use another "
                "index_type: FLAT, HNSW, IVF_FLAT and IVF_SQ8 exist on every Milvus from 2.3",
                params=["index_type"],
            ) from None
        done = 0
        for chunk in store.chunks(rows, insert_rows):
            batch = rows[done : done + len(chunk)]
            client.insert(collection, [{PRIMARY: int(r), VECTOR: v} for r, v in zip(batch, chunk, strict=True)])
            done += len(chunk)
            if progress:
                progress(done, len(rows))
        client.flush(collection)
        client.load_collection(collection)
        return cls(uri, collection, rows, store.dim, factory, search_params)


class MilvusBackend:
    """The "milvus" entry of the backend registry; `at(uri, directory)` binds a deployment."""

    name = BACKEND

    def __init__(self, uri: str | None = None, directory: Path | None = None):
        self.uri, self.directory = uri, directory

    def at(self, uri: str | None, directory: Path | None) -> MilvusBackend:
        return MilvusBackend(uri, directory)

    def build(
        self, store: EmbeddingStore, rows: np.ndarray, factory: str, *, seed: int = 0,
        progress: Progress | None = None, search_params: str | None = None,
    ) -> MilvusIndex:  # fmt: skip
        """`seed` is unused: Milvus trains its IVF centroids itself."""
        index_spec(factory)  # a bad factory fails before connecting
        uri = resolve_uri(self.uri, self.directory)
        return MilvusIndex.build(
            store, rows, factory, uri=uri, collection=collection_name(self.directory, factory),
            progress=progress, search_params=search_params,
        )  # fmt: skip

    def load(self, directory: Path, *, search_params: str | None = None) -> MilvusIndex:
        uri = resolve_uri(self.uri, None) if self.uri else None  # no uri: wherever it was built
        return MilvusIndex.load(directory, search_params=search_params, uri=uri)


MILVUS = MilvusBackend()
