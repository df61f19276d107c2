"""The project file's schema: numbered migrations, and what SQLite failures mean to a user.

`MIGRATIONS[i]` is schema version i + 1. `LabelStore` applies each one in its own transaction
together with its row in the `migrations` table (the sqlite-utils / Datasette pattern), so a
file is always at a whole version; a file from a newer version is refused. Add a migration by
appending to the list, never by editing one that has shipped.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sealsearch.errors import InvalidDataError, ProjectBusyError, StorageError

MIGRATIONS: list[tuple[str, str]] = [
    (
        "initial schema",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE concepts (
            id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, strategy TEXT NOT NULL,
            pool TEXT NOT NULL, k INTEGER NOT NULL, batch_size INTEGER NOT NULL, query TEXT,
            seed INTEGER NOT NULL, created REAL NOT NULL);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, concept_id INTEGER NOT NULL REFERENCES concepts(id),
            item_id TEXT NOT NULL, row INTEGER NOT NULL,
            label TEXT NOT NULL CHECK (label IN ('positive', 'negative', 'skip', 'undo')),
            labeler TEXT NOT NULL, time REAL NOT NULL, round INTEGER NOT NULL, batch_id INTEGER,
            supersedes INTEGER REFERENCES events(id));
        CREATE INDEX events_by_concept ON events (concept_id, id);
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only: record an undo or a new label instead'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only: record an undo instead'); END;
        CREATE TABLE rounds (
            concept_id INTEGER NOT NULL REFERENCES concepts(id), round INTEGER NOT NULL,
            n_labeled INTEGER NOT NULL, n_positive INTEGER NOT NULL, pool_size INTEGER NOT NULL,
            t_select REAL NOT NULL, t_knn REAL NOT NULL, t_train REAL NOT NULL, created REAL NOT NULL,
            PRIMARY KEY (concept_id, round));
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY AUTOINCREMENT, concept_id INTEGER NOT NULL REFERENCES concepts(id),
            round INTEGER NOT NULL, mode TEXT NOT NULL, labeler TEXT NOT NULL, created REAL NOT NULL);
        CREATE TABLE batch_items (
            batch_id INTEGER NOT NULL REFERENCES batches(id), row INTEGER NOT NULL, item_id TEXT NOT NULL,
            position INTEGER NOT NULL, score REAL, lease_until REAL NOT NULL,
            PRIMARY KEY (batch_id, position));
        CREATE INDEX batch_items_by_lease ON batch_items (lease_until);
        """,
    ),
    (
        "closed rounds: a round is a group of label events, recorded when it is told to the loop",
        """
        CREATE TABLE closed_rounds (
            concept_id INTEGER NOT NULL REFERENCES concepts(id), round INTEGER NOT NULL, batch_id INTEGER,
            labeler TEXT NOT NULL, reason TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (concept_id, round));
        CREATE TABLE round_events (
            concept_id INTEGER NOT NULL REFERENCES concepts(id), round INTEGER NOT NULL,
            event_id INTEGER NOT NULL REFERENCES events(id), PRIMARY KEY (concept_id, event_id));
        CREATE INDEX round_events_by_round ON round_events (concept_id, round);
        INSERT INTO closed_rounds SELECT concept_id, round, MIN(batch_id), MIN(labeler), 'migrated', MAX(time)
            FROM events GROUP BY concept_id, round;
        INSERT INTO round_events SELECT concept_id, round, id FROM events WHERE label != 'undo';
        """,
    ),
    (
        "audit draws: the recall estimate's random sample of the unlabeled pool, kept across reopening",
        """
        CREATE TABLE audit_draws (
            id INTEGER PRIMARY KEY AUTOINCREMENT, concept_id INTEGER NOT NULL REFERENCES concepts(id),
            row INTEGER NOT NULL, item_id TEXT NOT NULL, q REAL NOT NULL CHECK (q > 0 AND q <= 1),
            labeler TEXT, created REAL NOT NULL);
        CREATE INDEX audit_draws_by_concept ON audit_draws (concept_id, id);
        CREATE TRIGGER audit_draws_no_update BEFORE UPDATE ON audit_draws
            BEGIN SELECT RAISE(ABORT, 'audit draws are append-only'); END;
        CREATE TRIGGER audit_draws_no_delete BEFORE DELETE ON audit_draws
            BEGIN SELECT RAISE(ABORT, 'audit draws are append-only'); END;
        """,
    ),
]


def check_version(path: Path, newest: int) -> None:
    """Refuse a project file whose newest applied migration is beyond this code's."""
    if newest > len(MIGRATIONS):
        raise InvalidDataError(
            f"{path}: schema version {newest} is newer than this sealsearch ({len(MIGRATIONS)}); "
            "upgrade sealsearch to open it"
        )


def statements(script: str) -> list[str]:
    """Split a migration script into statements (a trigger's BEGIN ... END; stays whole)."""
    statements, current = [], ""
    for line in script.strip().splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def is_busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock (by error code, else text)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    lowered = str(exc).lower()
    return "database is locked" in lowered or "database is busy" in lowered or "table is locked" in lowered


def storage_error(path: Path, exc: sqlite3.Error) -> InvalidDataError | StorageError:
    """A SQLite failure as one line naming the file and the fix: a damaged or foreign file is
    InvalidDataError, another process holding the write lock past the busy timeout is
    ProjectBusyError (retry), a disk that refuses (full, read-only, I/O) is StorageError."""
    reason = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return InvalidDataError(
            f"{path}: not a readable sealsearch project ({reason}); restore it from a backup or create a new project"
        )
    if is_busy(exc):
        return ProjectBusyError(
            f"{path}: the project is busy: another process holds its database for writing ({reason}); nothing "
            f"was recorded, retry in {ProjectBusyError.retry_after_s} s (or close the other program)"
        )
    lowered = reason.lower()
    if "full" in lowered:
        fix = "free disk space and retry; everything acknowledged before is kept"
    elif "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        fix = f"make {path.parent} and its files writable by this user, then retry"
    else:
        fix = "check the disk and retry; everything acknowledged before is kept"
    return StorageError(f"{path}: the disk refused the project's database ({reason}); {fix}")
