"""A full disk and a read-only project directory, on real filesystems (a small tmpfs mounted for
the test, remounted read-only; needs root, skipped otherwise): the refused call is a one-line
error (HTTP 507 from the app, a non-zero exit from the CLI), nothing of it is recorded, and the
project opens afterwards with every acknowledged label, its SQLite file intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from disk_support import fill, remount, small_filesystem
from sealsearch.cli import app as cli_app
from sealsearch.errors import StorageError
from sealsearch.sessions import Project
from sealsearch.web import create_app
from web_support import make_text_dataset


@pytest.fixture(scope="module")
def text_dataset(tmp_path_factory):
    return make_text_dataset(tmp_path_factory.mktemp("disk") / "texts")


def labels_in(project_dir: Path) -> dict[str, str]:
    with Project.open(project_dir) as project:
        frame = project.concept("dog").labels_frame()
        return dict(zip(frame["id"], frame["label"], strict=True))


def integrity(project_dir: Path) -> str:
    with sqlite3.connect(project_dir / "project.sqlite") as db:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    return result


def start(project_dir: Path, text_dataset) -> list[str]:
    ids = text_dataset.items["id"].tolist()
    with Project.init(project_dir, dataset=text_dataset.path) as project:
        project.create_concept("dog", positives=ids[:2])
    return ids


def test_a_full_disk_refuses_the_label_cleanly_and_loses_nothing(tmp_path, text_dataset):
    with small_filesystem(tmp_path / "fs") as fs:
        ids = start(fs / "project", text_dataset)
        acknowledged = {ids[0]: "positive", ids[1]: "positive"}
        with (
            Project.open(fs / "project") as project,
            TestClient(create_app(project), base_url="http://127.0.0.1") as client,
        ):
            filler = fill(fs)
            refused = 0
            for item in ids[2:400]:
                response = client.post(
                    "/api/concepts/dog/labels", json={"labeler": "a", "labels": [{"id": item, "label": "negative"}]}
                )
                if response.status_code == 200:
                    acknowledged[item] = "negative"
                    continue
                assert response.status_code == 507, response.text
                message = response.json()["error"]
                assert "\n" not in message and "full" in message and "free disk space" in message
                refused += 1
                if refused == 3:
                    break
            assert refused == 3
            with pytest.raises(StorageError, match="free disk space"):
                project.concept("dog").label(labeler="a", labels=[(ids[500], "negative")])
            filler.unlink()  # space again: the same open project labels on
            assert (
                client.post(
                    "/api/concepts/dog/labels", json={"labeler": "a", "labels": [{"id": ids[501], "label": "skip"}]}
                ).status_code
                == 200
            )
            acknowledged[ids[501]] = "skip"
        assert integrity(fs / "project") == "ok"
        assert labels_in(fs / "project") == acknowledged


def test_a_read_only_project_directory_is_a_clear_error_and_nothing_is_lost(tmp_path, text_dataset):
    with small_filesystem(tmp_path / "fs") as fs:
        ids = start(fs / "project", text_dataset)
        with Project.open(fs / "project") as project:
            project.concept("dog").label(labeler="a", labels=[(ids[5], "negative"), (ids[6], "skip")])
        acknowledged = {ids[0]: "positive", ids[1]: "positive", ids[5]: "negative", ids[6]: "skip"}
        remount(fs, "ro")
        with pytest.raises(StorageError, match="writable") as refused:
            Project.open(fs / "project")
        assert "\n" not in str(refused.value)
        result = CliRunner().invoke(cli_app, ["project", "concepts", str(fs / "project")])
        assert result.exit_code != 0 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "writable" in result.stderr
        remount(fs, "rw")
        assert integrity(fs / "project") == "ok"
        assert labels_in(fs / "project") == acknowledged
