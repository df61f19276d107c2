"""Issue 20's app defects, checked through the real app (FastAPI TestClient over a real project
file): errors in a person's words, a real not-found page, what "What the model finds" shows,
search answers that carry labels, and the create form's strategy words."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from sealsearch.sessions import Project
from sealsearch.web import create_app

LABELER = "ann"
PYTHON_ADVICE = re.compile(r"project\.concept\(|create_concept|next_batch|Project\.|\^\[|\\w")


@pytest.fixture
def project(tmp_path, text_dataset):
    with Project.init(tmp_path / "project", dataset=text_dataset.path) as opened:
        opened.create_concept("dog", query="dog", batch_size=4)
        yield opened


@pytest.fixture
def client(project):
    with TestClient(create_app(project), base_url="http://127.0.0.1") as test_client:
        yield test_client


def error_of(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()["error"]


def test_errors_a_labeler_meets_are_in_plain_words(client):
    exists = error_of(client.post("/api/concepts", json={"name": "dog"}), 409)
    assert exists == "concept 'dog' exists already: open it from the list of concepts, or choose another name"
    odd = error_of(client.post("/api/concepts/dog/batch", json={"labeler": "ann smith"}), 422)
    assert odd == "labeler: use letters, digits and . _ @ + - only, no spaces (got 'ann smith')"
    item = client.get("/api/concepts/dog/random", params={"n": 1}).json()["items"][0]["id"]
    body = {"labeler": LABELER, "batch": 999, "labels": [{"id": item, "label": "positive"}]}
    stale = error_of(client.post("/api/concepts/dog/labels", json=body), 404)
    assert stale == "batch 999 is not a batch of concept 'dog'; ask for a new batch"
    for message in (exists, odd, stale):
        assert not PYTHON_ADVICE.search(message), message


def test_an_unknown_concept_page_is_a_404_page_in_words(client):
    page = client.get("/c/dgo")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "No concept named “dgo”" in page.text and "Did you mean “dog”?" in page.text
    assert 'href="/c/dog"' in page.text and not PYTHON_ADVICE.search(page.text) and "seals label" not in page.text
    nowhere = client.get("/c/a/b", headers={"accept": "text/html"})  # a name with '/' is no page: an HTML 404
    assert (
        nowhere.status_code == 404 and "Page not found" in nowhere.text and "There is no page at /c/a/b" in nowhere.text
    )
    api = client.get("/api/nothing/here")  # scripts still get the one-line JSON answer
    assert api.status_code == 404 and api.json()["error"].startswith("/api/nothing/here: no such page or endpoint")


def label_first_batch(client) -> list[str]:
    batch = client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
    ids = [item["id"] for item in batch["items"]]
    labels = [{"id": i, "label": "positive" if n % 2 == 0 else "negative"} for n, i in enumerate(ids)]
    body = {"labeler": LABELER, "batch": batch["batch"], "labels": labels}
    assert client.post("/api/concepts/dog/labels", json=body).json()["acknowledged"] == len(ids)
    return ids


def test_search_answers_carry_labels_and_the_model_finds_only_unlabeled_items(client):
    ids = label_first_batch(client)
    found = client.get("/api/concepts/dog/search", params={"q": "dog", "n": 40}).json()["items"]
    by_id = {item["id"]: item["label"] for item in found}
    assert {by_id[i] for i in ids} == {"positive", "negative"}
    assert [by_id[i] for i in ids] == ["positive", "negative"] * (len(ids) // 2)
    assert any(label is None for label in by_id.values())
    like = client.get("/api/concepts/dog/search", params={"like": ids[0], "n": 40}).json()["items"]
    assert {item["label"] for item in like if item["id"] in ids} <= {"positive", "negative"}
    assert all(item["label"] is None for item in like if item["id"] not in ids)

    top = client.get("/api/concepts/dog/top", params={"n": 200}).json()["items"]
    assert top and not {item["id"] for item in top} & set(ids)  # already so before issue 20: kept by this test
    assert all(item["label"] is None for item in top)


def test_the_create_form_offers_strategies_in_words_finding_first(client):
    from sealsearch.active.strategies import STRATEGIES

    home = client.get("/").text
    assert re.search(r'<option value="mlp" selected[^>]*>Find as many as possible \(most likely positive first\)', home)
    assert re.search(r'<option value="maxent"[^>]*>Train the best classifier \(most uncertain first\)', home)
    for name, spec in STRATEGIES.items():  # one source: every entry's words come from the registry
        assert f"{spec.description[0].upper()}{spec.description[1:]} · {spec.label}" in home, name
    assert ">default<" not in home.lower() and "(default)" not in home.lower()
    options = client.get("/api/options").json()
    assert options["defaults"]["strategy"] == "mlp" and options["defaults"]["library_strategy"] == "maxent"
    created = client.post("/api/concepts", json={"name": "cat"}).json()  # a script naming no strategy: as before
    assert created["strategy"] == "maxent"


def test_stats_say_whether_there_is_a_test_split_and_how_far_the_text_model_is(client, text_dataset):
    stats = client.get("/api/concepts/dog/stats").json()
    assert stats["test_items"] == text_dataset.split_rows("test").size > 0  # the page hides AP when 0
    assert stats["text_search"] == "ready"  # the concept's query loaded it (a server warms it up at start)
