"""Project and ConceptSession end to end on real SQLite files and small real datasets."""

from __future__ import annotations

import io
import json

import joblib
import numpy as np
import pandas as pd
import pytest

from conftest import make_dataset
from sealsearch.data.writer import write_dataset
from sealsearch.errors import InvalidDataError, InvalidParameterError, LabelConflictError, UnknownNameError
from sealsearch.sessions import Project


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("sessions") / "data")


@pytest.fixture
def project(tmp_path, dataset):
    project = Project.init(tmp_path / "proj", dataset.path)
    yield project
    project.close()


def _rare(dataset) -> list[str]:
    rows = dataset.rows_in_split(dataset.concept_rows("rare"), "pool")
    return [f"item{r}" for r in rows]


def _answer(dataset, items) -> list[tuple[str, str]]:
    rare = set(dataset.concept_rows("rare").tolist())
    return [(i["id"], "positive" if i["row"] in rare else "negative") for i in items]


def test_init_then_open_and_fingerprint_mismatch_refused(tmp_path, dataset):
    Project.init(tmp_path / "proj", dataset.path).close()
    with pytest.raises(InvalidParameterError, match="already a project"):
        Project.init(tmp_path / "proj", dataset.path)
    Project.open(tmp_path / "proj").close()
    other = make_dataset(tmp_path / "other", seed=1)
    Project.init(tmp_path / "p2", other.path).close()
    make_dataset(tmp_path / "other2", seed=2)
    db = tmp_path / "p2" / "project.sqlite"
    import sqlite3

    with sqlite3.connect(db) as conn:  # point the project at another dataset
        conn.execute("UPDATE meta SET value = ? WHERE key = 'dataset'", (str(tmp_path / "other2"),))
    with pytest.raises(InvalidDataError, match="does not match project"):
        Project.open(tmp_path / "p2")


def test_concepts_and_errors(project):
    row = project.create_concept("dog", positives=["item1"])
    assert row["positives"] == 1 and row["batch_size"] == 10 and row["k"] == 20 and row["strategy"] == "maxent"
    assert [c["name"] for c in project.concepts()] == ["dog"]
    with pytest.raises(UnknownNameError, match="did you mean 'dog'") as info:
        project.concept("dgo")
    assert info.value.http_status == 404
    with pytest.raises(UnknownNameError, match="item-nope"):
        project.create_concept("cat", positives=["item-nope"])
    assert [c["name"] for c in project.concepts()] == ["dog"]  # nothing written
    for bad in ({"strategy": "maxnet"}, {"pool": "seal"}):  # a bad parameter value (422), not a missing thing
        with pytest.raises(InvalidParameterError, match="did you mean") as info:
            project.create_concept("cat", **bad)
        assert info.value.http_status == 422 and not isinstance(info.value, UnknownNameError)
    with pytest.raises(InvalidParameterError, match="text search is unavailable"):
        project.create_concept("cat", query="a cat")  # embedder "test" is not in the registry
    c = project.concept("dog")
    with pytest.raises(LabelConflictError) as info:
        c.label("a", [("item2", "positive"), ("item2", "negative")])
    assert info.value.http_status == 409
    with pytest.raises(InvalidParameterError):
        c.label("a", [("item2", "maybe")])


def test_labels_relabel_undo_are_events(project):
    project.create_concept("c")
    c = project.concept("c")
    assert c.label("alice", [("item1", "positive"), ("item2", "negative"), ("item3", "skip")]) == 3
    assert c.label("alice", [("item1", "positive")]) == 0  # same label again: nothing written
    assert c.label("bob", [("item1", "negative")]) == 1  # relabel, by another labeler
    events = project.store.events(c.settings.id)
    assert events[-1].label == "negative" and events[-1].supersedes == events[0].id
    assert c.undo("bob") == {"id": "item1", "label": "negative", "row": 1, "event": events[-1].id, "text": "text 1"}
    frame = c.labels_frame()
    assert list(frame.columns) == ["id", "text", "uri", "concept", "label", "labeler", "time"]
    assert dict(zip(frame["id"], frame["label"], strict=True)) == {
        "item1": "positive",
        "item2": "negative",
        "item3": "skip",
    }
    assert c.undo("carol") is None
    s = c.stats()
    assert (s["labels"], s["positives"], s["negatives"], s["skipped"]) == (2, 1, 1, 1)


def test_search_mode_until_both_classes_then_active(project, dataset):
    rare = _rare(dataset)
    project.create_concept("rare", positives=rare[:1])
    c = project.concept("rare")
    first = c.next_batch("alice")
    assert first["mode"] == "search" and len(first["items"]) == 10
    seed = dataset.embeddings.take(np.array([int(rare[0][4:])]))[0]
    sims = dataset.embeddings.take(np.array([i["row"] for i in first["items"]])) @ seed
    assert sims.min() > 0.5  # neighbours of the positive, never orthogonal items
    assert [i["score"] for i in first["items"]] == sorted((i["score"] for i in first["items"]), reverse=True)
    c.label("alice", [(i["id"], "positive") for i in first["items"]], batch=first["batch"])
    assert c.next_batch("alice")["mode"] == "search"  # positives only: still their neighbours
    negative = c.random_items(1)[0]
    assert negative["row"] not in set(dataset.concept_rows("rare").tolist())
    c.label("alice", [(negative["id"], "negative")])
    second = c.next_batch("alice", new=True)  # the open (search) batch is closed early
    assert second["mode"] == "active" and second["round"] == 3
    assert not {i["id"] for i in second["items"]} & {i["id"] for i in first["items"]}
    c.label("alice", _answer(dataset, second["items"][:3]), batch=second["batch"], rest_negative=True)
    s = c.stats()
    assert s["labels"] == 22 and s["mode"] == "active" and s["curve"][-1] == [22, s["positives"]]
    assert s["pool_size"] > 0 and set(s["wait_ms"]) == {"next_batch", "label"}


def test_no_seed_gives_random_pool_items(project, dataset):
    project.create_concept("empty")
    batch = project.concept("empty").next_batch("alice", n=5)
    assert batch["mode"] == "search" and len(batch["items"]) == 5
    pool = set(dataset.split_rows("pool").tolist())
    assert all(i["row"] in pool and i["score"] is None for i in batch["items"])


def test_replay_after_reopen_proposes_the_same_batch(tmp_path, dataset):
    project = Project.init(tmp_path / "proj", dataset.path)
    project.create_concept("rare", positives=_rare(dataset)[:2])
    c = project.concept("rare")
    for _ in range(3):
        batch = c.next_batch("alice")
        c.label("alice", _answer(dataset, batch["items"]), batch=batch["batch"])
    c.undo("alice")  # forces a rebuild of the live loop too
    c.label("bob", [(_rare(dataset)[5], "positive")])  # a label outside any batch
    live = c.preview()
    project.close()
    reopened = Project.open(tmp_path / "proj")
    assert reopened.concept("rare").preview() == live
    assert live["mode"] == "active"
    reopened.close()


def test_two_labelers_get_disjoint_leased_batches(project, dataset):
    project.create_concept("rare", positives=_rare(dataset)[:1])
    c = project.concept("rare")
    a = c.next_batch("alice")
    assert c.next_batch("alice") == a  # asking again returns the open batch
    b = c.next_batch("bob")
    assert a["batch"] != b["batch"]
    assert not {i["id"] for i in a["items"]} & {i["id"] for i in b["items"]}
    c.label("alice", _answer(dataset, a["items"]), batch=a["batch"])
    c.label("bob", _answer(dataset, b["items"]), batch=b["batch"])
    assert c.stats()["labels"] == 21  # one log, one model


def test_leases_expire(tmp_path, dataset):
    project = Project.init(tmp_path / "proj", dataset.path, lease_s=0)
    project.create_concept("rare", positives=_rare(dataset)[:1])
    c = project.concept("rare")
    assert c.next_batch("alice")["items"] == c.next_batch("bob")["items"]
    project.close()


def test_top_model_bytes_and_ap(project, dataset):
    project.create_concept("rare", positives=_rare(dataset)[:3])
    c = project.concept("rare")
    with pytest.raises(InvalidParameterError):
        project.create_concept("rare")
    for _ in range(3):
        batch = c.next_batch("alice")
        c.label("alice", _answer(dataset, batch["items"]), batch=batch["batch"])
    test_rare = dataset.rows_in_split(dataset.concept_rows("rare"), "test")
    test_items = c.random_items(20, split="test")
    c.label("alice", [(f"item{r}", "positive") for r in test_rare] + _answer(dataset, test_items))
    assert c.stats()["ap_test"] > 0.5
    top = c.top(5)
    assert len(top) == 5 and top[0]["score"] >= top[-1]["score"]
    labeled = set(c.labels_frame()["id"])
    assert not {i["id"] for i in top} & labeled
    model = joblib.load(io.BytesIO(c.model_bytes()))
    proba = model.predict_proba(dataset.embeddings.take(np.array([r["row"] for r in top])))
    assert proba.shape == (5, 2)


def test_export_formats_and_empty_schema(tmp_path, project, dataset):
    for fmt in ("csv", "jsonl", "parquet"):
        out = project.export(tmp_path / f"empty.{fmt}", fmt)
        assert out.exists()
    assert pd.read_csv(tmp_path / "empty.csv").columns.tolist() == [
        "id",
        "text",
        "uri",
        "concept",
        "label",
        "labeler",
        "time",
    ]
    assert pd.read_parquet(tmp_path / "empty.parquet").columns.tolist()[:2] == ["id", "text"]
    assert (tmp_path / "empty.jsonl").read_text() == ""
    project.create_concept("a", positives=["item1"])
    project.create_concept("b")
    project.concept("b").label("bob", [("item2", "negative")])
    project.export(tmp_path / "all.csv", "csv")
    assert pd.read_csv(tmp_path / "all.csv")[["id", "concept", "label"]].values.tolist() == [
        ["item1", "a", "positive"], ["item2", "b", "negative"]
    ]  # fmt: skip
    project.export(tmp_path / "b.jsonl", "jsonl", concept="b")
    lines = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [(r["id"], r["text"], r["labeler"]) for r in lines] == [("item2", "text 2", "bob")]
    assert pd.read_parquet(project.export(tmp_path / "a.parquet", "parquet", "a"))["label"].tolist() == ["positive"]
    with pytest.raises(UnknownNameError):
        project.export(tmp_path / "x.xml", "xml")


WORDS = [
    "dog",
    "puppy",
    "hound",
    "cat",
    "kitten",
    "car",
    "truck",
    "bus",
    "train",
    "bicycle",
    "apple",
    "banana",
    "orange",
    "grape",
    "piano",
    "guitar",
    "violin",
    "drum",
    "river",
    "lake",
    "ocean",
    "mountain",
    "hill",
    "forest",
    "tree",
    "flower",
    "rose",
    "tulip",
    "house",
    "castle",
    "church",
    "school",
    "doctor",
    "nurse",
    "teacher",
    "student",
    "king",
    "queen",
    "prince",
    "computer",
    "keyboard",
    "mouse",
    "phone",
    "table",
    "chair",
    "sofa",
    "bed",
]


@pytest.fixture(scope="module")
def glove_dataset(tmp_path_factory):
    from sealsearch.embedders.glove import EMBEDDER_NAME, embed_texts

    items = pd.DataFrame({"id": WORDS, "text": WORDS, "split": "pool"})
    path = tmp_path_factory.mktemp("glove") / "words"
    return write_dataset(path, embed_texts(WORDS), name="words", embedder=EMBEDDER_NAME, items=items)


def test_query_seeding_proposes_the_query_neighbours(tmp_path, glove_dataset):
    from sealsearch.embedders.glove import embed_texts

    project = Project.init(tmp_path / "proj", glove_dataset.path)
    project.create_concept("pets", query="dog")
    c = project.concept("pets")
    batch = c.next_batch("alice", n=5)
    query = glove_dataset.project(embed_texts(["dog"])[0])
    expected = np.argsort(-(glove_dataset.embeddings.take(np.arange(len(WORDS))) @ query), kind="stable")[:5]
    assert [i["row"] for i in batch["items"]] == expected.tolist()
    assert batch["items"][0]["id"] == "dog" and batch["mode"] == "search"
    assert [i["id"] for i in c.search(q="dog", n=3)] == [WORDS[r] for r in expected[:3]]
    cat = glove_dataset.embeddings.take(np.array([WORDS.index("cat")]))[0]
    near_cat = np.argsort(-(glove_dataset.embeddings.take(np.arange(len(WORDS))) @ cat), kind="stable")[1:4]
    assert [i["id"] for i in c.search(like="cat", n=3)] == [WORDS[r] for r in near_cat]
    c.label("alice", [("dog", "positive"), ("piano", "negative")])
    assert c.next_batch("alice")["batch"] == batch["batch"]  # the open batch, until it is decided
    assert c.next_batch("alice", new=True)["mode"] == "active"
    project.close()


def test_two_processes_share_one_log(tmp_path, dataset):
    """A second Project on the same file (the web app next to the terminal) sees the other's
    concepts and labels before it writes, so rounds and supersedes stay consistent."""
    web = Project.init(tmp_path / "proj", dataset.path)
    terminal = Project.open(tmp_path / "proj")
    web.create_concept("rare", positives=_rare(dataset)[:1])
    assert [c["name"] for c in terminal.concepts()] == ["rare"]
    terminal.concept("rare").label("t", [("item7", "negative")])
    assert web.concept("rare").label("w", [("item7", "positive")]) == 1  # a relabel of the terminal's event
    events = web.store.events(web.concept("rare").settings.id)
    assert [e.round for e in events] == [0, 1, 1] and events[-1].supersedes == events[-2].id  # 0: the seeds
    assert terminal.concept("rare").preview() == web.concept("rare").preview()
    web.close()
    terminal.close()


def test_embedder_registry(monkeypatch):
    import sys

    from sealsearch.embedders import query_embedder
    from sealsearch.errors import MissingExtraError

    assert query_embedder("glove-6B-50d-mean").embed_query("dog").shape == (50,)
    with pytest.raises(InvalidParameterError, match="text search is unavailable.*item ids"):
        query_embedder("my-own-model")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if the extra were not installed
    with pytest.raises(MissingExtraError, match=r"sealsearch\[text\]"):
        query_embedder("all-MiniLM-L6-v2").embed_query("dog")


def test_acknowledged_labels_are_committed_and_threads_share_one_log(tmp_path, dataset):
    """Another connection sees a label as soon as `label` returns; labelers in threads (the web
    app's request pool) and the background worker never corrupt the log or the proposal."""
    import sqlite3
    import threading

    project = Project.init(tmp_path / "proj", dataset.path)
    project.create_concept("rare", positives=_rare(dataset)[:1])
    c = project.concept("rare")
    c.label("alice", [("item3", "negative")])
    with sqlite3.connect(tmp_path / "proj" / "project.sqlite") as other:
        assert other.execute("SELECT label FROM events WHERE item_id = 'item3'").fetchall() == [("negative",)]
    errors: list[BaseException] = []

    def work(labeler: str) -> None:
        try:
            for _ in range(3):
                batch = c.next_batch(labeler, n=5)
                c.label(labeler, _answer(dataset, batch["items"]), batch=batch["batch"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert c.stats()["labels"] == 2 + 3 * 3 * 5  # disjoint leases: every item labeled once
    live = c.preview()
    project.close()
    with Project.open(tmp_path / "proj") as reopened:
        assert reopened.concept("rare").preview() == live


def test_top_ranks_like_the_model_and_scans_the_pool_once_per_model(project, dataset):
    """top() is the exported model's ranking of the unlabeled pool; asking again, or after a label
    the model has not learned yet, reuses the cached pool scores instead of a new scan."""
    project.create_concept("rare", positives=_rare(dataset)[:3])
    c = project.concept("rare")
    for _ in range(2):
        batch = c.next_batch("alice")
        c.label("alice", _answer(dataset, batch["items"]), batch=batch["batch"])
    first = c.top(10)
    loop = c._model.loop
    scans = []
    predict = loop.predict_proba
    loop.predict_proba = lambda rows: scans.append(len(rows)) or predict(rows)

    def brute_force(n):
        model = joblib.load(io.BytesIO(c.model_bytes()))
        labeled = {int(i.removeprefix("item")) for i in c.labels_frame()["id"]}
        pool = np.array([r for r in dataset.split_rows("pool").tolist() if r not in labeled])
        p = model.predict_proba(dataset.embeddings.take(pool))[:, 1]
        return pool[np.lexsort((pool, -p))][:n].tolist()

    assert [i["row"] for i in first] == brute_force(10)
    assert [i["row"] for i in c.top(10)] == brute_force(10)
    c.label("alice", [(first[0]["id"], "positive")])  # in an open round: not learned yet
    after = c.top(10)
    assert after[0]["row"] == first[1]["row"] and first[0]["row"] not in {i["row"] for i in after}
    assert [i["row"] for i in after] == brute_force(10)
    assert scans == []  # both calls read the cached scores of the same trained model
