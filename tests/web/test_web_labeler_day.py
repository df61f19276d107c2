"""A labeler's day in a real browser (Debian chromium via Playwright) against a real `seals serve`
(issue 20's defects): search answers mark labeled items as labeled, a batch item labeled from the
search tab updates its batch card, undo after a batch has closed says what it undid, and a label
the server never acknowledged stays visibly "not saved" with a retry."""

from __future__ import annotations

import httpx
import pytest
from test_web_browser import wait_until

from web_support import CHROMIUM, chromium_page, served_text_project

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (make test installs it as root)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with served_text_project(tmp_path_factory.mktemp("day")) as running:
        yield running


@pytest.fixture
def page(server):
    with chromium_page() as opened:
        yield opened


def open_concept(page, server, name: str) -> list[str]:
    """Create `name` from the query "dog" over the API, open its page; the batch's card ids."""
    created = httpx.post(f"{server.url}/api/concepts", json={"name": name, "query": "dog"}, timeout=30)
    assert created.status_code == 201, created.text
    page.goto(f"{server.url}/c/{name}")
    page.wait_for_selector("#grid .card")
    return page.eval_on_selector_all("#grid .card", "cards => cards.map(c => c.dataset.id)")


def label_the_batch(page, server, ids: list[str]) -> None:
    """Label every card of the batch by keyboard (y for a dog, n otherwise), then wait for the
    next batch, which comes by itself."""
    page.focus("#grid .card")
    for item_id in ids:
        page.keyboard.press("y" if item_id in server.dogs else "n")
    wait_until(page, "first => document.querySelector('#grid .card')?.dataset.id !== first", ids[0])


def card(grid: str, item_id: str) -> str:
    return f'#{grid} .card[data-id="{item_id}"]'


def test_search_marks_labeled_items_and_a_batch_item_labeled_there_updates_its_card(page, server):
    ids = open_concept(page, server, "dog-search")
    page.focus("#grid .card")
    for _ in range(3):
        page.keyboard.press("y")
    wait_until(page, "() => document.querySelectorAll('#grid .card[data-state=saved]').length === 3")

    page.click("#tab-search")
    page.fill("#search-q", "dog")
    page.press("#search-q", "Enter")
    page.wait_for_selector("#search-grid .card")
    shown = page.eval_on_selector_all("#search-grid .card", "cards => cards.map(c => c.dataset.id)")
    labeled, open_ = ids[:3], [i for i in ids[3:] if i in shown]
    assert set(labeled) <= set(shown) and open_, (ids, shown)
    for item_id in labeled:  # labeled already: marked, and says so in words
        assert page.get_attribute(card("search-grid", item_id), "data-label") == "positive"
        assert page.inner_text(card("search-grid", item_id) + " .status") == "Labeled positive"
    assert not page.get_attribute(card("search-grid", open_[0]), "data-label")
    assert "3 labeled already" in page.inner_text("#search-status")

    # "More like this" on a labeled item: the answer marks labeled items too
    page.click(card("search-grid", labeled[0]) + " button.like")
    wait_until(page, "() => document.querySelector('#search-status').textContent.startsWith('Items like')")
    for item_id in page.eval_on_selector_all("#search-grid .card", "cards => cards.map(c => c.dataset.id)"):
        expected = "positive" if item_id in labeled else None
        assert (page.get_attribute(card("search-grid", item_id), "data-label") or None) == expected

    # an item of the open batch, labeled from the search tab: its batch card shows the label
    page.fill("#search-q", "dog")
    page.press("#search-q", "Enter")
    wait_until(page, "id => !!document.querySelector(`#search-grid .card[data-id='${id}']`)", open_[0])
    page.click(card("search-grid", open_[0]) + " button[data-label=negative]")
    wait_until(page, "id => document.querySelector(`#grid .card[data-id='${id}']`).dataset.state === 'saved'", open_[0])
    assert page.get_attribute(card("grid", open_[0]), "data-label") == "negative"

    # no empty search goes silently: an empty query says what to do
    page.fill("#search-q", "   ")
    page.press("#search-q", "Enter")
    assert page.inner_text("#search-status").startswith("Type some words to search for")


def test_undo_after_the_batch_closed_says_what_it_undid(page, server):
    ids = open_concept(page, server, "dog-undo")
    # small things: a round number of this concept (not a project-wide batch id), no "0" pool in search mode
    wait_until(page, "() => document.querySelector('#s-pool').textContent === '– (search mode)'")
    assert page.inner_text("#batch-status").startswith("Round 1 of this concept: 0 of ")
    assert page.is_visible("#s-ap")  # this dataset has a test split
    label_the_batch(page, server, ids)  # the next batch came by itself; the last label's card is gone
    wait_until(page, "n => document.querySelector('#s-labels').textContent === String(n)", len(ids))
    page.keyboard.press("u")
    wait_until(page, "() => document.querySelector('#notice').textContent.startsWith('Undone:')")
    text = page.inner_text("#notice")
    assert ids[-1] in text and "from an earlier batch no longer on this page" in text, text
    wait_until(page, "n => document.querySelector('#s-labels').textContent === String(n)", len(ids) - 1)
    heights = page.eval_on_selector_all(
        "#history li", "items => items.map(li => li.scrollHeight <= li.clientHeight + 1)"
    )
    assert heights and all(heights)  # every recent label is one whole line (long texts end in an ellipsis)


def test_a_label_that_fails_to_save_stays_marked_not_saved_with_a_retry(page, server):
    ids = open_concept(page, server, "dog-offline")

    def offline(route):  # label POSTs fail as with the server down; reads pass
        route.abort() if route.request.method == "POST" else route.continue_()

    page.route("**/api/concepts/*/labels", offline)
    page.focus("#grid .card")
    page.keyboard.press("y")
    first = card("grid", ids[0])
    wait_until(page, "s => document.querySelector(s).dataset.state === 'failed'", first)
    assert page.inner_text(first + " .status") == "Not saved: positive. Retry (r)"
    assert page.is_visible(first + " button.retry") and not page.get_attribute(first, "data-label")
    assert page.evaluate("document.activeElement.dataset.id") == ids[0]  # focus came back to it
    assert "not saved" in page.inner_text("#error")

    page.unroute("**/api/concepts/*/labels")  # the network is back: r retries the label
    page.keyboard.press("r")
    wait_until(page, "s => document.querySelector(s).dataset.state === 'saved'", first)
    assert page.inner_text(first + " .status") == "Labeled positive" and not page.is_visible(first + " button.retry")
    labels = httpx.get(f"{server.url}/api/concepts/dog-offline/labels", timeout=10).json()["labels"]
    assert [(row["id"], row["label"]) for row in labels] == [(ids[0], "positive")]


def test_a_second_a_shows_the_pending_audit_instead_of_drawing_more(page, server):
    ids = open_concept(page, server, "dog-audit")
    label_the_batch(page, server, ids)
    wait_until(page, "() => !document.querySelector('#audit-btn').disabled")
    page.keyboard.press("a")
    page.wait_for_selector("#audit-grid .card")
    drawn = page.eval_on_selector_all("#audit-grid .card", "cards => cards.map(c => c.dataset.id)")
    wait_until(page, "n => document.querySelector('#est-audit').textContent.endsWith(n + ' pending')", len(drawn))
    page.click("#tab-batch")  # another key, another view: the audit is still pending
    page.keyboard.press("a")
    wait_until(page, "() => document.querySelector('#notice').textContent.includes('drawn earlier still to label')")
    wait_until(page, "() => !document.querySelector('#view-audit').hidden")
    again = page.eval_on_selector_all("#audit-grid .card", "cards => cards.map(c => c.dataset.id)")
    assert again == drawn  # the same items, none drawn on top of them
    wait_until(page, "n => document.querySelector('#est-audit').textContent.endsWith(n + ' pending')", len(drawn))


def test_the_page_records_the_two_waits_a_labeler_feels(page, server):
    """The waits bench/labeling_latency.py --browser reports are the page's own User Timing measures:
    one "seals:label-ack" per acknowledged label, one "seals:next-batch" per batch decided (by its
    last label, or early by Enter), each from the key press to the answer on the screen."""
    durations = "name => performance.getEntriesByName(name).map(e => e.duration)"
    ids = open_concept(page, server, "dog-waits")
    label_the_batch(page, server, ids)
    wait_until(page, "() => performance.getEntriesByName('seals:next-batch').length === 1")
    acks = page.evaluate(durations, "seals:label-ack")
    assert len(acks) == len(ids) and all(ms > 0 for ms in acks), acks
    second = page.eval_on_selector_all("#grid .card", "cards => cards.map(c => c.dataset.id)")
    page.keyboard.press("y" if second[0] in server.dogs else "n")
    wait_until(page, "n => performance.getEntriesByName('seals:label-ack').length === n", len(ids) + 1)
    page.keyboard.press("Enter")  # a new batch early: the second wait, from this key press
    wait_until(page, "() => performance.getEntriesByName('seals:next-batch').length === 2")
    waits = page.evaluate(durations, "seals:next-batch")
    assert (
        all(ms > 0 for ms in waits)
        and page.eval_on_selector_all("#grid .card", "cards => cards.map(c => c.dataset.id)") != second
    )
