"""The REST API through FastAPI's TestClient against a real Project on a real SQLite file."""

from __future__ import annotations

import io
import json

import joblib
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sealsearch.cli import app as cli_app
from sealsearch.sessions import Project
from sealsearch.web import create_app, get_project

LABELER = "alice"


@pytest.fixture
def project(tmp_path, text_dataset):
    with Project.init(tmp_path / "project", dataset=text_dataset.path) as opened:
        yield opened


@pytest.fixture
def client(project):
    with TestClient(create_app(project), base_url="http://127.0.0.1") as test_client:
        yield test_client


def dog_ids(text_dataset) -> set[str]:
    return set(text_dataset.items["id"].iloc[text_dataset.concept_rows("dog")])


def answer(items, positives) -> list[dict]:
    return [{"id": item["id"], "label": "positive" if item["id"] in positives else "negative"} for item in items]


def assert_one_line_error(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert "\n" not in message and message
    for word in words:
        assert word in message, message
    return message


def test_the_label_history_reads_only_the_items_it_shows(client, project, text_dataset, monkeypatch):
    client.post("/api/concepts", json={"name": "dog", "query": "dog", "batch_size": 8})
    batch = client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
    labels = answer(batch["items"], dog_ids(text_dataset))
    client.post("/api/concepts/dog/labels", json={"labeler": LABELER, "labels": labels, "batch": batch["batch"]})
    project._worker.submit(lambda: None).result()  # the round's background work (it reads the next batch's items)
    read = []
    item_table = project.item_table
    monkeypatch.setattr(project, "item_table", lambda rows: read.append(len(rows)) or item_table(rows))
    history = client.get("/api/concepts/dog/labels", params={"n": 3}).json()
    assert [label["id"] for label in history["labels"]] == [label["id"] for label in labels[::-1][:3]]
    assert history["total"] == 8 and read == [3]  # at 10^8 each labeled item's text may be a row group away
    assert {label["text"] for label in history["labels"]} == {i["text"] for i in batch["items"][-3:]}


def test_create_list_label_undo_and_next_batch(client, text_dataset):
    created = client.post("/api/concepts", json={"name": "dog", "query": "dog", "batch_size": 8})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "dog" and created.json()["batch_size"] == 8
    assert [c["name"] for c in client.get("/api/concepts").json()] == ["dog"]

    batch = client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
    assert batch["mode"] == "search" and len(batch["items"]) == 8
    assert set(batch["items"][0]) >= {"id", "row", "text", "uri", "score"}
    assert client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json() == batch  # same until labeled

    positives = dog_ids(text_dataset)
    labels = answer(batch["items"], positives)
    ack = client.post("/api/concepts/dog/labels", json={"labeler": LABELER, "labels": labels, "batch": batch["batch"]})
    assert ack.json() == {"acknowledged": 8}
    again = client.post("/api/concepts/dog/labels", json={"labeler": LABELER, "labels": labels})
    assert again.json() == {"acknowledged": 0}  # a double submit writes nothing

    history = client.get("/api/concepts/dog/labels").json()
    assert history["total"] == 8 and history["labels"][0]["id"] == labels[-1]["id"]
    following = client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
    assert following["batch"] != batch["batch"]
    assert not {i["id"] for i in following["items"]} & {i["id"] for i in batch["items"]}

    undone = client.post("/api/concepts/dog/undo", json={"labeler": LABELER}).json()["undone"]
    assert undone["id"] == labels[-1]["id"] and undone["label"] == labels[-1]["label"]
    assert client.get("/api/concepts/dog/labels").json()["total"] == 7
    assert client.post("/api/concepts/dog/undo", json={"labeler": "nobody"}).json() == {"undone": None}
    summary = client.get("/api/concepts").json()[0]
    assert summary["labels"] == 7


def test_labels_one_by_one_keep_the_batch_until_it_is_decided_or_new_is_asked(client, text_dataset):
    client.post("/api/concepts", json={"name": "dog", "query": "dog", "batch_size": 6})

    def get(**extra):
        return client.post("/api/concepts/dog/batch", json={"labeler": LABELER, **extra}).json()

    batch = get()
    for n, label in enumerate(answer(batch["items"][:2], dog_ids(text_dataset))):
        client.post("/api/concepts/dog/labels", json={"labeler": LABELER, "labels": [label], "batch": batch["batch"]})
        rest = get()  # the same batch's undecided items, not a new batch
        assert rest["batch"] == batch["batch"] and rest["items"] == batch["items"][n + 1 :]
    assert client.get("/api/concepts/dog/stats").json()["rounds"] == 0  # nothing told yet
    early = get(new=True)
    assert early["batch"] != batch["batch"] and early["round"] == 1
    assert client.get("/api/concepts/dog/stats").json()["rounds"] == 1  # the two labels: one round


def test_search_random_stats_top_and_exports(client, text_dataset):
    client.post("/api/concepts", json={"name": "dog", "query": "dog"})
    found = client.get("/api/concepts/dog/search", params={"q": "terrier"}).json()["items"]
    assert found and "terrier" in found[0]["text"]
    like = client.get("/api/concepts/dog/search", params={"like": found[0]["id"], "n": 5}).json()["items"]
    assert len(like) == 5 and found[0]["id"] not in {i["id"] for i in like}
    assert len(client.get("/api/concepts/dog/random", params={"n": 4}).json()["items"]) == 4

    assert client.get("/api/concepts/dog/top").json() == {"items": []}  # no model before labels
    assert_one_line_error(client.get("/api/concepts/dog/model"), 422, "no labels the model has learned yet")
    positives = dog_ids(text_dataset)
    for _ in range(3):
        batch = client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
        labels = answer(batch["items"], positives)
        client.post("/api/concepts/dog/labels", json={"labeler": LABELER, "labels": labels, "batch": batch["batch"]})
    random_negatives = client.get("/api/concepts/dog/random", params={"n": 10, "split": "test"}).json()["items"]
    client.post("/api/concepts/dog/labels", json={"labeler": LABELER, "labels": answer(random_negatives, positives)})

    stats = client.get("/api/concepts/dog/stats").json()
    assert stats["labels"] == 40 and stats["positives"] >= 1 and stats["curve"][-1][0] == 40
    assert stats["pool_size"] > 0
    top = client.get("/api/concepts/dog/top", params={"n": 5}).json()["items"]
    assert len(top) == 5 and all(item["score"] is not None for item in top)

    csv = client.get("/api/concepts/dog/export", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and "attachment" in csv.headers["content-disposition"]
    assert len(pd.read_csv(io.StringIO(csv.text))) == 40
    jsonl = client.get("/api/concepts/dog/export", params={"format": "jsonl"}).text.splitlines()
    assert len(jsonl) == 40 and json.loads(jsonl[0])["concept"] == "dog"
    parquet = client.get("/api/concepts/dog/export", params={"format": "parquet"}).content
    assert set(pd.read_parquet(io.BytesIO(parquet))["label"]) <= {"positive", "negative", "skip"}
    model = joblib.load(io.BytesIO(client.get("/api/concepts/dog/model").content))
    assert hasattr(model, "predict_proba")


def test_audit_items_are_unlabeled_pool_items_and_labeling_them_moves_the_estimate_to_audit(client, text_dataset):
    client.post("/api/concepts", json={"name": "dog", "query": "dog"})
    assert client.get("/api/concepts/dog/stats").json()["estimate"] is None  # no model yet
    assert_one_line_error(client.post("/api/concepts/dog/audit", json={"labeler": LABELER}), 422, "no labels yet")
    assert client.get("/api/concepts/dog/audit").json() == {"items": []}  # a GET never draws
    positives = dog_ids(text_dataset)
    for _ in range(3):
        batch = client.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
        labels = answer(batch["items"], positives)
        client.post("/api/concepts/dog/labels", json={"labeler": LABELER, "labels": labels, "batch": batch["batch"]})
    model = client.get("/api/concepts/dog/stats").json()["estimate"]
    assert model["method"] == "model" and model["audit_labels"] == 0 and model["text"].startswith("≈ ")
    assert 0 <= model["recall_lo"] <= model["recall"] <= model["recall_hi"] <= 1

    assert client.get("/api/concepts/dog/audit").json() == {"items": []}
    assert client.get("/api/concepts/dog/stats").json()["estimate"]["audit_pending"] == 0
    items = client.post("/api/concepts/dog/audit", json={"n": 8, "labeler": LABELER}).json()["items"]
    labeled = {row["id"] for row in client.get("/api/concepts/dog/labels", params={"n": 1000}).json()["labels"]}
    pool = set(text_dataset.items["id"][text_dataset.items["split"] == "pool"])
    assert 1 <= len(items) <= 8 and {i["id"] for i in items} <= pool - labeled
    assert all(i["score"] is None for i in items)
    pending = client.get("/api/concepts/dog/audit").json()["items"]
    assert [i["id"] for i in pending] == [i["id"] for i in items]  # nothing new drawn
    assert client.get("/api/concepts/dog/stats").json()["estimate"]["audit_pending"] == len(items)

    client.post("/api/concepts/dog/labels", json={"labeler": LABELER, "labels": answer(items, positives)})
    audited = client.get("/api/concepts/dog/stats").json()["estimate"]
    assert audited["method"] == "audit" and audited["audit_labels"] == len(items) and audited["audit_pending"] == 0
    assert client.get("/api/concepts/dog/audit").json() == {"items": []}
    for bad in (0, -3, 1001, "many"):
        assert_one_line_error(client.post("/api/concepts/dog/audit", json={"labeler": LABELER, "n": bad}), 422, "n:")
    assert_one_line_error(client.post("/api/concepts/dog/audit", json={"labeler": "a b"}), 422, "labeler")
    assert_one_line_error(client.post("/api/concepts/cat/audit", json={"labeler": LABELER}), 404, "cat")
    assert_one_line_error(client.get("/api/concepts/cat/audit"), 404, "cat")


def test_errors_are_one_line_json_with_4xx(client):
    client.post("/api/concepts", json={"name": "dog", "query": "dog"})
    assert_one_line_error(client.get("/api/concepts/cat/stats"), 404, "cat")
    assert_one_line_error(client.get("/api/concepts/dgo/batch?labeler=a"), 404, "dog")  # did you mean
    assert_one_line_error(client.post("/api/concepts", json={"name": "dog"}), 409, "exists")
    assert_one_line_error(client.post("/api/concepts", json={"name": "x", "strategy": "best"}), 422, "strategy")
    assert_one_line_error(client.post("/api/concepts", json={"name": "x", "pool": "sealz"}), 422, "pool", "seals")
    assert_one_line_error(client.post("/api/concepts", json={"name": "x", "k": 0}), 422, "k:")
    assert_one_line_error(client.post("/api/concepts", json={"name": "x", "colour": 1}), 422, "colour", "unknown field")
    assert_one_line_error(client.get("/api/concepts/dog/batch"), 422, "labeler", "required")
    bad = {"labeler": LABELER, "labels": [{"id": "t00001", "label": "yes"}]}
    assert_one_line_error(client.post("/api/concepts/dog/labels", json=bad), 422, "labels[0].label", "'yes'")
    unknown = {"labeler": LABELER, "labels": [{"id": "nope", "label": "positive"}]}
    assert_one_line_error(client.post("/api/concepts/dog/labels", json=unknown), 404, "nope")
    twice = {"labeler": LABELER, "labels": [{"id": "t00001", "label": "positive"}, {"id": "t00001", "label": "skip"}]}
    assert_one_line_error(client.post("/api/concepts/dog/labels", json=twice), 409, "t00001")
    assert_one_line_error(
        client.post("/api/concepts/dog/labels", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "JSON",
    )
    assert_one_line_error(client.get("/api/concepts/dog/search"), 422, "q/like")
    assert_one_line_error(client.get("/api/concepts/dog/search?q=a&like=t00001"), 422, "q/like")
    assert_one_line_error(client.get("/api/concepts/dog/export?format=xlsx"), 422, "format")
    assert_one_line_error(client.get("/api/nothing"), 404, "/api/nothing")
    assert client.get("/api/concepts/dog/labels").json()["total"] == 0  # nothing was written


def test_csrf_refuses_cross_site_browser_posts(client):
    body = {"name": "dog", "query": "dog"}
    cross = client.post("/api/concepts", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert_one_line_error(cross, 403, "CSRF")
    assert_one_line_error(client.post("/api/concepts", json=body, headers={"Origin": "http://evil.test"}), 403, "CSRF")
    assert client.get("/api/concepts").json() == []
    same = client.post(
        "/api/concepts", json=body, headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1"}
    )
    assert same.status_code == 201
    assert client.get("/api/concepts", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # reads are safe
    # Drawing an audit writes to the project: a POST, refused cross-site like any other write.
    draw = client.post("/api/concepts/dog/audit", json={"labeler": "x"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert_one_line_error(draw, 403, "CSRF")


def test_host_check_blocks_dns_rebinding(project):
    with TestClient(create_app(project), base_url="http://evil.test") as evil:
        assert_one_line_error(evil.get("/api/concepts"), 400, "Host")
    for host in ("http://localhost:8765", "http://[::1]:8765"):
        with TestClient(create_app(project), base_url=host) as local:
            assert local.get("/api/concepts").status_code == 200


def test_token_required_bearer_or_single_use_login_cookie(project):
    app = create_app(project, token="s3cret-token")
    with TestClient(app, base_url="http://192.168.1.20:8765") as client:
        assert_one_line_error(client.get("/api/concepts"), 401, "token")
        assert_one_line_error(client.get("/api/concepts", headers={"Authorization": "Bearer wrong"}), 401)
        assert client.get("/api/concepts", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        bearer_post = client.post("/api/concepts", json={"name": "a"}, headers={"Authorization": "Bearer s3cret-token"})
        assert bearer_post.status_code == 201
        assert client.get("/static/app.css").status_code == 200  # static files carry no data

        assert_one_line_error(client.get("/-/auth", params={"token": "s3cret-token"}), 403, "login URL")
        code = app.state.guard.login_code
        login = client.get("/-/auth", params={"token": code}, follow_redirects=False)
        assert login.status_code == 303 and "seals_auth" in login.cookies
        assert client.get("/api/concepts").status_code == 200  # the cookie now authenticates
        assert client.get("/").status_code == 200
        assert_one_line_error(client.get("/-/auth", params={"token": code}), 403, "already used")
        refused = client.post("/api/concepts", json={"name": "b"}, headers={"Sec-Fetch-Site": "cross-site"})
        assert_one_line_error(refused, 403, "CSRF")
        tampered = login.cookies["seals_auth"][:-2] + "xx"
        client.cookies.clear()
        client.cookies.set("seals_auth", tampered)
        assert_one_line_error(client.get("/api/concepts"), 401)


def test_media_is_served_only_inside_the_root(project, tmp_path):
    root = tmp_path / "media"
    (root / "img").mkdir(parents=True)
    (root / "img" / "a.png").write_bytes(b"\x89PNG fake")
    (root / "notes.txt").write_text("not an image")
    (tmp_path / "secret.png").write_bytes(b"TOP-SECRET-BYTES")
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    (root / "dirlink").symlink_to(tmp_path)
    with TestClient(create_app(project, media_root=root), base_url="http://127.0.0.1") as client:
        assert client.get("/media/img/a.png").content == b"\x89PNG fake"
        for path in (
            "/media/../secret.png",
            "/media/img/../../secret.png",
            "/media/%2e%2e/secret.png",
            "/media/img/%2e%2e/%2e%2e/secret.png",
            "/media//etc/passwd",
            "/media/link.png",
            "/media/dirlink/secret.png",
            "/media/notes.txt",
            "/media/img/missing.png",
        ):
            response = client.get(path)
            assert response.status_code in (403, 404), path
            assert b"TOP-SECRET" not in response.content, path


def test_pages_and_openapi(client):
    client.post("/api/concepts", json={"name": "dog", "query": "dog"})
    home = client.get("/")
    assert home.status_code == 200 and "New concept from a text query" in home.text
    assert "default-src 'self'" in home.headers["content-security-policy"]
    page = client.get("/c/dog")
    assert 'data-concept="dog"' in page.text and "/api/concepts/dog/stats" in page.text
    assert "<script>" not in client.get("/c/%3Cscript%3E").text  # names are escaped
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/concepts", "/api/concepts/{c}/batch", "/api/concepts/{c}/labels", "/api/concepts/{c}/model"} <= set(
        paths
    )
    audit = paths["/api/concepts/{c}/audit"]
    assert "requestBody" in audit["post"] and "422" in audit["post"]["responses"] and "requestBody" not in audit["get"]
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "estimate" in schemas["Stats"]["properties"] and "text" in schemas["Estimate"]["properties"]


def test_get_project_dependency_can_be_overridden(client, tmp_path, text_dataset):
    with Project.init(tmp_path / "other", dataset=text_dataset.path) as other:
        other.create_concept("other-concept", query="car")
        client.app.dependency_overrides[get_project] = lambda: other
        assert [c["name"] for c in client.get("/api/concepts").json()] == ["other-concept"]
        client.app.dependency_overrides = {}
    assert client.get("/api/concepts").json() == []


def test_serve_refuses_the_network_without_a_token(project):
    result = CliRunner().invoke(cli_app, ["serve", str(project.path), "--host", "0.0.0.0", "-p", "0"])
    assert result.exit_code == 2
    assert "--token: required with --host 0.0.0.0" in result.output


def test_serve_socket_is_tcp_so_responses_are_not_delayed():
    """asyncio sets TCP_NODELAY on accepted connections only for IPPROTO_TCP sockets; without it
    every keep-alive response waited ~40 ms for a delayed ACK."""
    import socket

    from sealsearch.cli.serve import bind

    with bind("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[1] > 0
