"""`Project`: a directory holding one label log (project.sqlite) over one dataset.

Everything concepts share is opened once here: the dataset, the kNN index (built on first use,
like every other command), kNN graphs by k, the id -> row table, the query embedder and the one
background worker that trains ahead after each label call. A project remembers a fingerprint of
its dataset, so it refuses to open against different vectors — its labels address rows.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sealsearch._util import Progress, check_name, did_you_mean, positive_int
from sealsearch.active.knn import check_knn, open_codes, open_or_build_index, resolve_knn
from sealsearch.active.pools import POOLS, pools_using_k
from sealsearch.active.strategies import DEFAULT_STRATEGY, STRATEGIES
from sealsearch.data.codes import PoolCodes, check_codes_mode
from sealsearch.data.dataset import Dataset
from sealsearch.errors import (
    ConceptExistsError,
    InvalidParameterError,
    MissingFileError,
    UnknownNameError,
)
from sealsearch.index import DEFAULT_BACKEND, KnnIndex, auto_factory, backend_at
from sealsearch.index.graph import KnnGraph
from sealsearch.sessions.fingerprint import PROJECT_FILE, check_dataset_matches, check_project_meta, fingerprint
from sealsearch.sessions.labelstore import LabelStore, concept_exists
from sealsearch.sessions.names import check_concept_name
from sealsearch.sessions.replay import ConceptSettings
from sealsearch.sessions.seeding import QueryVectors
from sealsearch.sessions.session import ConceptSession

DEFAULT_K = 20
DEFAULT_BATCH_SIZE = 10  # a person reads ten items at a time, not the simulations' 100
DEFAULT_LEASE_S = 600.0
ITEM_CACHE_ROWS, ITEM_CACHE_ENTRIES = 1000, 64  # batch-sized item tables kept: a parquet read costs ~10 ms
ITEMS_IN_MEMORY_BYTES = 64 << 20  # an items.parquet up to this size is read whole, once: rows then cost nothing
log = logging.getLogger(__name__)


class Project:
    """A labeling project; the contract shared with the web app and the CLI is docs/labeling.md
    (its REST table is checked against the app's /openapi.json)."""

    def __init__(self, path: Path, store: LabelStore, dataset: Dataset, lease_s: float = DEFAULT_LEASE_S):
        self.path = path
        self.store = store
        self.dataset = dataset
        self.lease_s = float(lease_s)
        meta = store.meta()
        self.factory, self.knn = meta["factory"], meta["knn"]
        self.backend, self.uri = meta.get("backend", DEFAULT_BACKEND), meta.get("uri") or None
        self.codes = meta.get("codes") or "auto"  # projects made before codes were recorded: "auto"
        self._codes: list[PoolCodes | None] = []  # empty until opened (they may be None)
        self._index: KnnIndex | None = None
        self._graphs: dict[int, KnnGraph | None] = {}
        self._id_lock = threading.Lock()  # one build of the id map, however many threads ask
        self._setup_lock = threading.Lock()
        self._item_cache: dict[bytes, pd.DataFrame] = {}
        self.query_vector = QueryVectors(dataset)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sealsearch-train")
        self._sessions: dict[str, ConceptSession] = {}
        self._worker.submit(self._read_items).add_done_callback(_log_failure)
        for session in self._load_concepts():  # replay every concept in the background
            self.precompute(session)

    def _load_concepts(self) -> list[ConceptSession]:
        """Sessions for concepts not loaded yet (all on open; later, those another process created)."""
        new = []
        for row in self.store.concepts():
            if row["name"] not in self._sessions:
                settings = ConceptSettings(**row)
                new.append(ConceptSession(self, settings, self.store.events(settings.id)))
                self._sessions[settings.name] = new[-1]
        return new

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def init(
        cls, path: str | Path, dataset: str | Path, knn: str = "auto", factory: str = "auto", *,
        lease_s: float = DEFAULT_LEASE_S, backend: str = DEFAULT_BACKEND, uri: str | None = None, codes: str = "auto",
        progress: Progress | None = None,
    ) -> Project:  # fmt: skip
        """Create a project directory over a dataset; the dataset's fingerprint is recorded.

        `knn` is the kNN source of every concept (`sealsearch.active.knn.KNN_SOURCES`): "graph"
        is refused here, before anything is written, when the dataset has no kNN graph for the
        default k. `backend` is the index backend every concept's kNN search uses ("faiss", or
        "milvus" at `uri`). `codes` ("auto", "sq8", "index", "none": `sealsearch.data.codes.CODES_MODES`)
        is recorded and says what seals pools score on; "auto" is decided when the project is
        opened, on that machine's memory and the index's codes (`choose_codes`). The dataset's id -> row map
        is built here (`progress` reports it), so a duplicated item id is refused before anything
        is written and no label of a new project waits for the map."""
        path = Path(path)
        check_knn(knn)
        check_codes_mode(codes)
        backend_at(backend, uri)  # an unknown backend, or a uri Faiss cannot take, fails here
        if (path / PROJECT_FILE).exists():
            raise InvalidParameterError(f"{path}: already a project; open it (Project.open) instead of creating it")
        data = Dataset.open(dataset)
        if factory == "auto":
            factory = auto_factory(len(data.split_rows("pool")), data.info.dim)
        resolve_knn(data, factory, DEFAULT_K, knn)
        data.id_map(progress)
        created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        store = None
        try:
            store = LabelStore(path / PROJECT_FILE)
            store.set_meta({
                "dataset": str(Path(dataset).resolve()), "fingerprint": json.dumps(fingerprint(data)),
                "knn": knn, "factory": factory, "backend": backend, "uri": uri or "", "codes": codes,
            })  # fmt: skip
        except BaseException:  # a full or read-only disk: leave no half project that would open as empty
            _remove_partial_project(path, store, created)
            raise
        return cls(path, store, data, lease_s)

    @classmethod
    def open(cls, path: str | Path, *, lease_s: float = DEFAULT_LEASE_S) -> Project:
        """Open a project; refuses one whose dataset no longer matches the recorded fingerprint."""
        path = Path(path)
        file = path / PROJECT_FILE
        if not file.is_file():
            raise MissingFileError(f"{file}: not found; create the project first (Project.init / `seals project init`)")
        store = LabelStore(file, create=False)  # an empty file gets no schema written into it
        meta = store.meta()
        try:
            check_project_meta(meta, file)
        except BaseException:
            store.close()
            raise
        try:
            data = Dataset.open(meta["dataset"])
            check_dataset_matches(meta, data, path)
        except BaseException:
            store.close()
            raise
        return cls(path, store, data, lease_s)

    def warm_up(self) -> None:
        """Load the dataset's text embedder in the background now (a server does at start), so the
        first text query need not wait for it; `query_vector.state` tells how far it is."""
        self.query_vector.warm_up()

    def close(self) -> None:
        """Finish background work, then close the database."""
        self._worker.shutdown(wait=True)
        self.store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- concepts --------------------------------------------------------------------------
    def concepts(self) -> list[dict[str, Any]]:
        self._load_concepts()
        return [session.summary() for session in self._sessions.values()]

    def concept(self, name: str) -> ConceptSession:
        if name not in self._sessions:
            self._load_concepts()
        if name not in self._sessions:
            hint = (
                did_you_mean(name, self._sessions) or "; create it first (the app's home page, `seals label --query`)"
            )
            raise UnknownNameError(f"unknown concept {name!r}{hint}")
        return self._sessions[name]

    def create_concept(
        self, name: str, query: str | None = None, positives: list[str] | None = None, strategy: str = DEFAULT_STRATEGY,
        pool: str = "seals", k: int | None = None, batch_size: int | None = None, *, seed: int = 0,
        labeler: str = "seed",
    ) -> dict[str, Any]:  # fmt: skip
        """A new concept, seeded by a free-text query and/or positive item ids (recorded as
        positive events of `labeler`); returns its `concepts()` row."""
        name = check_concept_name(name)  # no control, bidi or zero-width characters, no "/"
        if name in self._sessions or name in {row["name"] for row in self.store.concepts()}:
            raise ConceptExistsError(concept_exists(name))
        for value, choices, what in ((strategy, STRATEGIES, "strategy"), (pool, POOLS, "pool")):
            try:
                check_name(value, choices, what)
            except UnknownNameError as exc:  # an invalid parameter value (422), not a missing resource (404)
                raise InvalidParameterError(str(exc)) from None
        k = positive_int(DEFAULT_K if k is None else k, "k")
        batch_size = positive_int(DEFAULT_BATCH_SIZE if batch_size is None else batch_size, "batch_size")
        query = query.strip() or None if query else None
        if query:
            self.query_vector(query)  # fails now, before anything is written, if text search is unavailable
        if pool in pools_using_k():
            self.graph(k)  # knn="graph" without a graph for this k fails now too
        rows = self.rows_of(list(positives or []))
        concept_id = self.store.add_concept(name, strategy, pool, k, batch_size, query, seed)
        settings = ConceptSettings(**next(r for r in self.store.concepts() if r["id"] == concept_id))
        session = ConceptSession(self, settings, [])
        self._sessions[name] = session
        if rows.size:  # the seeds are the concept's first round
            session.label(labeler, [(item_id, "positive") for item_id in positives or []])
            if session._close(labeler, None, free=True, reason="seed"):
                self.precompute(session, labeler)
        return session.summary()

    # -- shared resources ------------------------------------------------------------------
    @property
    def index(self) -> KnnIndex:
        """The kNN index over the pool split, opened (or built) once and shared by all concepts."""
        with self._setup_lock:
            if self._index is None:
                self._index = open_or_build_index(self.dataset, self.factory, backend=self.backend, uri=self.uri)
            return self._index

    @property
    def pool_codes(self) -> PoolCodes | None:
        """The codes every seals pool of the project scores on, by its recorded `codes` (opened,
        or built, once and shared by all concepts): the index's own codes, the dataset's SQ8
        codes, or None for the exact buffer (`sealsearch.active.knn.open_codes`)."""
        index = self.index if self.codes in ("auto", "index") else None  # "auto" asks what the index holds
        with self._setup_lock:
            if not self._codes:
                self._codes.append(open_codes(self.dataset, self.codes, knn_index=index))
            return self._codes[0]

    @property
    def sq8_codes(self) -> PoolCodes | None:
        """`pool_codes`' name before the index's codes could be shared (kept for a release)."""
        warnings.warn("Project.sq8_codes is deprecated; use Project.pool_codes", DeprecationWarning, stacklevel=2)
        return self.pool_codes

    def graph(self, k: int) -> KnnGraph | None:
        """The kNN graph a pool with k neighbours looks up, by the project's `knn` source
        (`sealsearch.active.knn.resolve_knn`): None for "index" or when "auto" finds none;
        "graph" without one is an InvalidParameterError naming `seals index graph`."""
        with self._setup_lock:
            if k not in self._graphs:
                self._graphs[k], _ = resolve_knn(self.dataset, self.factory, k, self.knn)
            return self._graphs[k]

    def _read_items(self) -> None:
        """Hold a small dataset's item table in memory (background, at open): handing out a batch
        then reads no parquet row group (~10-50 ms each on a busy disk). Then open the id map."""
        file = self.dataset.path / "items.parquet"
        if file.is_file() and file.stat().st_size <= ITEMS_IN_MEMORY_BYTES:
            self.dataset.items  # noqa: B018 - loads and keeps the table; items_at uses it from now on
        self.id_map()

    def id_map(self, progress: Progress | None = None) -> None:
        """Open (or build, once: ~50 s at 10^8 items) the dataset's id -> row map; `init` and the
        open's background worker call it so that no label waits for it. A duplicated id is
        refused here, naming it."""
        with self._id_lock:
            self.dataset.id_map(progress)

    def rows_of(self, ids: list[str]) -> np.ndarray:
        """Dataset rows of item ids; an unknown id is an UnknownNameError naming it."""
        if not ids:
            return np.empty(0, dtype=np.int64)
        self.id_map()
        rows = self.dataset.rows_of(ids)
        if (rows < 0).any():
            missing = ids[int(np.flatnonzero(rows < 0)[0])]
            raise UnknownNameError(f"unknown item id {missing!r}: not an item of this project's dataset; check the id")
        return rows

    def ids_of(self, rows: np.ndarray) -> list[str]:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size <= ITEM_CACHE_ROWS:  # a batch: the same read as its items (cached)
            return [str(i) for i in self.item_table(rows)["id"]]
        return [str(i) for i in self.dataset.items_at(rows, ("id",))["id"]]

    def item_table(self, rows: np.ndarray) -> pd.DataFrame:
        """id, text, uri of some rows (None where the dataset has no such column).

        Tables of up to ITEM_CACHE_ROWS rows are cached (the dataset never changes under a
        project): the background worker reads the next batch's items ahead, so handing the batch
        out reads nothing."""
        rows = np.asarray(rows, dtype=np.int64)
        key = rows.tobytes() if rows.size <= ITEM_CACHE_ROWS else None
        cached = self._item_cache.get(key) if key is not None else None
        if cached is not None:
            return cached.copy()
        table = self.dataset.items_at(rows, ("id", "text", "uri"))
        for column in ("id", "text", "uri"):
            if column not in table.columns:
                table[column] = None
        table = table.astype(object).where(table.notna(), None)
        if key is not None:
            with self._setup_lock:
                self._item_cache[key] = table.copy()
                while len(self._item_cache) > ITEM_CACHE_ENTRIES:
                    self._item_cache.pop(next(iter(self._item_cache)))
        return table

    def items(self, rows: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        """The API's item dicts: {id, row, text, uri, score}."""
        table = self.item_table(rows)
        rows_list, scores_list = np.asarray(rows).tolist(), np.asarray(scores, dtype=np.float64).tolist()
        return [
            {"id": str(table["id"][i]), "row": int(row), "text": table["text"][i], "uri": table["uri"][i],
             "score": None if np.isnan(score) else float(score)}
            for i, (row, score) in enumerate(zip(rows_list, scores_list, strict=True))
        ]  # fmt: skip

    # -- background work -------------------------------------------------------------------
    def precompute(self, session: ConceptSession, labeler: str | None = None) -> Future | None:
        """Queue the concept's sync + training + next batch (for `labeler`) on the project's one worker."""
        try:
            future = self._worker.submit(session.background, labeler)
        except RuntimeError:  # worker shut down: the project is closing
            return None
        future.add_done_callback(_log_failure)
        return future

    def export(self, path: str | Path, format: str = "csv", concept: str | None = None) -> Path:
        """Final labels of one concept (or all) to `path` as csv, jsonl, parquet or label-studio
        (tasks with the labels as annotations and the models' scores as predictions; sessions/export.py)."""
        from sealsearch.sessions.export import export

        names = [concept] if concept is not None else [c["name"] for c in self.concepts()]
        return export(
            lambda name: self.concept(name).labels_frame(), names, Path(path), format,
            scores_of=lambda name, ids: self.concept(name).scores(self.rows_of(ids)),
            media_file=self.dataset.media_file if self.dataset.media_dir is not None else None,
        )  # fmt: skip


def _remove_partial_project(path: Path, store: LabelStore | None, created: bool) -> None:
    """Undo a `Project.init` that failed: its database files, and its directory if it made it."""
    if store is not None:
        store.close()
    for suffix in ("", "-wal", "-shm", "-journal"):
        (path / f"{PROJECT_FILE}{suffix}").unlink(missing_ok=True)
    if created:
        shutil.rmtree(path, ignore_errors=True)


def _log_failure(future: Future) -> None:
    """Background work is an optimisation: its error resurfaces on the next foreground call."""
    if future.exception() is not None:
        log.warning("background training failed: %s", future.exception())
