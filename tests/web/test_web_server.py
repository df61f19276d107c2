"""A real `seals serve` process: labels acknowledged before a SIGKILL are all there after a
restart, and the labeler gets the same batch back."""

from __future__ import annotations

import httpx

from sealsearch.sessions import Project
from web_support import Server


def test_acknowledged_labels_survive_sigkill(tmp_path, text_dataset):
    Project.init(tmp_path / "project", dataset=text_dataset.path).close()
    dogs = set(text_dataset.items["id"].iloc[text_dataset.concept_rows("dog")])

    def answer(items):
        return [{"id": i["id"], "label": "positive" if i["id"] in dogs else "negative"} for i in items]

    with Server(tmp_path / "project") as server:
        api = httpx.Client(base_url=server.url, timeout=30)
        assert api.post("/api/concepts", json={"name": "dog", "query": "dog"}).status_code == 201
        first = api.post("/api/concepts/dog/batch", json={"labeler": "alice"}).json()
        labels = answer(first["items"])
        ack = api.post("/api/concepts/dog/labels", json={"labeler": "alice", "labels": labels, "batch": first["batch"]})
        assert ack.json() == {"acknowledged": len(labels)}
        second = api.post("/api/concepts/dog/batch", json={"labeler": "alice"}).json()
        assert second["batch"] != first["batch"] and second["items"]
        server.kill()  # SIGKILL right after the acknowledgement: no shutdown code runs
        assert server.process.returncode == -9

    with Server(tmp_path / "project") as server:
        api = httpx.Client(base_url=server.url, timeout=30)
        stored = api.get("/api/concepts/dog/labels", params={"n": 1000}).json()["labels"]
        assert {(row["id"], row["label"]) for row in stored} == {(x["id"], x["label"]) for x in labels}
        again = api.post("/api/concepts/dog/batch", json={"labeler": "alice"}).json()
        assert again == second  # the leased batch, same id, items and scores
        assert api.get("/api/concepts").json()[0]["labels"] == len(labels)
