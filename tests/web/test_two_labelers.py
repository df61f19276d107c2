"""Two labelers on one concept at once, each through their own `seals serve` process on the same
project file: no acknowledged label is lost, no item is handed to both while leased, and
conflicting labels given at the same moment are both recorded, in order, the later one in force.
The default suite labels 200 items; the slow variant (make test) 1,200."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from crash_support import integrity, truth
from sealsearch.sessions import Project
from web_support import Server


class Labeler(threading.Thread):
    def __init__(self, url: str, name: str, answers: dict[str, str], target: int, total: list[int], lock):
        super().__init__(daemon=True)
        self.api = httpx.Client(base_url=url, timeout=120)
        self.name, self.answers, self.target, self.total, self.lock = name, answers, target, total, lock
        self.acknowledged: dict[str, str] = {}
        self.handed: set[str] = set()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                batch = self.api.post("/api/concepts/dog/batch", json={"labeler": self.name})
                assert batch.status_code == 200, batch.text
                batch = batch.json()
                if not batch["items"]:
                    return
                self.handed.update(item["id"] for item in batch["items"])
                for item in batch["items"]:
                    with self.lock:
                        if self.total[0] >= self.target:
                            return
                        self.total[0] += 1
                    label = self.answers[item["id"]]
                    body = {
                        "labeler": self.name,
                        "labels": [{"id": item["id"], "label": label}],
                        "batch": batch["batch"],
                    }
                    response = self.api.post("/api/concepts/dog/labels", json=body)
                    assert response.status_code == 200 and response.json() == {"acknowledged": 1}, (item, batch)
                    # 0 would mean the item was labeled already: handed to both labelers
                    self.acknowledged[item["id"]] = label
        except BaseException as exc:  # reported by the test
            self.error = exc


def events(project_dir: Path) -> list[tuple[int, str, str, str]]:
    with sqlite3.connect(project_dir / "project.sqlite") as db:
        rows = db.execute("SELECT id, item_id, label, labeler FROM events ORDER BY id").fetchall()
    db.close()
    return rows


@pytest.mark.parametrize("target", [200, pytest.param(1200, marks=pytest.mark.slow)])
def test_two_labeler_processes_on_one_concept(tmp_path, text_dataset, target):
    categories = truth(text_dataset)
    answers = {item: "positive" if cat == "dog" else "negative" for item, cat in categories.items()}
    seed = next(item for item, cat in categories.items() if cat == "dog")
    project_dir = tmp_path / "project"
    with Project.init(project_dir, dataset=text_dataset.path) as project:
        project.create_concept("dog", positives=[seed])
    with Server(project_dir) as one, Server(project_dir) as two:
        total, lock = [0], threading.Lock()
        ann = Labeler(one.url, "ann", answers, target, total, lock)
        bob = Labeler(two.url, "bob", answers, target, total, lock)
        ann.start(), bob.start()
        ann.join(600), bob.join(600)
        assert ann.error is None and bob.error is None, (ann.error, bob.error)
        assert len(ann.acknowledged) + len(bob.acknowledged) == target
        assert ann.acknowledged and bob.acknowledged
        assert not ann.handed & bob.handed, "an item was handed to both labelers while leased"
        assert not set(ann.acknowledged) & set(bob.acknowledged)

        # Both relabel the same items at the same moment, in opposite directions.
        contested = sorted(ann.acknowledged)[:20]
        flipped = {"positive": "negative", "negative": "positive"}
        barrier = threading.Barrier(2)

        def relabel(server: Server, name: str, pick) -> None:
            api = httpx.Client(base_url=server.url, timeout=120)
            barrier.wait()
            for item in contested:
                body = {"labeler": name, "labels": [{"id": item, "label": pick(item)}]}
                assert api.post("/api/concepts/dog/labels", json=body).status_code == 200

        threads = [
            threading.Thread(target=relabel, args=(one, "ann", lambda item: ann.acknowledged[item])),
            threading.Thread(target=relabel, args=(two, "bob", lambda item: flipped[ann.acknowledged[item]])),
        ]
        [thread.start() for thread in threads]
        [thread.join(300) for thread in threads]
        final = {
            row["id"]: row["label"]
            for row in httpx.get(f"{one.url}/api/concepts/dog/labels", params={"n": 100_000}).json()["labels"]
        }
        assert final == {
            row["id"]: row["label"]
            for row in httpx.get(f"{two.url}/api/concepts/dog/labels", params={"n": 100_000}).json()["labels"]
        }

    assert integrity(project_dir) == "ok"
    log = events(project_dir)
    for item, label in {**ann.acknowledged, **bob.acknowledged}.items():  # nothing lost: each still recorded
        assert any(row[1] == item and row[2] == label for row in log), item
        if item not in contested:
            assert final[item] == label
    for item in contested:  # every conflicting relabel is its own later event; the latest is in force
        history = [row for row in log if row[1] == item]
        assert history[0][3] == "ann" and history[0][2] == ann.acknowledged[item]
        assert history[-1][2] == final[item]
        assert any(row[3] == "bob" and row[2] != history[0][2] for row in history[1:])  # the relabel is there
        assert all(a[0] < b[0] for a, b in zip(history, history[1:], strict=False))
    print(f"\ntwo labelers: {target} labels ({len(ann.acknowledged)} ann, {len(bob.acknowledged)} bob), "
          f"{len(contested)} contested items, {len(log)} events")  # fmt: skip
