"""A real browser (Debian chromium, driven by Playwright) against a real `seals serve`: create a
concept from a text query, label two batches with the keyboard (each next batch comes by itself), ask for a
third early with Enter, reload, find the labels, export; then read the recall estimate, click the
audit button and label the audit items with the same keys, which turns the estimate into the audit's.

SEALS_SCREENSHOT=1 saves docs/labeling.png (the README shows it)."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from sealsearch.sessions import Project
from web_support import CHROMIUM, Server, chromium_page, make_text_dataset, served_text_project

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "labeling.png"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (make test installs it as root)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with served_text_project(tmp_path_factory.mktemp("browser")) as running:
        yield running


@pytest.fixture
def page(server):
    with chromium_page() as opened:
        yield opened


def wait_until(page, expression: str, arg=None, timeout: float = 60.0) -> None:
    """Poll a JS predicate with page.evaluate (wait_for_function would need eval, which the app's
    Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            shown = page.inner_text("#error") if page.is_visible("#error") else "no error shown"
            raise AssertionError(f"timed out waiting for {expression} ({shown})")
        page.wait_for_timeout(25)


def label_batch_with_keys(page, dogs: set[str], stop: int | None = None) -> list[tuple[str, str]]:
    """Press y/n on each card in turn (focus moves on by itself): the next batch comes by itself
    once every card is decided. With `stop`, label only that many cards, then press Enter for a
    new batch early."""
    page.wait_for_selector("#grid .card")
    ids = page.eval_on_selector_all("#grid .card", "cards => cards.map(c => c.dataset.id)")
    page.focus("#grid .card")
    given = []
    for item_id in ids[:stop]:
        assert page.evaluate("document.activeElement.dataset.id") == item_id
        key = "y" if item_id in dogs else "n"
        page.keyboard.press(key)
        given.append((item_id, "positive" if key == "y" else "negative"))
    if stop is not None:
        wait_until(page, "n => document.querySelectorAll('#grid .card[data-state=saved]').length === n", stop)
        assert page.is_enabled("#submit-btn")
        page.keyboard.press("Enter")
    wait_until(
        page,
        "first => document.querySelector('#grid .card') && document.querySelector('#grid .card').dataset.id !== first",
        ids[0],
    )
    return given


def test_label_two_batches_with_the_keyboard_reload_and_export(page, server):
    page.goto(server.url + "/")
    page.fill("input[name=name]", "dog")
    page.fill("input[name=query]", "dog")
    page.click("text=Create and label")
    page.wait_for_url("**/c/dog")
    page.wait_for_selector("#grid .card")
    assert page.inner_text("#mode") == "search mode"

    page.keyboard.press("?")
    assert page.is_visible("#help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")

    given = label_batch_with_keys(page, server.dogs)
    given += label_batch_with_keys(page, server.dogs)
    given += label_batch_with_keys(page, server.dogs, stop=3)  # Enter: a new batch before the end
    assert len(given) == 23

    page.keyboard.press("ArrowRight")  # focus moves
    page.keyboard.press("u")  # nothing labeled in this batch yet: undo takes back the latest label
    wait_until(page, "() => document.querySelector('#s-labels').textContent === '22'")
    undone = given.pop()
    page.reload()
    page.wait_for_selector("#history li.h-positive, #history li.h-negative")
    wait_until(page, "() => document.querySelector('#s-labels').textContent === '22'")
    history = page.inner_text("#history")
    positives = sum(label == "positive" for _, label in given)
    assert page.inner_text("#s-positives") == str(positives)
    assert page.locator("#history li").count() == 15 and history.startswith(given[-1][1])
    assert page.locator("#chart polyline").count() == 1

    with page.expect_download() as download:
        page.click("#export-csv")
    frame = pd.read_csv(io.StringIO(Path(download.value.path()).read_text()))
    assert set(zip(frame["id"], frame["label"], strict=True)) == set(given)
    assert undone[0] not in set(frame["id"])

    # the recall estimate: none while the learned rounds hold one class (these search-mode batches
    # of dogs may be all positive), the model's (rough) once both are learned, the audit's after it
    wait_until(page, "() => !document.querySelector('#audit-btn').disabled")
    if page.get_attribute("#estimate", "data-method") == "model":
        assert page.inner_text("#est-text").startswith("≈ ") and "of positives found (95%:" in page.inner_text(
            "#est-text"
        )
        assert "no guarantee" in page.inner_text("#est-text")
        assert "model estimate — no guarantee" in page.inner_text("#est-method")
    else:
        assert page.inner_text("#est-text").startswith("Estimated once the model has learned a positive and a negative")
    page.keyboard.press("?")
    assert "audit" in page.inner_text("#help .keys")
    page.keyboard.press("Escape")
    assert page.inner_text("#audit-btn").startswith("Audit: label 20 random unlabeled items to tighten the interval")
    page.click("#audit-btn")
    page.wait_for_selector("#audit-grid .card")
    assert page.is_visible("#view-audit") and not page.is_visible("#view-batch")
    audit_ids = page.eval_on_selector_all("#audit-grid .card", "cards => cards.map(c => c.dataset.id)")
    assert audit_ids and not set(audit_ids) & {item_id for item_id, _ in given}
    wait_until(page, "n => document.querySelector('#est-audit').textContent.endsWith(n + ' pending')", len(audit_ids))
    for item_id in audit_ids:  # focus starts on the first audit item and moves on by itself
        assert page.evaluate("document.activeElement.dataset.id") == item_id
        page.keyboard.press("y" if item_id in server.dogs else "n")
    wait_until(page, "() => document.querySelector('#estimate').dataset.method === 'audit'")
    wait_until(page, "() => document.querySelector('#est-audit').textContent.endsWith(' 0 pending')")
    assert page.inner_text("#est-method").startswith(f"audit estimate — from {len(audit_ids)} audit labels")
    # the bound, in words: a lower bound that holds, never "0%–0%", and what a certificate costs
    text = page.inner_text("#est-text")
    assert re.match(r"with 95% confidence at least [\d.]+% of the positives are found \(estimate ≈ [\d.]+%", text)
    assert "0%–0%" not in text and "holds with 95% confidence at every look" in page.inner_text("#est-method")
    assert page.inner_text("#est-certificate").startswith("Certificate: label about ")
    assert page.inner_text("#audit-status").startswith(f"{len(audit_ids)} of {len(audit_ids)} audit items labeled")
    page.click("#tab-batch")

    if os.environ.get("SEALS_SCREENSHOT") == "1":
        page.focus("#grid .card")
        for _ in range(3):  # a batch in progress
            page.keyboard.press("y" if page.evaluate("document.activeElement.dataset.id") in server.dogs else "n")
        wait_until(page, "() => document.querySelectorAll('#grid .card[data-state=saved]').length === 3")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=False)


EVIL_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/api/concepts", {method: "POST", '
    'headers: {"content-type": "application/json"}, body: JSON.stringify({name: "pwned"})})</script>'
    '<rect width="10" height="10"/></svg>'
)


@pytest.fixture(scope="module")
def media_server(tmp_path_factory, server):
    """A second server on a project whose media folder holds an SVG with a script."""
    root = tmp_path_factory.mktemp("media")
    (root / "evil.svg").write_text(EVIL_SVG)
    dataset = make_text_dataset(root / "texts")
    Project.init(root / "project", dataset=dataset.path).close()
    with Server(root / "project", "--media-root", str(root)) as running:
        yield running


def test_an_svg_with_a_script_runs_nothing_in_the_apps_origin(page, media_server):
    sent: list[str] = []
    page.on("request", lambda request: sent.append(f"{request.method} {request.url}"))
    with page.expect_console_message(lambda message: "sandbox" in message.text or "Security" in message.text):
        page.goto(media_server.url + "/media/evil.svg")  # the script is blocked, and says so
    assert not [line for line in sent if line.startswith("POST")], sent
    page.goto(media_server.url + "/")
    wait_until(page, "() => !document.querySelector('#concepts tbody').textContent.includes('Loading')")
    assert "pwned" not in page.inner_text("#concepts")


def test_the_api_docs_render_with_no_network(page, media_server):
    outside: list[str] = []

    def only_the_app(route):
        if route.request.url.startswith(media_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_app)
    page.goto(media_server.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "sealsearch labeling" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector('[data-path="/api/concepts/{c}/batch"]')
    assert not outside, outside
