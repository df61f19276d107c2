"""What every answer carries: `nosniff` and a Content-Security-Policy on every response; media
served inert (an SVG with a script runs nothing, whatever the browser); the app's pages allowed
exactly their own scripts and styles; /docs and /redoc whole with no network (every asset they
reference is served by the app itself, none from a CDN)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from sealsearch.sessions import Project
from sealsearch.web import create_app

EVIL_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/api/concepts",{method:"POST",'
    b'headers:{"content-type":"application/json"},body:JSON.stringify({name:"pwned"})})</script></svg>'
)


@pytest.fixture(scope="module")
def client(tmp_path_factory, text_dataset):
    base, dataset = tmp_path_factory.mktemp("headers"), text_dataset
    media = base / "media"
    media.mkdir()
    (media / "evil.svg").write_bytes(EVIL_SVG)
    (media / "a.png").write_bytes(b"\x89PNG fake")
    with (
        Project.init(base / "project", dataset=dataset.path) as project,
        TestClient(create_app(project, media_root=media), base_url="http://127.0.0.1") as test_client,
    ):
        project.create_concept("dog", query="dog")
        yield test_client


def directives(response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


ANSWERS = [  # one of each kind: JSON, an error, a page, a 404 page, a static file, media, a file, the docs
    "/api/concepts", "/api/concepts/nope/stats", "/", "/c/dog", "/c/nope", "/static/app.css", "/media/a.png",
    "/media/evil.svg", "/api/concepts/dog/export", "/openapi.json", "/docs", "/redoc", "/no/such/page",
]  # fmt: skip


@pytest.mark.parametrize("path", ANSWERS)
def test_every_answer_is_never_sniffed_and_has_a_policy(client, path):
    response = client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "unsafe-inline" not in directives(response).get("script-src", "")


def test_media_is_served_inert(client):
    response = client.get("/media/evil.svg")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    policy = directives(response)
    assert "sandbox" in policy and policy["default-src"] == "default-src 'none'"
    assert "script-src" not in policy  # no script may run: default-src 'none' covers it
    assert client.get("/api/concepts").json()[0]["name"] == "dog"  # (the browser test opens it for real)


def test_pages_may_run_their_own_scripts_only(client):
    for path in ("/", "/c/dog"):
        page = client.get(path)
        policy = directives(page)
        assert policy["script-src"] == "script-src 'self'" and "default-src 'self'" in policy["default-src"]
        assert "<script>" not in page.text  # no inline script: every script is a /static file
        for src in re.findall(r'<script src="([^"]+)"', page.text):
            assert client.get(src).status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_need_no_network(client, path):
    page = client.get(path)
    assert page.status_code == 200
    assert not re.search(r"https?://", page.text), "the page names an outside URL"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"spec-url=\"([^\"]+)\"", page.text)
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        fetched = client.get(asset)
        assert fetched.status_code == 200 and fetched.content, asset
    assert client.get("/openapi.json").json()["paths"]
    hashes = re.findall(r"'sha256-[^']+'", directives(page)["script-src"])
    assert len(hashes) == page.text.count("<script>")  # inline scripts allowed by hash, one each
