"""LabelStore guarantees on real SQLite files: migrations recorded, events append-only, durability settings."""

from __future__ import annotations

import sqlite3

import pytest

from sealsearch.errors import InvalidDataError
from sealsearch.sessions.labelstore import Event, LabelStore, effective_events
from sealsearch.sessions.schema import MIGRATIONS


def _event(store: LabelStore, concept: int, row: int, label: str, supersedes: int | None = None) -> Event:
    [written] = store.append_events(
        concept,
        [{"item_id": f"item{row}", "row": row, "label": label, "labeler": "a", "round": 0, "supersedes": supersedes}],
    )
    return written


@pytest.fixture
def store(tmp_path):
    store = LabelStore(tmp_path / "project.sqlite")
    yield store
    store.close()


def test_migrations_are_recorded_once_and_settings_are_durable(tmp_path, store):
    assert store.migrations() == [(i + 1, name) for i, (name, _) in enumerate(MIGRATIONS)]
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store.query("PRAGMA synchronous")[0][0] == 2  # FULL
    store.close()
    again = LabelStore(tmp_path / "project.sqlite")  # reopening applies nothing twice
    assert again.migrations() == [(i + 1, name) for i, (name, _) in enumerate(MIGRATIONS)]
    again.close()


def test_a_newer_schema_is_refused(tmp_path, store):
    with store.transaction() as db:
        db.execute("INSERT INTO migrations VALUES (99, 'future', 0)")
    store.close()
    with pytest.raises(InvalidDataError, match="newer"):
        LabelStore(tmp_path / "project.sqlite")


def test_events_are_append_only(store):
    concept = store.add_concept("c", "maxent", "seals", 20, 10, None, 0)
    event = _event(store, concept, 3, "positive")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"), store.transaction() as db:
        db.execute("UPDATE events SET label = 'negative' WHERE id = ?", (event.id,))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"), store.transaction() as db:
        db.execute("DELETE FROM events")
    assert store.events(concept) == [event]


def test_undo_supersedes_and_undoing_a_relabel_restores_the_label(store):
    concept = store.add_concept("c", "maxent", "seals", 20, 10, None, 0)
    first = _event(store, concept, 1, "positive")
    relabel = _event(store, concept, 1, "negative", supersedes=first.id)
    _event(store, concept, 2, "skip")
    assert {row: e.label for row, e in effective_events(store.events(concept)).items()} == {1: "negative", 2: "skip"}
    _event(store, concept, 1, "undo", supersedes=relabel.id)
    assert effective_events(store.events(concept))[1] == first
    _event(store, concept, 1, "undo", supersedes=first.id)
    assert 1 not in effective_events(store.events(concept))
    assert [e.label for e in store.events(concept)] == ["positive", "negative", "skip", "undo", "undo"]


def test_leases_exclude_other_labelers_until_they_expire(store):
    concept = store.add_concept("c", "maxent", "seals", 20, 10, None, 0)
    store.add_batch(concept, 0, "search", "alice", [(1, "item1", 0.5), (2, "item2", None)], 100.0, now=0.0)
    assert store.leased_rows(concept, 50.0, other_than="bob") == {1, 2}
    assert store.leased_rows(concept, 50.0, other_than="alice") == set()
    assert store.leased_rows(concept, 150.0, other_than="bob") == set()
    batch = store.open_batch(concept, "alice", 50.0)
    assert [i["item_id"] for i in batch["items"]] == ["item1", "item2"] and batch["mode"] == "search"
    store.add_batch(
        concept, 1, "active", "alice", [(3, "item3", 0.1)], lease_until=100.0, now=50.0
    )  # ends the first lease
    assert store.leased_rows(concept, 50.0, other_than="bob") == {3}


def test_every_error_has_an_http_status():
    from sealsearch import errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.SealsearchError)]
    assert all(c.http_status in (400, 404, 409, 422) for c in classes if not issubclass(c, errors.StorageError))
    assert errors.StorageError.http_status == 507  # the server's disk, not the request: full or read-only
    assert errors.ProjectBusyError.http_status == 503 and errors.ProjectBusyError.retry_after_s > 0  # retry soon
    assert errors.ConflictError.http_status == 409
    assert errors.UnknownNameError.http_status == 404 and errors.MissingFileError.http_status == 404
    assert errors.LabelConflictError.http_status == 409 and errors.InvalidParameterError.http_status == 422
