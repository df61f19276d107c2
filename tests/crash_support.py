"""Helpers of the crash tests: run a real `seals` subprocess and SIGKILL it at a seeded random
moment; kill points split into a fast subset (default suite) and the rest (marker `crash`)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import web_support

SRC = Path(__file__).resolve().parents[1] / "src"


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def seals_command(*args: object) -> list[str]:
    return [sys.executable, "-c", "from sealsearch.cli import app; app()", *map(str, args)]


def kill_points(total: int, fast: int) -> list:
    """Seeds 0..total-1; all but the first `fast` carry the `crash` marker (`make test` runs them)."""
    return [seed if seed < fast else pytest.param(seed, marks=pytest.mark.crash) for seed in range(total)]


def run_to_end(*args: object, timeout: float = 300) -> float:
    """Run a `seals` command to completion (it must succeed); returns its wall time."""
    started = time.monotonic()
    done = subprocess.run(seals_command(*args), env=child_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return time.monotonic() - started


def record_kill(kind: str, killed: bool) -> None:
    """With SEALS_KILL_LOG set, append one line per kill point (counted for the reliability note)."""
    log = os.environ.get("SEALS_KILL_LOG")
    if log:
        with open(log, "a") as file:
            file.write(f"{kind} {'killed' if killed else 'finished'}\n")


def run_and_kill(*args: object, after: float) -> bool:
    """Start a `seals` command and SIGKILL it `after` seconds later; True when it was killed
    (False: it had already finished, successfully)."""
    process = subprocess.Popen(
        seals_command(*args), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        process.wait(timeout=after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        record_kill(str(args[0]) if args[0] != "index" else f"index {args[1]}", True)
        return True
    assert process.returncode == 0, process.stderr.read()[-2000:]
    record_kill(str(args[0]) if args[0] != "index" else f"index {args[1]}", False)
    return False


def truth(dataset) -> dict[str, str]:
    """item id -> its category (the oracle's answers)."""
    texts = dataset.items["text"].tolist()
    category = {word: name for name, words in web_support.CATEGORIES.items() for word in words}
    return {item: category[text.split()[2]] for item, text in zip(dataset.items["id"], texts, strict=True)}


def integrity(project_dir: Path) -> str:
    with sqlite3.connect(project_dir / "project.sqlite") as db:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    return result
