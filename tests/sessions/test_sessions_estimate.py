"""The labeling app's recall estimate: the model's until audit items are labeled, then the audit's."""

from __future__ import annotations

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
        assert c.estimate() is None or c.estimate()["method"] == "model"
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
        # recall's numerator counts positives found while labeling, not in the audit
        labeled_positives = c.stats()["positives"]
        audit_positives = sum(i["row"] in rare for i in items)
        assert audited["found"] == labeled_positives - audit_positives
