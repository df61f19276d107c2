"""The image demo in a real browser: the digits' PNG thumbnails embedded with a tiny random CLIP
(written by the test; nothing downloaded), served by a real `seals serve`. The server loads the
text model in the background at start (no query needed, nothing printed while it loads); a concept
is created from a text query in the form, its batch is an image grid of judging-sized thumbnails
labeled by keyboard, and "More like this" works on an image."""

from __future__ import annotations

import time

import httpx
import pytest
from test_web_browser import wait_until
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.sessions import Project
from web_support import CHROMIUM, Server, chromium_page

pytest.importorskip("transformers")
pytest.importorskip("PIL")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (make test installs it as root)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.embedders.clip_support import write_tiny_clip

    root = tmp_path_factory.mktemp("images")
    clip = write_tiny_clip(root / "tiny-clip")
    args = ["dataset", "digits", str(root / "digits"), "--rare-digit", "7", "--rare-keep", "5"]
    result = CliRunner().invoke(app, [*args, "--embedder", "clip", "--weights", str(clip)])
    assert result.exit_code == 0, result.output
    Project.init(root / "project", dataset=root / "digits").close()
    with Server(root / "project") as running:
        yield running


@pytest.fixture
def page(server):
    with chromium_page() as opened:
        yield opened


def test_label_the_image_demo_by_keyboard(page, server):
    # the text model loads at server start, before any query asks for it (it would stay "cold")
    assert httpx.post(f"{server.url}/api/concepts", json={"name": "probe"}, timeout=30).status_code == 201
    deadline = time.monotonic() + 60
    while (state := httpx.get(f"{server.url}/api/concepts/probe/stats", timeout=30).json()["text_search"]) != "ready":
        assert state == "loading" and time.monotonic() < deadline, state
        time.sleep(0.05)

    page.goto(server.url + "/")
    page.fill("input[name=name]", "sevens")
    page.fill("input[name=query]", "a handwritten seven")
    page.click("text=Create and label")
    page.wait_for_url("**/c/sevens")
    page.wait_for_selector("#grid.images .card img")
    wait_until(page, "() => document.querySelector('#app').dataset.textSearch === 'ready'")
    wait_until(
        page, "() => [...document.querySelectorAll('#grid img')].every(img => img.complete && img.naturalWidth > 0)"
    )
    widths = page.eval_on_selector_all("#grid .card img", "imgs => imgs.map(img => img.getBoundingClientRect().width)")
    assert widths and all(160 <= width <= 224 for width in widths), widths  # sized for judging

    ids = page.eval_on_selector_all("#grid .card", "cards => cards.map(c => c.dataset.id)")
    page.focus("#grid .card")
    for n, item_id in enumerate(ids):  # keyboard only: y for the first two, n for the rest
        assert page.evaluate("document.activeElement.dataset.id") == item_id
        page.keyboard.press("y" if n < 2 else "n")
    first_changed = "first => document.querySelector('#grid .card')?.dataset.id !== first"
    wait_until(page, first_changed, ids[0])  # the next batch came by itself
    wait_until(page, "n => document.querySelector('#s-labels').textContent === String(n)", len(ids))

    page.click("#grid .card button.like")  # "More like this" on an image: an image grid of its neighbours
    wait_until(page, "() => document.querySelector('#search-status').textContent.startsWith('Items like')")
    assert page.locator("#search-grid.images .card img").count() > 0

    server.kill()  # what the server printed while loading the text model and serving
    log = server.output()
    assert "Loading weights" not in log and "%|" not in log, log
