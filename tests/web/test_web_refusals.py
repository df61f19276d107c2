"""What the web app refuses, one class at a time, each walked over all its members:

- no error answer shows a server path (the project, the dataset, the media root);
- every integer of every request body is strict and bounded: JSON `true`, `1.0`, `"3"` and a number
  beyond SQLite's INTEGER are 422, never 500 nor the integer 1;
- concept names with control, bidi or zero-width characters, `/` or `\\` are refused by the library,
  the CLI and HTTP, each with one line;
- an existing concept is a 409, also when two processes create it at once (the store's UNIQUE
  constraint decides, not an earlier look);
- an unknown concept is a 404 on every route and a not-found page at /c/NAME.
"""

from __future__ import annotations

import threading
import typing

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from typer.testing import CliRunner

from sealsearch.cli import app as cli_app
from sealsearch.errors import ConceptExistsError, InvalidParameterError
from sealsearch.sessions import Project
from sealsearch.sessions.labelstore import LabelStore
from sealsearch.web import create_app, models
from web_support import Server

LABELER = "alice"
BAD_NAMES = {
    "control": "dog\x07",
    "newline": "dog\ncat",
    "delete": "dog\x7f",
    "slash": "dog/cat",
    "backslash": "dog\\cat",
    "dot": ".",
    "dots": "..",
    "zero-width space": "d\u200bog",
    "zero-width non-joiner": "d\u200cog",
    "zero-width joiner": "d\u200dog",
    "word joiner": "d\u2060og",
    "byte order mark": "\ufeffdog",
    "line separator": "d\u2028og",
    "paragraph separator": "d\u2029og",
    "unit separator": "d\x1fog",
    **{f"bidi U+{code:04X}": f"dog{chr(code)}" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))},
}


@pytest.fixture
def project(tmp_path, text_dataset):
    with Project.init(tmp_path / "project", dataset=text_dataset.path) as opened:
        opened.create_concept("dog", query="dog", batch_size=4)
        yield opened


@pytest.fixture
def client(project, tmp_path):
    (tmp_path / "media").mkdir()
    with TestClient(create_app(project, media_root=tmp_path / "media"), base_url="http://127.0.0.1") as test_client:
        yield test_client


def one_line(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["error"]
    assert message and "\n" not in message
    return message


def test_no_error_answer_shows_a_server_path(client, project, tmp_path):
    batch = client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
    label = {"labeler": LABELER, "labels": [{"id": "no-such-item", "label": "positive"}]}
    failures = [
        client.post("/api/concepts/dog/labels", json=label),
        client.get("/api/concepts/dog/search", params={"like": "no-such-item"}),
        client.post(
            "/api/concepts/dog/labels",
            json={**label, "labels": [{"id": batch["items"][0]["id"], "label": "skip"}], "batch": 999},
        ),
        client.get("/api/concepts/nope/stats"),
        client.get("/api/concepts/nope/export"),
        client.get("/media/nope.png"),
        client.get("/media/../../etc/passwd"),
        client.get("/api/concepts/dog/model"),
        client.post("/api/concepts", json={"name": "cat", "positives": ["no-such-item"]}),
        client.post("/api/concepts", json={"name": "dog"}),
        client.get("/no/such/page"),
    ]
    paths = {str(tmp_path), str(tmp_path.resolve()), str(project.dataset.path), str(project.dataset.path.resolve())}
    for response in failures:
        assert 400 <= response.status_code < 500, response.text
        assert not [p for p in paths if p in response.text], response.text
    assert "no-such-item" in failures[0].json()["error"]  # still names what was wrong


def int_fields() -> list[tuple[str, str]]:
    """(model, field) for every integer field of every request body in web/models.py."""
    found = []
    for name, model in vars(models).items():
        if isinstance(model, type) and issubclass(model, BaseModel) and model.model_config.get("extra") == "forbid":
            for field, info in model.model_fields.items():
                if int in typing.get_args(info.annotation) or info.annotation is int:
                    found.append((name, field))
    return found


REQUESTS = {  # model -> (path, a valid body): each integer field is then set to a wrong value
    "ConceptCreate": ("/api/concepts", {"name": "cat", "query": "cat"}),
    "LabelsIn": ("/api/concepts/dog/labels", {"labeler": LABELER, "labels": [{"id": "t00001", "label": "skip"}]}),
    "AuditIn": ("/api/concepts/dog/audit", {"labeler": LABELER}),
    "BatchIn": ("/api/concepts/dog/batch", {"labeler": LABELER}),
    "UndoIn": ("/api/concepts/dog/undo", {"labeler": LABELER}),
}


def test_every_integer_field_is_strict_and_bounded(client):
    fields = int_fields()
    assert {model for model, _ in fields} >= {"ConceptCreate", "LabelsIn", "AuditIn", "BatchIn"}
    for model, field in fields:
        path, body = REQUESTS[model]
        for wrong in (True, False, 1.0, "3", 2**63, -(2**63) - 1, 10**30):
            message = one_line(client.post(path, json={**body, field: wrong}), 422)
            assert message.startswith(field), message
    largest = client.post("/api/concepts/dog/labels", json={**REQUESTS["LabelsIn"][1], "batch": 2**63 - 1})
    assert "not a batch" in one_line(largest, 404)  # the largest id SQLite can hold: just unknown


def test_bad_concept_names_are_refused_by_the_library_the_cli_and_http(client, project):
    for kind, name in BAD_NAMES.items():
        with pytest.raises(InvalidParameterError) as refused:
            project.create_concept(name, query="dog")
        assert "\n" not in str(refused.value) and "concept name" in str(refused.value), kind
        message = one_line(client.post("/api/concepts", json={"name": name, "query": "dog"}), 422)
        assert message.startswith("name: concept name"), (kind, message)
        result = CliRunner().invoke(cli_app, ["label", str(project.path), "--concept", name, "--query", "dog"])
        assert result.exit_code != 0 and result.stderr.count("\n") == 1 and "concept name" in result.stderr, kind
    assert [c["name"] for c in project.concepts()] == ["dog"]
    assert client.post("/api/concepts", json={"name": "chien d'arrêt (FR) #2", "query": "dog"}).status_code == 201


def test_an_existing_concept_is_a_conflict_even_when_created_at_once(client, project):
    assert "exists" in one_line(client.post("/api/concepts", json={"name": "dog", "query": "dog"}), 409)
    with pytest.raises(ConceptExistsError):  # what a second process meets when it looked before the first wrote
        project.store.add_concept("dog", "maxent", "seals", 20, 10, None, 0)
    other = LabelStore(project.store.path)
    try:
        with pytest.raises(ConceptExistsError):
            other.add_concept("dog", "maxent", "seals", 20, 10, None, 0)
    finally:
        other.close()


def test_two_servers_creating_one_concept_at_once_answer_201_once_and_409_otherwise(tmp_path, text_dataset):
    Project.init(tmp_path / "project", dataset=text_dataset.path).close()
    with Server(tmp_path / "project") as first, Server(tmp_path / "project") as second:
        import httpx

        statuses: list[int] = []
        start = threading.Barrier(16)

        def create(url: str, name: str) -> None:
            start.wait()
            statuses.append(httpx.post(f"{url}/api/concepts", json={"name": name}, timeout=60).status_code)

        threads = [threading.Thread(target=create, args=((first, second)[i % 2].url, f"c{i // 8}")) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [201, 201] + [409] * 14, statuses


def test_an_unknown_concept_is_a_404_everywhere(client):
    for path in ("stats", "labels", "top", "audit", "export", "model", "random", "search?q=dog"):
        assert "unknown concept 'nope'" in one_line(client.get(f"/api/concepts/nope/{path}"), 404)
    assert one_line(client.post("/api/concepts/nope/batch", json={"labeler": LABELER}), 404)
    page = client.get("/c/nope")
    assert page.status_code == 404 and "No concept named" in page.text and "create_concept" not in page.text
