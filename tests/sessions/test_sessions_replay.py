"""A project's loop is a replay of its label log: reopening proposes what the live process
would have proposed, for every strategy; skips are loop state; the kNN source is the project's."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from conftest import make_dataset
from sealsearch.active.knn import build_knn_graph, open_or_build_index
from sealsearch.active.strategies import STRATEGY_NAMES
from sealsearch.cli.app import app
from sealsearch.errors import InvalidParameterError
from sealsearch.sessions import Project


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("replay") / "data")


def _rare(dataset) -> list[str]:
    return [f"item{r}" for r in dataset.rows_in_split(dataset.concept_rows("rare"), "pool")]


def _model(session):
    """The session's synced loop, taken under its lock (the background worker may be replaying)."""
    with session._lock:
        return session._synced_model()


def _answer(dataset, items, skip: int = 0) -> list[tuple[str, str]]:
    """Oracle labels for a batch, its first `skip` items skipped."""
    rare = set(dataset.concept_rows("rare").tolist())
    return [
        (i["id"], "skip" if n < skip else "positive" if i["row"] in rare else "negative") for n, i in enumerate(items)
    ]


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_reopened_project_proposes_the_live_next_batch_for_every_strategy(tmp_path, dataset, strategy):
    project = Project.init(tmp_path / "proj", dataset.path, factory="Flat")
    project.create_concept("rare", positives=_rare(dataset)[:2], strategy=strategy, batch_size=6)
    c = project.concept("rare")
    c.label("alice", [("item0", "negative"), ("item1", "negative")])  # both classes: active mode
    for round_ in range(3):
        batch = c.next_batch("alice")
        assert batch["mode"] == "active"
        c.label("alice", _answer(dataset, batch["items"], skip=round_ % 2), batch=batch["batch"])
    live = c.preview()
    project.close()
    with Project.open(tmp_path / "proj") as reopened:
        again = reopened.concept("rare")
        assert again.preview() == live
        assert again.next_batch("carol")["items"] == live["items"]


@pytest.mark.parametrize("strategy", ["maxent", "kcenter"])
def test_item_by_item_labels_replay_as_the_same_rounds(tmp_path, dataset, strategy):
    """One call per item (as the page sends them), batches asked for early, free labels, another
    labeler's batch left open and an undo in a closed round: reopening tells the recorded groups in
    the recorded order, so the loop and every labeler's next batch are the live ones."""
    project = Project.init(tmp_path / "proj", dataset.path, factory="Flat")
    project.create_concept("rare", positives=_rare(dataset)[:2], strategy=strategy, batch_size=6)
    c = project.concept("rare")
    c.label("alice", [("item0", "negative"), ("item1", "negative")])
    for round_ in range(4):
        batch = c.next_batch("alice", new=round_ == 2)
        items = batch["items"][:3] if round_ == 1 else batch["items"]
        for item_id, label in _answer(dataset, items, skip=round_ % 2):
            c.label("alice", [(item_id, label)], batch=batch["batch"])
        if round_ == 1:
            c.label("alice", [(c.random_items(1)[0]["id"], "negative")])
    bob = c.next_batch("bob")
    c.label("bob", _answer(dataset, bob["items"][:2]), batch=bob["batch"])  # bob's round stays open
    assert c.undo("alice")["event"] in c._closed
    model = _model(c)
    live = (c.preview(), c.next_batch("bob"), model.told, model.skipped, model.loop.round, c.rounds)
    log = project.store.round_log(c.settings.id)
    assert [r["reason"] for r in log] == ["seed", "new batch", "batch complete", "new batch", "new batch"] + [
        "batch complete"
    ] * 2
    project.close()
    with Project.open(tmp_path / "proj") as reopened:
        again = reopened.concept("rare")
        model = _model(again)
        state = (again.preview(), again.next_batch("bob"), model.told, model.skipped, model.loop.round, again.rounds)
        assert state == live
        assert reopened.store.round_log(again.settings.id) == log


def test_a_skipped_item_is_never_proposed_again_even_after_reopening(tmp_path, dataset):
    project = Project.init(tmp_path / "proj", dataset.path, factory="Flat")
    project.create_concept("rare", positives=_rare(dataset)[:2], batch_size=8)
    c = project.concept("rare")
    c.label("alice", [("item0", "negative")])
    batch = c.next_batch("alice")
    c.label("alice", _answer(dataset, batch["items"], skip=3), batch=batch["batch"])
    skipped = {item_id for item_id, label in _answer(dataset, batch["items"], skip=3) if label == "skip"}
    assert c.summary()["skipped"] == 3
    project.close()
    with Project.open(tmp_path / "proj") as reopened:
        again = reopened.concept("rare")
        assert sorted(_model(again).loop.skipped_rows.tolist()) == sorted(int(i.removeprefix("item")) for i in skipped)
        for _ in range(4):
            batch = again.next_batch("bob")
            assert not skipped & {i["id"] for i in batch["items"]}
            again.label("bob", _answer(dataset, batch["items"]), batch=batch["batch"])


def test_an_undone_skip_is_proposable_again(tmp_path, dataset):
    with Project.init(tmp_path / "proj", dataset.path, factory="Flat") as project:
        project.create_concept("rare", positives=_rare(dataset)[:2], batch_size=5)
        c = project.concept("rare")
        c.label("alice", [("item0", "negative")])
        first = c.preview()["items"][0]["id"]
        c.label("alice", [(first, "skip")])
        assert first not in {i["id"] for i in c.preview()["items"]}
        c.undo("alice")
        assert c.preview()["items"][0]["id"] == first


def test_the_project_knn_source_decides_the_graph(tmp_path):
    dataset = make_dataset(tmp_path / "ds")
    with pytest.raises(InvalidParameterError, match=r"seals index graph .* --k 20") as exc:
        Project.init(tmp_path / "p1", dataset.path, knn="graph", factory="Flat")
    assert "\n" not in str(exc.value) and not (tmp_path / "p1" / "project.sqlite").exists()
    result = CliRunner().invoke(
        app, ["project", "init", str(tmp_path / "p2"), "--dataset", str(dataset.path), "--knn", "graph"]
    )
    assert result.exit_code != 0 and "seals index graph" in result.output
    build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), 20)
    with Project.init(tmp_path / "p3", dataset.path, knn="graph", factory="Flat") as project:
        assert project.graph(20).k == 20
        with pytest.raises(InvalidParameterError, match="--k 50"):
            project.create_concept("rare", positives=_rare(dataset)[:1], k=50)
        assert project.concepts() == []
        project.create_concept("rare", positives=_rare(dataset)[:1])
        assert _model(project.concept("rare")).graph is project.graph(20)
    with Project.init(tmp_path / "p4", dataset.path, knn="index", factory="Flat") as project:
        assert project.graph(20) is None
    with Project.init(tmp_path / "p5", dataset.path, factory="Flat") as project:  # auto: the graph
        assert project.graph(10) is not None and project.graph(30) is None
