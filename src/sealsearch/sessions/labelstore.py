"""The label log of a project: one SQLite file, append-only events, numbered migrations.

Guarantees (tested in tests/sessions/test_sessions_store.py):

- Durable on acknowledgement: WAL with `synchronous=FULL`, so a label call returns only after
  its COMMIT reached the disk; a crash right after an acknowledged label loses nothing. NORMAL
  would save the fsync of each label call: measured 1.8 ms (FULL) vs 0.05 ms (NORMAL) per
  acknowledged call on this machine's disk, nothing next to a person's ~1 s per item.
- Append-only history: `events` rows are never updated or deleted (triggers RAISE). An undo or a
  relabel is a new event whose `supersedes` names the earlier event, so the history is auditable.
- Effective label of an item = its latest *active* label event (positive/negative/skip), where an
  event stops being active when an undo event supersedes it. Undoing a relabel therefore brings
  back the previous label.
- Thread safety: one connection shared by the request threads and the project's background
  worker, every statement under one lock; each write is one transaction.
- Rounds: a round is a group of label events told to the concept's loop as one `tell`. Its
  closing is recorded (`closed_rounds`: round number, batch, labeler, why; `round_events`: its
  events), so a replay tells exactly the groups the live process told, in the same order.
- Audit draws (`audit_draws`, append-only like events): the recall estimate's random sample of
  the unlabeled pool, so reopening a project keeps the audit estimate (sessions.estimate).
- Schema versions (sessions/schema.py): `MIGRATIONS[i]` is version i + 1, applied in its own transaction together with
  its row in `migrations`; opening a file from a newer version is refused.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealsearch.errors import ConceptExistsError, InvalidDataError
from sealsearch.sessions.schema import MIGRATIONS, check_version, statements, storage_error

LABELS = ("positive", "negative", "skip")
BUSY_TIMEOUT_S = 3.0  # a write waits this long for another process's lock, then ProjectBusyError (503, retry)
EVENT_KINDS = (*LABELS, "undo")


@dataclass(frozen=True)
class Event:
    """One row of `events`."""

    id: int
    item_id: str
    row: int
    label: str
    labeler: str
    time: float
    round: int
    batch_id: int | None
    supersedes: int | None


def concept_exists(name: str) -> str:
    return f"concept {name!r} exists already: open it from the list of concepts, or choose another name"


def effective_events(events: Sequence[Event]) -> dict[int, Event]:
    """row -> its effective label event (see the module docstring), in event order."""
    undone = {e.supersedes for e in events if e.label == "undo"}
    latest: dict[int, Event] = {}
    for event in events:
        if event.label != "undo" and event.id not in undone:
            latest.pop(event.row, None)  # re-insert so the dict stays ordered by effective event id
            latest[event.row] = event
    return latest


def check_ours(path: Path, tables: set[str], *, create: bool) -> None:
    """Refuse a database with `tables` that is not a sealsearch project: another program's, or
    (unless `create`) an empty one, which a read command must not turn into a project."""
    if tables and "migrations" not in tables:
        raise InvalidDataError(
            f"{path}: a SQLite database of another program (tables {', '.join(sorted(tables)[:3])}), "
            "not a sealsearch project; move it away or create the project elsewhere"
        )
    if not tables and not create:
        what = "an empty file" if not path.stat().st_size else "a database without tables"
        raise InvalidDataError(
            f"{path}: not a sealsearch project ({what}); restore it from a backup, or remove it and run "
            "`seals project init`"
        )


class LabelStore:
    """The project's SQLite file: meta, concepts, the event log, rounds and leased batches."""

    def __init__(self, path: str | Path, *, create: bool = True):
        """Open (and migrate) the project database at `path`; with `create=False` a file that is
        not one already (zero bytes, or a database without a sealsearch schema) is refused before
        anything is written into it."""
        self.path = Path(path)
        self.create = create
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from None
        try:
            self._db.row_factory = sqlite3.Row
            self._check_ours()  # before the first write (even the WAL switch rewrites the header)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise storage_error(self.path, exc) from None
        except BaseException:
            self._db.close()
            raise

    def _check_ours(self) -> None:
        """Refuse, before writing anything, a SQLite file that belongs to something else."""
        tables = {row["name"] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        check_ours(self.path, tables, create=self.create)

    # -- plumbing --------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the lock; the block's writes land together or not at all.

        Nested blocks (in the same thread, which holds the lock) join the outer transaction, so a
        caller can read the log and append to it atomically even against another process."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise storage_error(self.path, exc) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise storage_error(self.path, exc) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT, applied REAL)")
        applied = {row["version"] for row in self.query("SELECT version FROM migrations")}
        check_version(self.path, max(applied, default=0))
        for version, (name, sql) in enumerate(MIGRATIONS, start=1):
            if version in applied:
                continue
            with self.transaction() as db:
                for statement in statements(sql):
                    db.execute(statement)
                db.execute("INSERT INTO migrations VALUES (?, ?, ?)", (version, name, time.time()))

    def migrations(self) -> list[tuple[int, str]]:
        return [(r["version"], r["name"]) for r in self.query("SELECT * FROM migrations ORDER BY version")]

    # -- meta ------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.query("SELECT key, value FROM meta")}

    def set_meta(self, values: dict[str, str]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    # -- concepts --------------------------------------------------------------------------
    def add_concept(
        self, name: str, strategy: str, pool: str, k: int, batch_size: int, query: str | None, seed: int
    ) -> int:
        """The new concept's id; ConflictError when the name exists (another process may have
        created it since the caller looked: the UNIQUE constraint decides, not the look)."""
        try:
            with self.transaction() as db:
                cursor = db.execute(
                    "INSERT INTO concepts (name, strategy, pool, k, batch_size, query, seed, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, strategy, pool, k, batch_size, query, seed, time.time()),
                )
                return int(cursor.lastrowid)
        except sqlite3.IntegrityError:
            raise ConceptExistsError(concept_exists(name)) from None

    def concepts(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.query("SELECT * FROM concepts ORDER BY id")]

    # -- events ----------------------------------------------------------------------------
    def append_events(self, concept_id: int, events: Sequence[dict[str, Any]]) -> list[Event]:
        """Append events (dicts with item_id, row, label, labeler, round, batch_id, supersedes) in
        one transaction; returns them with ids and times once COMMIT has returned."""
        now = time.time()
        written = []
        with self.transaction() as db:
            for e in events:
                cursor = db.execute(
                    "INSERT INTO events (concept_id, item_id, row, label, labeler, time, round, batch_id, supersedes) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (concept_id, e["item_id"], e["row"], e["label"], e["labeler"], now, e["round"],
                     e.get("batch_id"), e.get("supersedes")),
                )  # fmt: skip
                written.append(Event(int(cursor.lastrowid), e["item_id"], int(e["row"]), e["label"], e["labeler"],
                                     now, int(e["round"]), e.get("batch_id"), e.get("supersedes")))  # fmt: skip
        return written

    def events(self, concept_id: int, after: int = 0) -> list[Event]:
        """The concept's events with id > `after`, in order (`after` lets a process catch up with
        what another process appended)."""
        rows = self.query(
            "SELECT id, item_id, row, label, labeler, time, round, batch_id, supersedes FROM events "
            "WHERE concept_id = ? AND id > ? ORDER BY id",
            (concept_id, after),
        )
        return [Event(*tuple(r)) for r in rows]

    # -- rounds ----------------------------------------------------------------------------
    def record_round(self, concept_id: int, round_: int, stats: dict[str, float]) -> None:
        """One row per (concept, round), written the first time the round's model is trained."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (concept_id, round_, stats["n_labeled"], stats["n_positive"], stats["pool_size"],
                 stats["t_select"], stats["t_knn"], stats["t_train"], time.time()),
            )  # fmt: skip

    def rounds(self, concept_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.query("SELECT * FROM rounds WHERE concept_id = ? ORDER BY round", (concept_id,))]

    def close_round(
        self, concept_id: int, event_ids: Sequence[int], batch_id: int | None, labeler: str, reason: str
    ) -> int:
        """Record a closed round made of `event_ids`; returns its number (0, 1, ... per concept)."""
        with self.transaction() as db:
            (last,) = db.execute("SELECT MAX(round) FROM closed_rounds WHERE concept_id = ?", (concept_id,)).fetchone()
            round_ = 0 if last is None else int(last) + 1
            db.execute(
                "INSERT INTO closed_rounds VALUES (?, ?, ?, ?, ?, ?)",
                (concept_id, round_, batch_id, labeler, reason, time.time()),
            )
            db.executemany("INSERT INTO round_events VALUES (?, ?, ?)", [(concept_id, round_, e) for e in event_ids])
        return round_

    def closed_rounds(self, concept_id: int, after: int = -1) -> tuple[int, dict[int, int]]:
        """(number of closed rounds, {event id: round} of the rounds numbered above `after`)."""
        with self._lock:  # both reads see the same state (storage errors mapped by `query`)
            ((last,),) = self.query("SELECT MAX(round) FROM closed_rounds WHERE concept_id = ?", (concept_id,))
            members = self.query(
                "SELECT event_id, round FROM round_events WHERE concept_id = ? AND round > ?", (concept_id, after)
            )
        return (0 if last is None else int(last) + 1), {r["event_id"]: r["round"] for r in members}

    def round_log(self, concept_id: int) -> list[dict[str, Any]]:
        """Every closed round with its event ids, in order (what a replay tells)."""
        rounds = self.query("SELECT * FROM closed_rounds WHERE concept_id = ? ORDER BY round", (concept_id,))
        members = self.query(
            "SELECT round, event_id FROM round_events WHERE concept_id = ? ORDER BY round, event_id", (concept_id,)
        )
        events: dict[int, list[int]] = {}
        for r in members:
            events.setdefault(r["round"], []).append(r["event_id"])
        return [{**dict(r), "events": events.get(r["round"], [])} for r in rounds]

    # -- audit draws -----------------------------------------------------------------------
    def add_audit_draws(
        self, concept_id: int, draws: Sequence[tuple[int, str, float]], labeler: str | None = None
    ) -> None:
        """Append one audit's draws (row, item id, draw probability q), in draw order; a row drawn
        twice is two draws (the audit samples with replacement)."""
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO audit_draws (concept_id, row, item_id, q, labeler, created) VALUES (?, ?, ?, ?, ?, ?)",
                [(concept_id, int(row), item_id, float(q), labeler, now) for row, item_id, q in draws],
            )

    def audit_draws(self, concept_id: int, after: int = 0) -> list[tuple[int, int, float, float]]:
        """The concept's audit draws with id > `after` as (id, row, q, created), in draw order."""
        rows = self.query(
            "SELECT id, row, q, created FROM audit_draws WHERE concept_id = ? AND id > ? ORDER BY id",
            (concept_id, after),
        )
        return [(int(r["id"]), int(r["row"]), float(r["q"]), float(r["created"])) for r in rows]

    # -- batches and leases ----------------------------------------------------------------
    def add_batch(
        self, concept_id: int, round_: int, mode: str, labeler: str, items: Sequence[tuple[int, str, float | None]],
        lease_until: float, now: float | None = None,
    ) -> int | None:  # fmt: skip
        """A batch handed to `labeler`: its items (row, id, score) are leased to them until
        `lease_until`; the labeler's earlier leases in this concept end `now`. None (nothing
        written) when another labeler holds a lease on one of the rows (another process's batch)."""
        now = time.time() if now is None else now
        with self.transaction() as db:
            if not self.leased_rows(concept_id, now, other_than=labeler).isdisjoint(row for row, _, _ in items):
                return None
            db.execute(
                "UPDATE batch_items SET lease_until = ? WHERE lease_until > ? AND batch_id IN "
                "(SELECT id FROM batches WHERE concept_id = ? AND labeler = ?)",
                (now, now, concept_id, labeler),
            )
            cursor = db.execute(
                "INSERT INTO batches (concept_id, round, mode, labeler, created) VALUES (?, ?, ?, ?, ?)",
                (concept_id, round_, mode, labeler, now),
            )
            batch_id = int(cursor.lastrowid)
            db.executemany(
                "INSERT INTO batch_items VALUES (?, ?, ?, ?, ?, ?)",
                [(batch_id, row, item_id, pos, score, lease_until) for pos, (row, item_id, score) in enumerate(items)],
            )
        return batch_id

    def batch(self, batch_id: int) -> dict[str, Any] | None:
        found = self.query("SELECT * FROM batches WHERE id = ?", (batch_id,))
        if not found:
            return None
        items = self.query("SELECT * FROM batch_items WHERE batch_id = ? ORDER BY position", (batch_id,))
        return {**dict(found[0]), "items": [dict(r) for r in items]}

    def open_batch(self, concept_id: int, labeler: str, now: float) -> dict[str, Any] | None:
        """The labeler's latest batch in the concept if its lease is still running."""
        found = self.query(
            "SELECT b.id FROM batches b JOIN batch_items i ON i.batch_id = b.id WHERE b.concept_id = ? "
            "AND b.labeler = ? AND i.lease_until > ? ORDER BY b.id DESC LIMIT 1",
            (concept_id, labeler, now),
        )
        return self.batch(found[0]["id"]) if found else None

    def live_batches(self, concept_id: int, now: float, *, other_than: str | None = None) -> set[int]:
        """Ids of the concept's batches with a running lease (handed to anyone but `other_than`)."""
        rows = self.query(
            "SELECT DISTINCT b.id FROM batches b JOIN batch_items i ON i.batch_id = b.id "
            "WHERE b.concept_id = ? AND i.lease_until > ? AND b.labeler IS NOT ?",
            (concept_id, now, other_than),
        )
        return {r["id"] for r in rows}

    def leased_rows(self, concept_id: int, now: float, *, other_than: str | None = None) -> set[int]:
        """Rows leased (to anyone but `other_than`) in the concept at time `now`."""
        rows = self.query(
            "SELECT i.row FROM batch_items i JOIN batches b ON i.batch_id = b.id "
            "WHERE b.concept_id = ? AND i.lease_until > ? AND b.labeler IS NOT ?",
            (concept_id, now, other_than),
        )
        return {r["row"] for r in rows}
