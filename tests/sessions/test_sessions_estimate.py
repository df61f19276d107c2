"""The labeling app's recall estimate: the model's until audit items are labeled, then the audit's."""

from __future__ import annotations

import sqlite3

import pytest

from conftest import make_dataset
from sealsearch.errors import InvalidParameterError
from sealsearch.sessions import Project


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("estimate") / "data")


def test_estimate_starts_from_the_model_and_the_audit_takes_over(tmp_path, dataset):
    rare = set(dataset.concept_rows("rare").tolist())
    pool_rare = [f"item{r}" for r in dataset.rows_in_split(dataset.concept_rows("rare"), "pool")]
    with Project.init(tmp_path / "proj", dataset.path) as project:
        project.create_concept("rare", positives=pool_rare[:2])
        c = project.concept("rare")
        c.next_batch("alice")  # the seed round is learned: positives only
        assert c.stats()["estimate"] is None and c.estimate() is None  # no estimate from one class
        with pytest.raises(InvalidParameterError):
            c.audit(0)
        c.label("alice", [(c.random_items(1)[0]["id"], "negative")])
        for _ in range(3):
            batch = c.next_batch("alice")
            c.label("alice", [(i["id"], "positive" if i["row"] in rare else "negative") for i in batch["items"]])
        model = c.estimate()
        assert model["method"] == "model" and model["audit_labels"] == 0
        assert 0 <= model["recall_lo"] <= model["recall"] <= model["recall_hi"] <= 1
        assert model["text"].startswith("≈ ") and "95%" in model["text"]
        items = c.audit(12)
        assert items and c.estimate()["audit_pending"] == len(items)
        c.label("alice", [(i["id"], "positive" if i["row"] in rare else "negative") for i in items])
        audited = c.stats()["estimate"]
        assert audited["method"] == "audit" and audited["audit_labels"] == len(items)
        assert audited["audit_pending"] == 0
        # audit labels are labels: recall's numerator counts every positive found, the audit's too
        assert audited["found"] == c.stats()["positives"]
        assert "confidence" in audited["text"] and "every look" in audited["guarantee"]
        assert audited["recall_lo"] < audited["recall_hi"] and "certify" in audited["certificate"]


def _with_bobs_batch_open(project, dataset):
    """A concept with two seed positives, one learned batch of alice's, and a batch leased to bob."""
    pool_rare = [f"item{r}" for r in dataset.rows_in_split(dataset.concept_rows("rare"), "pool")]
    project.create_concept("rare", positives=pool_rare[:2])
    c = project.concept("rare")
    c.label("alice", [(c.random_items(1)[0]["id"], "negative")])
    c.label("alice", [(i["id"], "negative") for i in c.next_batch("alice")["items"]])
    return c, c.next_batch("bob")["items"]  # leased to bob, not labeled


def test_audit_draws_never_take_an_item_of_an_open_batch(tmp_path, dataset):
    with Project.init(tmp_path / "proj", dataset.path) as project:
        c, held = _with_bobs_batch_open(project, dataset)
        open_batch = {i["id"] for i in held}
        drawn = {i["id"] for _ in range(5) for i in c.audit(40, labeler="alice")}
        assert open_batch and drawn and not open_batch & drawn


def test_audit_draws_are_kept_in_the_project_file_so_reopening_keeps_the_audit_estimate(tmp_path, dataset):
    rare = set(dataset.concept_rows("rare").tolist())
    pool_rare = [f"item{r}" for r in dataset.rows_in_split(dataset.concept_rows("rare"), "pool")]
    answer = lambda items: [(i["id"], "positive" if i["row"] in rare else "negative") for i in items]  # noqa: E731
    with Project.init(tmp_path / "proj", dataset.path) as project:
        project.create_concept("rare", positives=pool_rare[:2])
        c = project.concept("rare")
        c.label("alice", [(c.random_items(1)[0]["id"], "negative")])
        for _ in range(3):
            c.label("alice", answer(c.next_batch("alice")["items"]))
        items = c.audit(10, labeler="alice")
        c.label("alice", answer(items[:-1]))
        c.label("alice", [(items[-1]["id"], "skip")])  # a skipped audit item stays pending
        before = c.estimate()
        assert before["method"] == "audit" and before["audit_pending"] == 1
        assert [i["id"] for i in c.audit_pending()] == [items[-1]["id"]]
        drawn = project.store.query("SELECT COUNT(*) AS n, MIN(labeler) AS who FROM audit_draws")[0]
        assert drawn["n"] == 10 and drawn["who"] == "alice"  # draws with replacement: rows may repeat
        with pytest.raises(sqlite3.DatabaseError, match="append-only"), project.store.transaction() as db:
            db.execute("DELETE FROM audit_draws")
    with Project.open(tmp_path / "proj") as reopened:
        again = reopened.concept("rare")
        assert again.estimate() == before  # same method, same numbers
        assert again.stats()["estimate"]["method"] == "audit"
        more = again.audit(5)  # the next audit continues the sequence rather than repeating the first
        assert again.estimate()["audit_pending"] == len({items[-1]["id"]} | {i["id"] for i in more})


def test_rows_of_an_open_batch_held_out_of_an_audit_count_once_labeled(tmp_path, dataset):
    """The audit skips bob's open batch, so its rows are no part of the draws' support: until bob
    labels them each may be a positive (they widen the upper bound), and once labeled their
    positives join the base every draw of that audit estimates the pool total from."""
    import numpy as np

    from sealsearch.sessions import estimate as estimating

    rare = set(dataset.concept_rows("rare").tolist())
    with Project.init(tmp_path / "proj", dataset.path) as project:
        c, held = _with_bobs_batch_open(project, dataset)
        items = c.audit(15, labeler="alice")
        c.label("alice", [(i["id"], "positive" if i["row"] in rare else "negative") for i in items])

        def base_and_slack():
            log = estimating._log(
                c._audit_context(), c.effective(), estimating.SessionAudit().refresh(c._audit_context())
            )
            return np.concatenate(log.base), np.concatenate(log.slack)

        base_open, slack_open = base_and_slack()
        assert (slack_open == len(held)).all()
        assert (base_open == 2).all()  # the two seed positives were labeled before the audit
        c.label("bob", [(i["id"], "positive" if i["row"] in rare else "negative") for i in held])
        base_done, slack_done = base_and_slack()
        assert (slack_done == 0).all()
        assert (base_done - base_open == sum(i["row"] in rare for i in held)).all()


def test_the_estimate_scans_the_pool_outside_the_lock_so_the_next_batch_never_waits_for_it(tmp_path, dataset):
    """/stats scans the whole pool once per model (tens of seconds at 10^8); a batch asked for
    meanwhile is handed out at once, and the estimate then comes from the scan, unchanged."""
    import threading

    with Project.init(tmp_path / "proj", dataset.path) as project:
        c, _ = _with_bobs_batch_open(project, dataset)
        expected = c.stats()["estimate"]  # the scan of this model, cached
        model = c._synced_model(record=False)
        model._scored = None  # forget it: the next stats scans again
        scanning, release = threading.Event(), threading.Event()
        scan = model.score_pool

        def slow_scan(fitted):
            scanning.set()
            release.wait(30)
            return scan(fitted)

        model.score_pool = slow_scan
        answers = []
        reader = threading.Thread(target=lambda: answers.append(c.stats()))
        reader.start()
        assert scanning.wait(30)
        labeler = threading.Thread(target=c.next_batch, args=("carol",))
        labeler.start()
        labeler.join(10)
        done_while_scanning = not labeler.is_alive()
        release.set()
        reader.join(30)
        assert done_while_scanning  # the batch did not wait for the scan
        assert answers and answers[0]["estimate"]["positives"] == pytest.approx(expected["positives"])


def test_a_large_pool_is_scored_for_the_estimate_in_the_background(tmp_path, dataset, monkeypatch):
    """Above INLINE_SCAN_ROWS /stats never scans the pool itself: it starts one background scan and
    answers at once, with no estimate (the first model) or the last model's (marked updating)."""
    import time

    import sealsearch.sessions.replay as replay

    monkeypatch.setattr(replay, "INLINE_SCAN_ROWS", 0)  # every pool counts as large
    rare = set(dataset.concept_rows("rare").tolist())
    with Project.init(tmp_path / "proj", dataset.path) as project:
        c, _ = _with_bobs_batch_open(project, dataset)
        first = c.stats()
        assert first["estimate"] is None and first["estimate_updating"]

        def settled() -> dict:
            for _ in range(300):
                answer = c.stats()
                if not answer["estimate_updating"]:
                    return answer
                time.sleep(0.05)
            raise AssertionError("the background scan never ended")

        ready = settled()
        assert ready["estimate"] is not None and not ready["estimate"]["updating"]
        batch = c.next_batch("alice")
        c.label("alice", [(i["id"], "positive" if i["row"] in rare else "negative") for i in batch["items"]])
        c.next_batch("alice")  # the round is learned: a new model
        behind = c.stats()
        if behind["estimate_updating"]:  # the scan may already have ended on a fast machine
            assert behind["estimate"]["updating"] and "being scored" in behind["estimate"]["text"]
        fresh = settled()["estimate"]
        monkeypatch.setattr(replay, "INLINE_SCAN_ROWS", 10**12)  # the same model, scanned in the request
        c._synced_model(record=False)._scored = None
        assert c.stats()["estimate"]["positives"] == pytest.approx(fresh["positives"])


def test_the_estimate_under_the_lock_reads_only_the_labeled_rows_scores(tmp_path, dataset):
    """At 10^8 a masked copy of the pool's scores per /stats held the session's lock ~1 s: the
    sums are taken once per scan, outside it, and each look subtracts the labeled rows' part.
    The estimate is the same as from the whole masked pool."""
    import numpy as np

    from sealsearch.active.estimate import ScoreSums, model_estimate
    from sealsearch.sessions import estimate as estimating

    class Watched(np.ndarray):
        largest = 0

        def __getitem__(self, key):
            Watched.largest = max(Watched.largest, np.size(np.arange(self.size)[key]))
            return np.asarray(self)[key]

    with Project.init(tmp_path / "proj", dataset.path) as project:
        c, _ = _with_bobs_batch_open(project, dataset)
        model = c._synced_model(record=False)
        scores = model.pool_scores()
        ctx, effective = c._audit_context(), c.effective()
        got = estimating.estimate(ctx, effective, model, c._audit, scores.view(Watched), ScoreSums.of(scores))
        labeled = len([r for r, e in effective.items() if e.label != "skip" and r in set(ctx.pool.tolist())])
        assert 0 < Watched.largest <= labeled < scores.size
        mask = estimating._unlabeled_mask(ctx, effective)
        whole = model_estimate(got["found"], scores[mask])
        assert got["positives"] == pytest.approx(whole.positives)
        assert got["positives_hi"] == pytest.approx(whole.positives_hi)
