"""A full disk under a running `seals serve` (a real server on a small tmpfs; needs root, skipped
otherwise): the refused label is a 507 and leaves no trace, in the file or in the server's memory
(/labels, /stats); once space returns the same server takes the refused label again, the label
that completes the batch is acknowledged (not a 500), and the next batch comes without a restart.
In-memory state follows the COMMIT, never runs ahead of it."""

from __future__ import annotations

import sqlite3

import httpx

from disk_support import fill, small_filesystem
from sealsearch.sessions import Project
from web_support import Server

LABELER = "alice"


def post_label(api: httpx.Client, item: str, batch: int) -> httpx.Response:
    body = {"labeler": LABELER, "labels": [{"id": item, "label": "negative"}], "batch": batch}
    return api.post("/api/concepts/dog/labels", json=body)


def test_a_refused_label_leaves_no_trace_and_the_server_labels_on_when_space_returns(tmp_path, text_dataset):
    dataset = text_dataset
    with small_filesystem(tmp_path / "fs") as fs:
        with Project.init(fs / "project", dataset=dataset.path) as project:
            project.create_concept("dog", query="dog", batch_size=60)  # 60 commits fit the 4 MB once space returns
        with Server(fs / "project") as server, httpx.Client(base_url=server.url, timeout=60) as api:
            batch = api.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
            items = [item["id"] for item in batch["items"]]
            filler = fill(fs)
            acknowledged, refused = [], None
            for item in items[:-1]:
                response = post_label(api, item, batch["batch"])
                if response.status_code == 507:
                    refused = item
                    break
                assert response.status_code == 200, response.text
                acknowledged.append(item)
            assert refused is not None, "the full disk refused no label"
            assert "free disk space" in response.json()["error"]
            shown = {row["id"] for row in api.get("/api/concepts/dog/labels", params={"n": 1000}).json()["labels"]}
            assert shown == set(acknowledged)  # the refused label is not shown as given
            assert api.get("/api/concepts/dog/stats").json()["labels"] == len(acknowledged)
            filler.unlink()  # space again: the same server, no restart
            for item in items[len(acknowledged) :]:  # the refused one first, the batch-completing one last
                response = post_label(api, item, batch["batch"])
                assert response.status_code == 200 and response.json() == {"acknowledged": 1}, response.text
            following = api.post("/api/concepts/dog/batch", json={"labeler": LABELER})
            assert following.status_code == 200, following.text
            assert following.json()["batch"] != batch["batch"] and following.json()["items"]
            assert api.get("/api/concepts/dog/stats").json()["labels"] == len(items)
        with sqlite3.connect(fs / "project" / "project.sqlite") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == len(items)
        db.close()
