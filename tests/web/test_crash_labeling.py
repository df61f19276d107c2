"""SIGKILL a real labeling session at seeded random moments, over and over, and check after each
kill: the project opens, `PRAGMA integrity_check` is ok, every label acknowledged to the client is
there, nothing unacknowledged is half there (the one request in flight is wholly there or wholly
absent), and the restarted process proposes the same next batch as before the kill.

`seals serve` is driven over HTTP by a client thread that labels like the page (one label per
request, the batch fetched again after each; now and then a skip or an undo). `seals label` is
driven through a pty (tests/cli/test_crash_terminal.py). One chain of kills runs by default; the long
chains carry the `crash` marker."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from crash_support import integrity, record_kill, truth
from sealsearch.sessions import Project
from web_support import CATEGORIES, Server

LABELER = "alice"


class Driver(threading.Thread):
    """Labels `concept` through the API until the server dies; records what was acknowledged."""

    def __init__(self, url: str, concept: str, answers: dict[str, str], rng: np.random.Generator, state: tuple):
        super().__init__(daemon=True)
        self.api = httpx.Client(base_url=url, timeout=60)
        self.concept, self.answers, self.rng = concept, answers, rng
        # Shared across kills: id -> acknowledged final label, and the labeler's labels in force, in order.
        self.labels, self.order = state
        self.in_flight: tuple | None = None  # ("get",) | ("label", id, label) | ("undo", id)
        self.last_batch: dict | None = None  # the last batch the server returned (state after it)
        self.acknowledged = 0
        self.pause = threading.Event()  # set: stop after the next batch arrives (the kill finds it idle)

    def get_batch(self) -> dict:
        self.in_flight = ("get",)
        batch = self.api.post(f"/api/concepts/{self.concept}/batch", json={"labeler": LABELER})
        batch.raise_for_status()
        self.last_batch, self.in_flight = batch.json(), None
        return self.last_batch

    def run(self) -> None:
        try:
            while True:
                batch = self.get_batch()
                if not batch["items"] or self.pause.is_set():
                    return
                if self.rng.random() < 0.3:  # a person reading the item: idle between requests
                    threading.Event().wait(0.05)
                item = batch["items"][0]["id"]
                if self.order and self.rng.random() < 0.05:
                    self.in_flight = ("undo", self.order[-1])
                    response = self.api.post(f"/api/concepts/{self.concept}/undo", json={"labeler": LABELER})
                    assert response.status_code == 200, response.text
                    undone = response.json()["undone"]
                    assert undone["id"] == self.order[-1]
                    self.labels.pop(self.order.pop())
                else:
                    label = "skip" if self.rng.random() < 0.05 else self.answers[item]
                    self.in_flight = ("label", item, label)
                    body = {"labeler": LABELER, "labels": [{"id": item, "label": label}], "batch": batch["batch"]}
                    response = self.api.post(f"/api/concepts/{self.concept}/labels", json=body)
                    assert response.status_code == 200, response.text
                    assert response.json() == {"acknowledged": 1}
                    self.labels[item] = label
                    self.order.append(item)
                self.acknowledged += 1
                self.in_flight = None
        except httpx.TransportError:
            return  # the server was killed: in_flight says what was on the wire


def check_after_kill(api: httpx.Client, project_dir: Path, concept: str, driver: Driver) -> bool:
    """The checks of one kill point; returns whether the next batch could be compared."""
    assert integrity(project_dir) == "ok"
    stored = api.get(f"/api/concepts/{concept}/labels", params={"n": 100_000}).json()["labels"]
    stored = {row["id"]: row["label"] for row in stored}
    expected, committed = dict(driver.labels), False
    op = driver.in_flight
    if op is not None and op[0] == "label" and stored.get(op[1]) == op[2] and op[1] not in expected:
        expected[op[1]], committed = op[2], True  # the request in flight landed, whole
        driver.labels[op[1]] = op[2]
        driver.order.append(op[1])
    if op is not None and op[0] == "undo" and op[1] not in stored:
        expected.pop(op[1])
        committed = True
        driver.labels.pop(driver.order.pop())
    assert stored == expected, (op, set(stored.items()) ^ set(expected.items()))
    if op is None or (op[0] != "get" and not committed):
        again = api.post(f"/api/concepts/{concept}/batch", json={"labeler": LABELER}).json()
        assert again == driver.last_batch, (op, again, driver.last_batch)
        return True
    return False


def kill_chain(project_dir: Path, dataset, seed: int, kills: int) -> dict[str, int]:
    answers_by = truth(dataset)
    rng = np.random.default_rng(seed)
    concepts = list(CATEGORIES)
    with Project.open(project_dir) as project:  # the seed positives, labeled by "seed"
        state = {name: (dict(zip(*project.concept(name).labels_frame()[["id", "label"]].to_numpy().T, strict=True)), [])
                 for name in concepts}  # fmt: skip
    counts = {"kills": 0, "acknowledged": 0, "labels_checked": 0, "batches_compared": 0}
    driver: Driver | None = None
    per_concept = max(1, kills // len(concepts) + 1)
    for cycle in range(kills + 1):
        concept = concepts[min(cycle // per_concept, len(concepts) - 1)]
        with Server(project_dir) as server:
            api = httpx.Client(base_url=server.url, timeout=60)
            if driver is not None:  # the previous kill point
                counts["batches_compared"] += check_after_kill(api, project_dir, driver.concept, driver)
                counts["labels_checked"] += len(driver.labels)
            if cycle == kills:
                break
            answers = {item: "positive" if cat == concept else "negative" for item, cat in answers_by.items()}
            driver = Driver(server.url, concept, answers, rng, state[concept])
            driver.start()
            threading.Event().wait(rng.uniform(0.05, 1.2))
            if cycle % 3 == 2:  # every third kill finds the client idle, its last batch known
                driver.pause.set()
                driver.join(timeout=60)
            server.kill()  # SIGKILL: no shutdown code runs
            driver.join(timeout=60)
            assert not driver.is_alive()
            counts["kills"] += 1
            counts["acknowledged"] += driver.acknowledged
            record_kill("serve", True)
    with Project.open(project_dir) as project:  # and the library opens it too
        assert {row["name"] for row in project.concepts()} == set(concepts)
    return counts


@pytest.mark.parametrize(
    ("seed", "kills"),
    [(0, 4), pytest.param(1, 60, marks=pytest.mark.crash), pytest.param(2, 60, marks=pytest.mark.crash)],
)
def test_sigkill_over_http_loses_no_acknowledged_label(tmp_path, text_dataset, seed, kills):
    ids = text_dataset.items["id"]
    with Project.init(tmp_path / "project", dataset=text_dataset.path) as project:
        for name in CATEGORIES:
            project.create_concept(
                name, positives=[ids.iloc[text_dataset.items["text"].str.contains(CATEGORIES[name][0]).idxmax()]]
            )
    counts = kill_chain(tmp_path / "project", text_dataset, seed, kills)
    print(f"\nHTTP kill chain seed {seed}: {counts}")
    assert counts["kills"] == kills
    assert counts["batches_compared"] >= 1
