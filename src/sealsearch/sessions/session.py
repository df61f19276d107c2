"""`ConceptSession`: labeling one concept — batches, labels, undo, search, stats, the model.

Two locks keep a person from waiting on training while staying correct:

- `_write_lock` guards the in-memory mirror of the event log and of the closed rounds; a label
  call holds it only while its events (or a round's closing) are committed (acknowledged after
  COMMIT returns), never while a model trains.
- `_lock` guards the loop. After a label call that closed a round (or an undo of a label the
  loop was told) the project's single background worker takes it to sync the loop with the log,
  train and compute the next batch; a `next_batch` arriving meanwhile waits for that work
  instead of doing it twice. Lock order: `_lock`, then `_write_lock`.

Rounds. Every label is written (and acknowledged) at once, but the loop learns in rounds: a
round is a group of label events told to the loop as one `tell` (sessions.rounds). A labeler's
labels on their open batch form one round when the batch is complete (every item decided) or
when they ask for a new batch early (`next_batch(new=True)`); labels given outside an open batch
(search results, "more like this", random items, seeds) form their own round when anyone asks
for a new batch. Each closing is recorded in the log, and the loop is told only closed rounds;
items labeled in a round still open are kept out of proposals. Retraining and the next batch
are computed once per closed round, in the background.

The loop is always derived from the log (sessions.replay), so what is proposed never depends on
whether the process was restarted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from sealsearch.active.pools import pools_using_k
from sealsearch.data.codes import PoolCodes
from sealsearch.data.dataset import Dataset
from sealsearch.errors import InvalidParameterError, LabelConflictError, StorageError, UnknownNameError
from sealsearch.index import KnnIndex
from sealsearch.index.graph import KnnGraph
from sealsearch.sessions import estimate as estimating
from sealsearch.sessions.labelstore import LABELS, Event, LabelStore, effective_events
from sealsearch.sessions.replay import ConceptModel, ConceptSettings, TrainingLabels, ask_excluding
from sealsearch.sessions.results import ConceptResults
from sealsearch.sessions.rounds import batch_complete, round_groups
from sealsearch.sessions.seeding import nearest, random_rows

Item = dict[str, Any]
log = logging.getLogger(__name__)


class ProjectParts(Protocol):
    """What a concept uses of its project (`sessions.project.Project` is one): declared here, so
    this module never imports the project module that creates its sessions (no import cycle)."""

    store: LabelStore
    dataset: Dataset
    lease_s: float

    @property
    def index(self) -> KnnIndex: ...

    def graph(self, k: int) -> KnnGraph | None: ...

    @property
    def pool_codes(self) -> PoolCodes | None: ...

    def query_vector(self, query: str) -> np.ndarray: ...

    def rows_of(self, ids: list[str]) -> np.ndarray: ...

    def ids_of(self, rows: np.ndarray) -> list[str]: ...

    def item_table(self, rows: np.ndarray) -> pd.DataFrame: ...

    def items(self, rows: np.ndarray, scores: np.ndarray) -> list[Item]: ...

    def precompute(self, session: ConceptSession, labeler: str | None = None) -> object: ...

    def concepts(self) -> list[dict[str, Any]]: ...


def with_labels(items: list[Item], effective: dict[int, Event]) -> list[Item]:
    """Each item with `label`, its current label in this concept (None when unlabeled): search
    answers include labeled items, and a labeler must see them as labeled, not as new."""
    for item in items:
        event = effective.get(item["row"])
        item["label"] = event.label if event is not None else None
    return items


class ConceptSession(ConceptResults):
    """Labeling one concept of a project; obtained from `Project.concept(name)`."""

    def __init__(self, project: ProjectParts, settings: ConceptSettings, events: list[Event]):
        self.project = project
        self.settings = settings
        self._events = events
        self.rounds, self._closed = project.store.closed_rounds(settings.id)  # count; event id -> round
        self._write_lock = threading.Lock()
        self._lock = threading.RLock()
        self._model: ConceptModel | None = None
        self._recorded = -1  # the latest round written to the `rounds` table by this process
        self.wait_ms: dict[str, float] = {}
        self._audit = estimating.SessionAudit()

    @property
    def name(self) -> str:
        return self.settings.name

    # -- the log ---------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Append events another process (web app, terminal) wrote since we last looked; caller
        holds `_write_lock`. Two indexed queries, usually returning nothing; rounds first, so every
        event a round names is read too."""
        store = self.project.store
        self.rounds, closed = store.closed_rounds(self.settings.id, after=self.rounds - 1)
        self._closed.update(closed)
        newer = store.events(self.settings.id, after=self._events[-1].id if self._events else 0)
        self._events.extend(newer)

    def _close(self, labeler: str, batch: int | None, *, free: bool, reason: str) -> int:
        """Close the rounds due now (see the module docstring); returns how many were closed."""
        store, now = self.project.store, time.time()
        recorded: list[tuple[list[int], int]] = []
        with self._write_lock:
            with store.transaction():  # read the log and record the closing atomically
                self._refresh()
                pending = [e for e in effective_events(self._events).values() if e.id not in self._closed]
                live = store.live_batches(self.settings.id, now, other_than=labeler) if free else set()
                for batch_id, members in round_groups(pending, batch, free, live):
                    recorded.append((members, store.close_round(self.settings.id, members, batch_id, labeler, reason)))
            for members, round_ in recorded:  # memory follows the COMMIT, never runs ahead of it
                self._closed.update(dict.fromkeys(members, round_))
                self.rounds = round_ + 1
        return len(recorded)

    def effective(self) -> dict[int, Event]:
        """row -> effective label event (positive/negative/skip), in event order."""
        with self._write_lock:
            self._refresh()
            return effective_events(self._events)

    def _pool_events(self, effective: dict[int, Event]) -> dict[int, Event]:
        """The effective events on pool-split rows: the only ones the loop is told or skips."""
        rows = np.fromiter(effective, dtype=np.int64, count=len(effective))
        pool = set(self.project.dataset.rows_in_split(rows, "pool").tolist())
        return {row: e for row, e in effective.items() if row in pool}

    def _training_labels(self, effective: dict[int, Event]) -> TrainingLabels:
        """Pool-split positives and negatives of closed rounds; test-split labels only measure
        (`stats()["ap_test"]`)."""
        return {
            row: (int(e.label == "positive"), self._closed[e.id])
            for row, e in self._pool_events(effective).items()
            if e.label != "skip" and e.id in self._closed
        }

    def _pending_rows(self, effective: dict[int, Event]) -> set[int]:
        """Rows labeled in a round that is still open: decided, but not told to the loop yet."""
        return {row for row, e in effective.items() if e.id not in self._closed}

    @property
    def mode(self) -> str:
        labels = {label for label, _ in self._training_labels(self.effective()).values()}
        return "active" if labels == {0, 1} else "search"

    def _synced_model(self, effective: dict[int, Event] | None = None, *, record: bool = True) -> ConceptModel:
        """The loop, synced with the log (caller holds `_lock`); `record=False` (the read side:
        stats, top, the model) writes nothing, the background worker records the round."""
        effective = self.effective() if effective is None else effective
        if self._model is None:
            s = self.settings
            uses_k = s.pool in pools_using_k()
            index, graph = (self.project.index, self.project.graph(s.k)) if uses_k else (None, None)
            codes = self.project.pool_codes if uses_k else None
            self._model = ConceptModel(self.project.dataset, s, index, graph, codes)
        labels = self._training_labels(effective)
        skipped = {row for row, e in self._pool_events(effective).items() if e.label == "skip" and e.id in self._closed}
        self._model.sync(labels, skipped)
        if labels:
            self._model.loop.fit()  # train now (in the background worker when called from there); cached
            if record and max(r for _, r in labels.values()) > self._recorded:
                self._record_round(labels)
        return self._model

    def _record_round(self, labels: TrainingLabels) -> None:
        loop, round_ = self._model.loop, max(r for _, r in labels.values())
        self.project.store.record_round(self.settings.id, round_, {
            "n_labeled": len(labels), "n_positive": sum(label for label, _ in labels.values()),
            "pool_size": loop.pool.size, "t_select": loop.timings.select, "t_knn": loop.timings.knn,
            "t_train": loop.timings.train,
        })  # fmt: skip
        self._recorded = round_  # after the write: a refused write is tried again next time

    # -- proposing -------------------------------------------------------------------------
    def _propose(self, n: int, excluded: set[int]) -> tuple[str, np.ndarray, np.ndarray]:
        """(mode, rows, scores) of the next batch, never an `excluded` (leased) row; caller holds `_lock`."""
        effective = self.effective()
        labels = self._training_labels(effective)
        if {label for label, _ in labels.values()} == {0, 1}:  # skips and labels are the loop's state
            excluded = excluded | self._pending_rows(effective)
            rows, scores = ask_excluding(self._synced_model(effective).loop, n, excluded)
            return "active", rows, scores
        excluded = excluded | set(effective)
        positives = [row for row, e in effective.items() if e.label == "positive"]
        queries = [self.project.dataset.embeddings.take(np.array(positives, dtype=np.int64))] if positives else []
        if self.settings.query:
            queries.insert(0, self.project.query_vector(self.settings.query)[None])
        if queries:
            rows, scores = nearest(self.project.index, np.vstack(queries), n, excluded)
            return "search", rows, scores.astype(np.float64)
        rng = np.random.default_rng([self.settings.seed, self.rounds])
        rows = random_rows(self.project.dataset.split_rows("pool"), n, excluded, rng)
        return "search", rows, np.full(rows.size, np.nan)

    def preview(self, n: int | None = None) -> dict[str, Any]:
        """What `next_batch` would hand out now (nothing leased, nothing written)."""
        with self._lock:
            mode, rows, scores = self._propose(n or self.settings.batch_size, set())
        return {"round": self.rounds, "mode": mode, "items": self.project.items(rows, scores)}

    def next_batch(self, labeler: str, n: int | None = None, new: bool = False) -> dict[str, Any]:
        """The labeler's batch: the undecided items of their open batch (same batch id) while it
        has any, else — or with `new=True` — a new one leased to them for `project.lease_s`.

        A new batch first closes the labeler's open batch as a round (when they ask early) and the
        labels given outside open batches as another; `batch` is None and `items` empty when
        nothing is left. `n` sizes a new batch only."""
        start = time.perf_counter()
        n = self.settings.batch_size if n is None else int(n)
        if n <= 0:
            raise InvalidParameterError(f"n must be a positive number of items, got {n}")
        store, now = self.project.store, time.time()
        with self._lock:
            current = store.open_batch(self.settings.id, labeler, now)
            undecided = self._undecided(current, self.effective()) if not new else None
            if undecided is not None:
                self.wait_ms["next_batch"] = 1000 * (time.perf_counter() - start)
                return undecided
            self._close(labeler, current["id"] if current else None, free=True, reason="new batch")
            leased = store.leased_rows(self.settings.id, now, other_than=labeler)
            batch_id = None  # another process may lease rows meanwhile: add_batch re-checks, in its transaction
            while batch_id is None and (proposal := self._propose(n, leased))[1].size:
                mode, rows, scores = proposal
                items = [(int(r), i, None if np.isnan(s) else float(s))
                         for r, i, s in zip(rows, self.project.ids_of(rows), scores, strict=True)]  # fmt: skip
                batch_id = store.add_batch(
                    self.settings.id, self.rounds, mode, labeler, items, now + self.project.lease_s, now
                )
                leased = store.leased_rows(self.settings.id, now, other_than=labeler)  # for a retry
            mode, rows, scores = proposal
        self.wait_ms["next_batch"] = 1000 * (time.perf_counter() - start)
        return self._batch(batch_id, mode, rows, scores)

    def current_batch(self, labeler: str) -> dict[str, Any] | None:
        """The undecided items of the labeler's open batch, as `next_batch` returns them; None when
        they have no open batch or every item of it is decided. Reads only: leases nothing, closes
        no round (what a GET may do)."""
        current = self.project.store.open_batch(self.settings.id, labeler, time.time())
        return self._undecided(current, self.effective())

    def _undecided(self, current: dict[str, Any] | None, effective: dict[int, Event]) -> dict[str, Any] | None:
        left = [i for i in current["items"] if i["row"] not in effective] if current is not None else []
        if not left:
            return None
        rows = np.array([i["row"] for i in left], dtype=np.int64)
        scores = np.array([np.nan if i["score"] is None else i["score"] for i in left])
        return self._batch(current["id"], current["mode"], rows, scores, current["round"])

    def _batch(
        self, batch_id: int | None, mode: str, rows: np.ndarray, scores: np.ndarray, round_: int | None = None
    ) -> dict[str, Any]:
        round_ = self.rounds if round_ is None else round_
        return {"batch": batch_id, "round": round_, "mode": mode, "items": self.project.items(rows, scores)}

    # -- labeling --------------------------------------------------------------------------
    def label(
        self,
        labeler: str,
        labels: Sequence[tuple[str, str]],
        batch: int | None = None,
        rest_negative: bool = False,
    ) -> int:
        """Record labels (item id, positive|negative|skip); returns how many events were written.

        Acknowledged only after COMMIT. The labels join the loop when their round closes: when
        `batch` (else the labeler's open batch) is complete, at once, in the background.
        Repeating an item's current label writes nothing (a
        double-submitted form is harmless); a different label is a relabel event superseding the
        old one. With `rest_negative`, every item of `batch` not labeled by now becomes negative.
        """
        start = time.perf_counter()
        wanted: dict[int, tuple[str, str]] = {}
        ids = [item_id for item_id, _ in labels]
        for (item_id, label), row in zip(labels, self.project.rows_of(ids).tolist(), strict=True):
            if label not in LABELS:
                raise InvalidParameterError(f"label of {item_id!r} must be one of {', '.join(LABELS)}, got {label!r}")
            if wanted.setdefault(row, (item_id, label))[1] != label:
                raise LabelConflictError(f"item {item_id!r} was given two different labels in one call")
        store = self.project.store
        if batch is not None:
            found = store.batch(batch)
            if found is None or found["concept_id"] != self.settings.id:
                raise UnknownNameError(f"batch {batch} is not a batch of concept {self.name!r}; ask for a new batch")
            if rest_negative:
                for item in found["items"]:
                    wanted.setdefault(item["row"], (item["item_id"], "negative"))
        elif rest_negative:
            raise InvalidParameterError("rest_negative needs the batch whose remaining items are negative")
        with self._write_lock:
            with store.transaction():  # read and append atomically
                self._refresh()
                effective = effective_events(self._events)
                if rest_negative:  # an item someone labeled meanwhile keeps that label
                    wanted = {r: v for r, v in wanted.items() if r not in effective or v[0] in ids}
                events = [
                    {"item_id": item_id, "row": row, "label": label, "labeler": labeler, "round": self.rounds,
                     "batch_id": batch, "supersedes": effective[row].id if row in effective else None}
                    for row, (item_id, label) in wanted.items()
                    if row not in effective or effective[row].label != label
                ]  # fmt: skip
                written = store.append_events(self.settings.id, events) if events else []
            self._events.extend(written)  # after COMMIT: a refused write leaves no trace in memory
        if written:
            self._close_if_complete(labeler, batch)
        self.wait_ms["label"] = 1000 * (time.perf_counter() - start)
        return len(written)

    def _close_if_complete(self, labeler: str, batch: int | None) -> None:
        """Close the batch as a round when its every item is decided. The labels are committed
        already: a disk that refuses the closing now is logged, not raised (the labels stay
        acknowledged), and the round closes at the labeler's next batch."""
        store = self.project.store
        try:
            found = (
                store.batch(batch) if batch is not None else store.open_batch(self.settings.id, labeler, time.time())
            )
            complete = found is not None and batch_complete(found["items"], self.effective())
            if complete and self._close(labeler, found["id"], free=False, reason="batch complete"):
                self.project.precompute(self, labeler)
        except StorageError as exc:
            log.warning("labels committed, closing their round deferred: %s", exc)

    def undo(self, labeler: str) -> dict[str, Any] | None:
        """Undo the labeler's latest label that is still in force; returns {id, label, row, event, text}
        (the text, so that a page no longer showing the item can say what was undone)."""
        with self._write_lock:
            with self.project.store.transaction():
                self._refresh()
                undone = {e.supersedes for e in self._events if e.label == "undo"}
                target = next(
                    (e for e in reversed(self._events) if e.labeler == labeler and e.label != "undo"
                     and e.id not in undone),
                    None,
                )  # fmt: skip
                if target is None:
                    return None
                event = {"item_id": target.item_id, "row": target.row, "label": "undo", "labeler": labeler,
                         "round": self.rounds, "batch_id": target.batch_id, "supersedes": target.id}  # fmt: skip
                written = self.project.store.append_events(self.settings.id, [event])
            self._events.extend(written)  # after COMMIT
        if target.id in self._closed:  # a told label taken back: the loop is rebuilt by replay
            self.project.precompute(self, labeler)
        text = self.project.item_table(np.array([target.row], dtype=np.int64))["text"].iloc[0]
        return {"id": target.item_id, "label": target.label, "row": target.row, "event": target.id, "text": text}

    def background(self, labeler: str | None = None) -> None:
        """The work done ahead once a round closed: sync, train and propose the labeler's next batch."""
        with self._lock:
            if self._training_labels(self.effective()):
                self._synced_model()
            leased = self.project.store.leased_rows(self.settings.id, time.time(), other_than=labeler)
            _, rows, _ = self._propose(self.settings.batch_size, leased)
            self.project.item_table(rows)  # read the items ahead too (cached)

    # -- finding items ---------------------------------------------------------------------
    def search(self, q: str | None = None, like: str | None = None, n: int = 20) -> list[Item]:
        """Pool items nearest to a free-text query (the dataset's embedder) or to an item (like=ID)."""
        if (q is None) == (like is None):
            raise InvalidParameterError("search needs exactly one of q (text) or like (an item id)")
        project = self.project
        if q is not None:
            vector, excluded = project.query_vector(q), set()
        else:
            row = int(project.rows_of([like])[0])
            vector, excluded = project.dataset.embeddings.take(np.array([row]))[0], {row}
        rows, sims = nearest(project.index, vector[None], n, excluded)
        return with_labels(project.items(rows, sims.astype(np.float64)), self.effective())

    def random_items(self, n: int = 10, split: str = "pool") -> list[Item]:
        """Random unlabeled items (random negatives; split="test" for a held-out set that
        measures `ap_test` without training on it)."""
        effective = self.effective()
        rng = np.random.default_rng([self.settings.seed, self.rounds, len(self._events), 7])
        rows = random_rows(self.project.dataset.split_rows(split), n, set(effective), rng)
        return self.project.items(rows, np.full(rows.size, np.nan))
