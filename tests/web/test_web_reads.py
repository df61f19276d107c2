"""GETs change nothing: every GET route of the app, called with realistic parameters (and with the
old `new=true` of the batch GET, which used to reserve a batch from a cross-site <img>), leaves
every table of the project's SQLite file and the session's state as they were. Reserving a batch is
a POST, behind the same CSRF check as every write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from sealsearch.sessions import Project
from sealsearch.web import create_app

LABELER = "alice"


@pytest.fixture
def labeled(tmp_path, text_dataset):
    """A concept with a closed round, audit draws, alice's half-decided open batch, and an image."""
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.png").write_bytes(b"\x89PNG fake")
    with Project.init(tmp_path / "project", dataset=text_dataset.path) as project:
        ids = text_dataset.items["id"].tolist()
        dogs = set(text_dataset.items["id"].iloc[text_dataset.concept_rows("dog")])
        with TestClient(create_app(project, media_root=media), base_url="http://127.0.0.1") as client:
            client.post("/api/concepts", json={"name": "dog", "query": "dog", "batch_size": 6})
            for _ in range(2):  # two whole batches: rounds closed, a model trained
                batch = client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
                send(client, [(i["id"], "positive" if i["id"] in dogs else "negative") for i in batch["items"]])
            send(client, [(ids[-1], "negative")])  # a label outside any batch: an open round
            assert client.post("/api/concepts/dog/audit", json={"labeler": LABELER, "n": 3}).status_code == 200
            batch = client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
            send(client, [(batch["items"][0]["id"], "skip")], batch["batch"])
            project.precompute(project.concept("dog")).result()  # background work done: the file is at rest
            yield project, client, batch


def send(client, labels: list[tuple[str, str]], batch: int | None = None) -> None:
    body = {"labeler": LABELER, "labels": [{"id": i, "label": label} for i, label in labels], "batch": batch}
    assert client.post("/api/concepts/dog/labels", json=body).status_code == 200


def file_contents(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table (sqlite_sequence included), read through a connection of its own."""
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        contents = {table: sorted(db.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr) for table in tables}
    db.close()
    return contents


def session_state(project: Project) -> tuple:
    session = project.concept("dog")
    return session.rounds, len(session._events), sorted(session._closed.items()), session.preview()


PARAMETERS = {  # a realistic value for every query parameter of every GET route
    "labeler": LABELER,
    "n": "5",
    "new": "true",
    "q": "dog",
    "like": None,  # the first labeled item's id, filled in by the test
    "split": "test",
    "format": "csv",
    "token": "wrong",
}
PATH_VALUES = {"c": "dog", "path": "a.png"}


def every_route(routes):
    """The app's routes, those of included routers too (FastAPI keeps an included router as one
    entry holding the `original_router`; none is included with an extra prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from every_route(inner.routes) if inner is not None else [route]


def get_calls(app, like: str) -> list[tuple[str, dict[str, str]]]:
    """(path, params) for every GET route: once with its required parameters only, once with all."""
    calls = []
    for route in every_route(app.routes):
        if isinstance(route, Mount):
            calls.append((f"{route.path}/{'app.css' if route.name == 'static' else 'swagger-ui.css'}", {}))
            continue
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        path = route.path_format.format(**{name: PATH_VALUES[name] for name in route.param_convertors})
        dependant = getattr(route, "dependant", None)
        query = dependant.query_params if dependant is not None else []
        values = {**PARAMETERS, "like": like}
        missing = [p.name for p in query if p.name not in values]
        assert not missing, f"{route.path}: give a realistic value for {missing} in PARAMETERS"
        required = {p.name: values[p.name] for p in query if p.field_info.is_required()}
        calls.append((path, required))
        calls.append((path, {**required, **{p.name: values[p.name] for p in query}}))
    return calls


def test_every_get_route_changes_nothing(labeled):
    project, client, batch = labeled
    like = batch["items"][0]["id"]
    database = project.path / "project.sqlite"
    before, state = file_contents(database), session_state(project)
    calls = get_calls(client.app, like)
    answers = {}
    for path, params in calls + [("/api/concepts/dog/batch", {"labeler": "bob"})]:  # bob has no open batch
        response = client.get(path, params=params)
        assert response.status_code < 500, (path, params, response.text)
        answers[(path, tuple(sorted(params)))] = answers.get((path, tuple(sorted(params)))) or response.status_code
        assert file_contents(database) == before, f"GET {path} {params} changed the project file"
        assert session_state(project) == state, f"GET {path} {params} changed the session"
    assert len({path for path, _ in calls}) >= 15  # every API route, the pages, /docs, /media, the mounts
    assert answers[("/api/concepts/dog/batch", ("labeler",))] == 200  # alice's open batch, read
    assert answers[("/api/concepts/dog/batch", ("labeler", "n", "new"))] == 422  # would reserve: refused


def test_the_batch_get_reads_the_open_batch_and_says_to_post_otherwise(labeled):
    project, client, batch = labeled
    read = client.get("/api/concepts/dog/batch", params={"labeler": LABELER})
    assert read.status_code == 200 and read.json()["batch"] == batch["batch"]
    assert read.json()["items"] == batch["items"][1:]  # the undecided ones, as POST would answer
    assert client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json() == read.json()
    for params, status in (({"labeler": "bob"}, 409), ({"labeler": LABELER, "new": "true"}, 422)):
        answer = client.get("/api/concepts/dog/batch", params=params)
        assert answer.status_code == status, answer.text
        assert "POST /api/concepts/dog/batch" in answer.json()["error"] and "\n" not in answer.json()["error"]


def test_reserving_a_batch_from_another_site_is_refused(labeled):
    project, client, _ = labeled
    before = file_contents(project.path / "project.sqlite")
    cross = client.post(
        "/api/concepts/dog/batch",
        json={"labeler": "mallory", "new": True, "n": 1000},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert cross.status_code == 403 and "CSRF" in cross.json()["error"]
    assert file_contents(project.path / "project.sqlite") == before
    same = client.post("/api/concepts/dog/batch", json={"labeler": "bob"}, headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and same.json()["items"]
