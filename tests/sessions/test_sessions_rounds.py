"""The loop round is the batch: labels are written one by one, but told to the loop as one round
when the batch is complete or a new batch is asked for; each closing is recorded in the log."""

from __future__ import annotations

import sqlite3

import pytest

from conftest import make_dataset
from sealsearch.sessions import Project
from sealsearch.sessions.labelstore import LabelStore
from sealsearch.sessions.schema import MIGRATIONS


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("rounds") / "data")


def _rare(dataset) -> list[str]:
    return [f"item{r}" for r in dataset.rows_in_split(dataset.concept_rows("rare"), "pool")]


def _model(session):
    """The session's synced loop, taken under its lock (the background worker may be replaying)."""
    with session._lock:
        return session._synced_model()


def _answer(dataset, item) -> str:
    return "positive" if item["row"] in set(dataset.concept_rows("rare").tolist()) else "negative"


def _active(tmp_path, dataset, **options):
    """A project whose concept is in active mode: 2 seed positives (round 0), 2 free negatives."""
    project = Project.init(tmp_path / "proj", dataset.path, factory="Flat")
    project.create_concept("rare", positives=_rare(dataset)[:2], batch_size=6, **options)
    c = project.concept("rare")
    c.label("alice", [("item0", "negative"), ("item1", "negative")])
    return project, c


def test_a_batch_labeled_item_by_item_is_one_round(tmp_path, dataset):
    project, c = _active(tmp_path, dataset)
    assert c.stats()["rounds"] == 1  # the seeds; the free negatives wait for the next batch request
    batch = c.next_batch("alice")  # closes the free negatives as round 1
    assert batch["mode"] == "active" and batch["round"] == 2 and c.rounds == 2
    model = _model(c)
    told = dict(model.told)
    for n, item in enumerate(batch["items"][:-1]):
        c.label("alice", [(item["id"], _answer(dataset, item))], batch=batch["batch"])
        again = c.next_batch("alice")  # the rest of the same batch, not a new one
        assert again["batch"] == batch["batch"] and again["items"] == batch["items"][n + 1 :]
        assert c.rounds == 2 and _model(c).told == told  # nothing told yet
    last = batch["items"][-1]
    c.label("alice", [(last["id"], _answer(dataset, last))], batch=batch["batch"])
    assert c.rounds == 3  # complete: one round, told once
    log = project.store.round_log(c.settings.id)
    assert [(r["round"], r["batch_id"], r["reason"], len(r["events"])) for r in log] == [
        (0, None, "seed", 2), (1, None, "new batch", 2), (2, batch["batch"], "batch complete", 6)
    ]  # fmt: skip
    rounds_told = {r for _, r in _model(c).told.values()}
    assert rounds_told == {0, 1, 2} and _model(c).loop.round == 3
    following = c.next_batch("alice")
    assert following["batch"] != batch["batch"] and following["round"] == 3
    project.close()


def test_asking_early_closes_the_partial_batch_and_the_free_labels(tmp_path, dataset):
    project, c = _active(tmp_path, dataset)
    batch = c.next_batch("alice")
    first, second = batch["items"][:2]
    c.label("alice", [(first["id"], _answer(dataset, first))], batch=batch["batch"])
    free = c.random_items(1)[0]
    c.label("alice", [(free["id"], "negative")])  # outside the batch
    c.label("alice", [(second["id"], "skip")], batch=batch["batch"])
    early = c.next_batch("alice", new=True)
    assert early["batch"] != batch["batch"] and not {i["id"] for i in early["items"]} & {free["id"], first["id"]}
    log = project.store.round_log(c.settings.id)[2:]
    assert [(r["batch_id"], r["reason"], len(r["events"])) for r in log] == [
        (batch["batch"], "new batch", 2), (None, "new batch", 1)
    ]  # fmt: skip
    assert _model(c).loop.skipped_rows.tolist() == [second["row"]]
    project.close()


def test_an_open_batch_keeps_its_items_out_of_other_proposals(tmp_path, dataset):
    project, c = _active(tmp_path, dataset)
    alice = c.next_batch("alice")
    c.label("alice", [(alice["items"][0]["id"], "negative")], batch=alice["batch"])
    bob = c.next_batch("bob")
    assert not {i["id"] for i in alice["items"]} & {i["id"] for i in bob["items"]}  # decided or leased
    assert c.next_batch("alice")["items"] == alice["items"][1:]
    for item in bob["items"]:  # bob finishes: his round closes, alice's open labels stay open
        c.label("bob", [(item["id"], _answer(dataset, item))], batch=bob["batch"])
    last = project.store.round_log(c.settings.id)[-1]
    assert (last["batch_id"], last["labeler"], len(last["events"])) == (bob["batch"], "bob", 6)
    project.close()


def test_undo_in_a_closed_round_rebuilds_and_in_an_open_one_tells_nothing(tmp_path, dataset):
    project, c = _active(tmp_path, dataset)
    batch = c.next_batch("alice")
    for item in batch["items"]:
        c.label("alice", [(item["id"], "negative")], batch=batch["batch"])
    model = _model(c)
    rebuilds = model.rebuilds
    assert c.undo("alice")["id"] == batch["items"][-1]["id"]  # in closed round 2
    assert _model(c).rebuilds == rebuilds + 1 and batch["items"][-1]["row"] not in _model(c).told
    again = c.next_batch("alice")  # the undone item is undecided again: same batch
    assert again["batch"] == batch["batch"] and [i["id"] for i in again["items"]] == [batch["items"][-1]["id"]]
    c.label("alice", [(again["items"][0]["id"], "positive")], batch=batch["batch"])
    assert project.store.round_log(c.settings.id)[-1]["events"] and c.rounds == 4
    project.close()


def test_a_version_1_log_migrates_one_round_per_label_call(tmp_path, dataset):
    """Projects written before closed rounds were recorded replay as they were: one round per call."""
    project, c = _active(tmp_path, dataset)
    project.close()
    db = tmp_path / "proj" / "project.sqlite"
    with sqlite3.connect(db) as conn:  # back to version 1
        conn.executescript(
            "DROP TABLE round_events; DROP TABLE closed_rounds; DELETE FROM migrations WHERE version = 2;"
        )
    store = LabelStore(db)
    assert [v for v, _ in store.migrations()] == list(range(1, len(MIGRATIONS) + 1))
    log = store.round_log(1)
    assert [(r["round"], r["reason"], len(r["events"])) for r in log] == [(0, "migrated", 2), (1, "migrated", 2)]
    store.close()
