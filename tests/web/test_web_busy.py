"""A project held for writing by another process (a real second process in BEGIN IMMEDIATE): the
server answers a write with 503 and Retry-After after a few seconds, not 507 after 30; reads go
on; nothing of the refused call is recorded, and the same call succeeds once the lock is gone.
The library raises ProjectBusyError, and the CLI prints one line and exits 75 (EX_TEMPFAIL)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from sealsearch.cli import app as cli_app
from sealsearch.errors import ProjectBusyError
from sealsearch.sessions import Project
from web_support import Server

LABELER = "alice"
HOLD = (  # another program holding the project's write lock until its stdin closes
    "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); db.execute('BEGIN IMMEDIATE'); "
    "print('locked', flush=True); sys.stdin.readline()"
)


@pytest.fixture
def locked(tmp_path, text_dataset):
    """(project dir, a function that starts the locker and returns a release function)."""
    dataset = text_dataset
    with Project.init(tmp_path / "project", dataset=dataset.path) as project:
        project.create_concept("dog", query="dog")
    lockers = []

    def lock():
        locker = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(tmp_path / "project" / "project.sqlite")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        lockers.append(locker)
        assert locker.stdout.readline().strip() == "locked"

        def release():
            locker.stdin.close()
            locker.wait(timeout=30)

        return release

    yield tmp_path / "project", lock
    for locker in lockers:
        if locker.poll() is None:
            locker.kill()
            locker.wait()


def test_a_busy_project_is_a_503_with_retry_after_and_the_retry_succeeds(locked):
    project_dir, lock = locked
    with Server(project_dir) as server, httpx.Client(base_url=server.url, timeout=20) as api:  # 20 s < the old 30
        batch = api.post("/api/concepts/dog/batch", json={"labeler": LABELER}).json()
        body = {"labeler": LABELER, "labels": [{"id": batch["items"][0]["id"], "label": "positive"}]}
        release = lock()
        busy = api.post("/api/concepts/dog/labels", json=body)
        assert busy.status_code == 503, busy.text
        assert int(busy.headers["retry-after"]) > 0
        message = busy.json()["error"]
        assert "busy" in message and "retry" in message and "\n" not in message
        assert api.get("/api/concepts/dog/labels").json()["total"] == 0  # reads go on, nothing recorded
        assert api.post("/api/concepts/dog/batch", json={"labeler": LABELER, "new": True}).status_code == 503
        release()
        assert api.post("/api/concepts/dog/labels", json=body).json() == {"acknowledged": 1}
        assert api.get("/api/concepts/dog/labels").json()["total"] == 1


def test_the_library_and_the_cli_say_busy_in_one_line(locked):
    project_dir, lock = locked
    release = lock()
    with pytest.raises(ProjectBusyError, match="busy") as refused:
        Project.open(project_dir)
    assert "\n" not in str(refused.value)
    result = CliRunner().invoke(cli_app, ["project", "concepts", str(project_dir)])
    assert result.exit_code == 75 and result.stderr.count("\n") == 1 and "busy" in result.stderr, result.stderr
    release()
    with Project.open(project_dir) as project:
        assert [c["name"] for c in project.concepts()] == ["dog"]
