"""The web app's security promises against a real `seals serve` subprocess (raw sockets where an
HTTP client would normalise the path): loopback by default, a token for anything else checked on
every request, media only from the media root, bounded JSON bodies, no user path ever opened
outside the project, and no state change from another origin."""

from __future__ import annotations

import inspect
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest

from sealsearch.sessions import Project
from sealsearch.web.security import MAX_BODY, Guard
from web_support import Server, make_text_dataset

TOKEN = "s3cret-token-for-tests-0123456789"
SECRET = b"TOP-SECRET-BYTES"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("security")
    dataset = make_text_dataset(base / "texts")
    with Project.init(base / "project", dataset=dataset.path) as project:
        project.create_concept("dog", positives=dataset.items["id"].iloc[dataset.concept_rows("dog")[:3]].tolist())
    root = base / "media"
    (root / "img").mkdir(parents=True)
    (root / "img" / "a.png").write_bytes(b"\x89PNG fake")
    (base / "secret.png").write_bytes(SECRET)
    (root / "link.png").symlink_to(base / "secret.png")
    (root / "dirlink").symlink_to(base)
    return base, dataset


@pytest.fixture(scope="module")
def server(setup):
    base, _ = setup
    with Server(base / "project", "--media", str(base / "media")) as running:
        yield running


def raw_get(url: str, path: str, headers: str = "") -> tuple[int, bytes]:
    """GET `path` byte for byte (no client-side normalisation of `..` or percent-escapes)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def event_count(base: Path) -> int:
    with sqlite3.connect(base / "project" / "project.sqlite") as db:
        count = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    db.close()
    return count


def test_serve_binds_loopback_by_default(server):
    assert server.url.startswith("http://127.0.0.1:")
    port = int(server.url.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    if address != "127.0.0.1":  # the port must not answer on the machine's other address
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
            pass


MEDIA_ATTACKS = [
    "/media/../secret.png",
    "/media/img/../../secret.png",
    "/media/%2e%2e/secret.png",
    "/media/%2E%2E%2Fsecret.png",
    "/media/%252e%252e/secret.png",
    "/media/%252e%252e%252fsecret.png",
    "/media/..%2fsecret.png",
    "/media/img/..%5c..%5csecret.png",
    "/media/%2fetc%2fpasswd",
    "/media//etc/passwd",
    "/media/%c0%ae%c0%ae/secret.png",
    "/media/img/a.png%00.txt",
    "/media/link.png",
    "/media/dirlink/secret.png",
    "/media/dirlink/media/link.png",
    "/media/" + str(Path("/etc/passwd")),
]


@pytest.mark.parametrize("path", MEDIA_ATTACKS)
def test_media_never_leaves_the_root(server, path):
    status, body = raw_get(server.url, path)
    assert 400 <= status < 500, (path, status)
    assert SECRET not in body and b"root:" not in body


def test_media_inside_the_root_is_served(server):
    assert raw_get(server.url, "/media/img/a.png") == (200, b"\x89PNG fake")


def test_bodies_are_bounded_and_validated(server, setup):
    base, _ = setup
    before = event_count(base)
    url = f"{server.url}/api/concepts/dog/labels"
    huge = b'{"labeler": "a", "labels": [' + b'{"id": "t00001", "label": "skip"},' * (MAX_BODY // 30) + b"]}"
    assert httpx.post(url, content=huge, headers={"content-type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: refused while streaming
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    response = httpx.post(url, content=chunks(), headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 413 and "MiB" in response.json()["error"]
    too_many = {"labeler": "a", "labels": [{"id": f"t{i:05d}", "label": "skip"} for i in range(10_001)]}
    for body in (
        too_many,
        {"labeler": "a" * 101, "labels": [{"id": "t00001", "label": "skip"}]},
        {"labeler": "a", "labels": [{"id": "t00001", "label": "skip", "extra": 1}]},
        {"labeler": "../etc", "labels": [{"id": "t00001", "label": "skip"}]},
    ):
        response = httpx.post(url, json=body)
        assert response.status_code == 422 and "\n" not in response.json()["error"]
    for raw in (b"[" * 100_000, b'{"labeler": "a", "labels": [' + b"[" * 50_000, b"\xff\xfe", b""):
        response = httpx.post(url, content=raw, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, raw[:20]
    # A cross-site form can send text/plain without a preflight: it must not be parsed as JSON.
    plain = b'{"labeler": "a", "labels": [{"id": "t00001", "label": "positive"}]}'
    assert httpx.post(url, content=plain, headers={"content-type": "text/plain"}).status_code in (400, 415, 422)
    assert event_count(base) == before


def test_no_endpoint_opens_a_user_path(server, setup):
    base, _ = setup
    outside = sorted(p.name for p in base.iterdir())
    for name in ("../../outside", "/etc/passwd", "..", "a\\b", "x\x00y"):
        response = httpx.post(f"{server.url}/api/concepts", json={"name": name, "positives": []})
        assert response.status_code == 422, name
    for concept in ("..%2f..%2foutside", "%2e%2e", "__import__('os')"):
        for what in ("export?format=csv", "model", "stats"):
            status, _ = raw_get(server.url, f"/api/concepts/{concept}/{what}")
            assert status == 404, (concept, what, status)
    status, _ = raw_get(server.url, "/api/concepts/dog/export?format=../../../../tmp/x")
    assert status == 422
    assert sorted(p.name for p in base.iterdir()) == outside


def test_state_changes_from_another_origin_are_refused(server, setup):
    base, dataset = setup
    before = event_count(base)
    body = {"labeler": "mallory", "labels": [{"id": dataset.items["id"].iloc[0], "label": "positive"}]}
    url = f"{server.url}/api/concepts/dog/labels"
    for headers in (
        {"origin": "http://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "http://127.0.0.1.evil.example"},
        {"origin": "null"},
    ):
        response = httpx.post(url, json=body, headers=headers)
        assert response.status_code == 403 and "CSRF" in response.json()["error"], headers
    assert httpx.post(url, json=body, headers={"host": "evil.example"}).status_code == 400  # DNS rebinding
    assert event_count(base) == before


def test_network_host_needs_a_token_checked_on_every_request(setup):
    base, _ = setup
    with Server(base / "project", "--host", "0.0.0.0", "--token", TOKEN) as server:
        url = server.url
        for path in (
            "/api/concepts",
            "/",
            "/c/dog",
            "/openapi.json",
            "/docs",
            "/media/img/a.png",
            "/api/concepts/dog/export",
        ):
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Bearer {TOKEN[:-1]}"},
                            {"authorization": f"Basic {TOKEN}"}, {"cookie": "seals_auth=forged.value"}):  # fmt: skip
                assert httpx.get(url + path, headers=headers).status_code == 401, (path, headers)
        ok = httpx.get(f"{url}/api/concepts", headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()[0]["name"] == "dog"
        body = {"labeler": "bob", "labels": [{"id": "t00000", "label": "skip"}]}
        assert httpx.post(f"{url}/api/concepts/dog/labels", json=body).status_code == 401
    assert "compare_digest" in inspect.getsource(Guard._bearer_ok)  # constant-time comparison
