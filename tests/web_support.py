"""Helpers of the web tests: a small GloVe-embedded text dataset, a project over it, and a
real `seals serve` subprocess on a free port (polled until it answers, never slept on)."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from sealsearch.data.writer import write_dataset
from sealsearch.embedders.glove import EMBEDDER_NAME, embed_texts

SRC = Path(__file__).resolve().parents[1] / "src"
CATEGORIES = {
    "dog": ["beagle", "poodle", "terrier", "retriever", "bulldog", "dachshund", "collie", "spaniel", "greyhound"],
    "car": ["sedan", "truck", "minivan", "convertible", "hatchback", "coupe", "jeep", "limousine", "pickup"],
    "fruit": ["apple", "banana", "cherry", "mango", "peach", "plum", "grape", "lemon", "orange"],
    "tool": ["hammer", "wrench", "screwdriver", "saw", "drill", "chisel", "pliers", "shovel", "rake"],
    "city": ["paris", "london", "tokyo", "berlin", "madrid", "rome", "vienna", "prague", "dublin"],
    "music": ["guitar", "violin", "piano", "trumpet", "drum", "flute", "cello", "harp", "saxophone"],
    "weather": ["rain", "snow", "storm", "fog", "hail", "thunder", "drizzle", "blizzard", "breeze"],
}
ADJECTIVES = ["old", "small", "big", "red", "quiet", "famous", "cheap", "new"]
PLACES = ["in the park", "near the river", "at home", "on the street", "in the picture"]


def make_text_dataset(path: Path):
    """~2,500 short texts in seven topics, embedded with averaged GloVe-50d; concept 'dog' (the
    dog-breed texts, 1/7 of the items), a quarter of the items in the test split."""
    rows = []
    for category, words in CATEGORIES.items():
        for word, adjective, place in itertools.product(words, ADJECTIVES, PLACES):
            rows.append((category, f"a {adjective} {word} {place}"))
    items = pd.DataFrame(rows, columns=["category", "text"])
    items["id"] = [f"t{i:05d}" for i in range(len(items))]
    items["uri"] = None
    items["split"] = np.where(np.random.default_rng(0).random(len(items)) < 0.25, "test", "pool")
    concepts = pd.DataFrame({"row": np.flatnonzero(items["category"] == "dog"), "concept": "dog"})
    vectors = embed_texts(items["text"].tolist())
    return write_dataset(
        path,
        vectors,
        name="texts",
        embedder=EMBEDDER_NAME,
        items=items[["id", "text", "uri", "split"]],
        concepts=concepts,
    )


def seals_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from sealsearch.cli import app; app()", *args]


class Server:
    """`seals serve PROJECT -p 0` in a subprocess; the URL is read from its first line."""

    def __init__(self, project: Path, *extra: str, timeout: float = 60.0):
        env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            seals_command("serve", str(project), "-p", "0", *extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.process.stdout.readline()
        match = re.search(r"at (http://\S+/)", line)
        if not match:
            self.kill()
            raise RuntimeError(f"seals serve did not start: {line!r} {self.process.stderr.read()}")
        self.url = match.group(1).rstrip("/").replace("//0.0.0.0:", "//127.0.0.1:")
        self.stdout_tail: deque[str] = deque(maxlen=200)  # drained, so a chatty server never fills a pipe
        self._readers = [
            threading.Thread(target=self.stdout_tail.extend, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self._readers:
            reader.start()
        token = extra[extra.index("--token") + 1] if "--token" in extra else None
        headers = {"authorization": f"Bearer {token}"} if token else {}
        deadline = time.monotonic() + timeout
        while True:  # the socket is bound before the line is printed; poll until the app answers
            if self.process.poll() is not None:
                raise RuntimeError(f"seals serve exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/api/concepts", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("seals serve did not answer within the timeout")
            time.sleep(0.05)

    def output(self) -> str:
        """What the server printed after its first line (the last 200 lines), once it exited."""
        for reader in self._readers:
            reader.join(timeout=10)
        return "".join(self.stdout_tail)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig`; a server still running 30 s later (its requests in flight are let finish
        first) is killed."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill(signal.SIGTERM)


@contextmanager
def served_text_project(root: Path) -> Iterator[Server]:
    """A project over `make_text_dataset` under `root`, served by a real `seals serve`; the server's
    `dogs` holds the ids of the "dog" concept (what a test labels positive)."""
    from sealsearch.sessions import Project

    dataset = make_text_dataset(root / "texts")
    Project.init(root / "project", dataset=dataset.path).close()
    dogs = set(dataset.items["id"].iloc[dataset.concept_rows("dog")])
    with Server(root / "project") as running:
        running.dogs = dogs
        yield running


CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def chromium_page(timeout_ms: int = 20_000) -> Iterator:
    """A Playwright page in headless Debian chromium; a JavaScript error on the page fails the test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        browser.close()
        assert not errors, errors
