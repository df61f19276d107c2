"""`seals label` driven through a real pty by a typing thread and SIGKILLed (its whole process
group) at seeded random moments, over and over: after each kill the project's SQLite file is
intact, every answer the terminal acknowledged with "saved" is there, the key in flight is wholly
there or absent, and the restarted terminal shows first the item that was waiting for an answer.
One short chain runs by default; the long one carries the `crash` marker."""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
from test_label_cli import PROMPT, Terminal

from crash_support import integrity, record_kill, truth
from sealsearch.sessions import Project
from web_support import make_text_dataset

KEYS = {"positive": "y", "negative": "n", "skip": "s"}
CONCEPTS = ["music", "weather", "city", "tool", "fruit"]


@pytest.fixture(scope="module")
def text_dataset(tmp_path_factory):
    return make_text_dataset(tmp_path_factory.mktemp("pty") / "texts")


def shown_item(text: str, at: int) -> str:
    return re.findall(r"id (t\d{5}) ·", text[:at])[-1]


class Typist(threading.Thread):
    """Answers every item the terminal shows until the terminal dies."""

    def __init__(self, terminal: Terminal, answers: dict[str, str], rng: np.random.Generator, labels: dict):
        super().__init__(daemon=True)
        self.terminal, self.answers, self.rng, self.labels = terminal, answers, rng, labels
        self.state: tuple | None = None  # ("prompt", item) | ("typed", item, label)
        self.concept = ""
        self.first_shown: str | None = None
        self.acknowledged = 0
        self.ready = threading.Event()
        self.pause = threading.Event()  # set: stop at the next prompt (the kill finds it waiting)
        self.go = threading.Event()  # set once the previous kill point is checked: typing may begin

    def run(self) -> None:
        at = 0
        try:
            while True:
                at = self.terminal.read_until(PROMPT, at)
                item = shown_item(self.terminal.text, at)
                self.first_shown = self.first_shown or item
                self.state = ("prompt", item)
                self.ready.set()
                self.go.wait(120)
                if self.pause.is_set():
                    return
                if self.rng.random() < 0.3:  # a person reading the item: idle at the prompt
                    threading.Event().wait(0.05)
                label = "skip" if self.rng.random() < 0.05 else self.answers[item]
                self.state = ("typed", item, label)
                self.terminal.type(KEYS[label])
                at = self.terminal.read_until(f"{label}: saved", at)
                self.labels[item] = label
                self.acknowledged += 1
                self.state = None
        except (AssertionError, OSError):
            self.ready.set()  # the terminal was killed (or never showed an item)


def start(project_dir: Path, concept: str, answers, rng, labels) -> Typist:
    terminal = Terminal("label", project_dir, "--concept", concept, "--labeler", "bob")
    typist = Typist(terminal, answers, rng, labels)
    typist.start()
    return typist


def stop(typist: Typist) -> None:
    os.killpg(typist.terminal.process.pid, signal.SIGKILL)
    typist.join(timeout=60)
    typist.terminal.finish()
    assert not typist.is_alive()


def test_sigkill_through_a_pty_loses_no_acknowledged_answer(tmp_path, text_dataset, kills):
    categories = truth(text_dataset)
    answers, labels = {}, {}  # per concept: the oracle, and the acknowledged final labels
    with Project.init(tmp_path / "project", dataset=text_dataset.path) as project:
        for concept in CONCEPTS:  # one concept per 12 kills, so no chain runs out of items
            answers[concept] = {item: "positive" if cat == concept else "negative" for item, cat in categories.items()}
            seed_item = next(item for item, cat in categories.items() if cat == concept)
            project.create_concept(concept, positives=[seed_item])
            labels[concept] = {seed_item: "positive"}
    rng = np.random.default_rng(kills)
    counts = {"kills": 0, "acknowledged": 0, "labels_checked": 0, "next_item_compared": 0}
    previous: Typist | None = None
    for cycle in range(kills + 1):
        concept = CONCEPTS[cycle // 12 % len(CONCEPTS)]
        typist = start(tmp_path / "project", concept, answers[concept], rng, labels[concept])
        typist.concept = concept
        assert typist.ready.wait(120) and typist.first_shown, typist.terminal.text[-2000:]
        if previous is not None:  # check the previous kill point, now that the project reopened
            state, done = previous.state, labels[previous.concept]
            if state is not None and state[0] == "typed" and state[1] not in done:
                with Project.open(tmp_path / "project") as project:
                    stored = dict(project.concept(previous.concept).labels_frame()[["id", "label"]].to_numpy())
                if stored.get(state[1]) == state[2]:
                    done[state[1]] = state[2]  # the key in flight landed, whole
                    state = None
                elif state[1] in stored:
                    raise AssertionError(f"{state[1]} stored as {stored[state[1]]}, typed {state[2]}")
                else:
                    state = ("prompt", state[1])
            if state is not None and previous.concept == concept:  # nothing landed: the item is shown first again
                assert typist.first_shown == state[1], (state, typist.first_shown)
                counts["next_item_compared"] += 1
        typist.go.set()
        if cycle == kills:
            stop(typist)
            break
        threading.Event().wait(rng.uniform(0.05, 1.5))
        if cycle % 3 == 2:  # every third kill finds the terminal waiting at a prompt
            typist.pause.set()
            typist.join(timeout=60)
        stop(typist)
        record_kill("label", True)
        counts["kills"] += 1
        counts["acknowledged"] += typist.acknowledged
        assert integrity(tmp_path / "project") == "ok"
        with Project.open(tmp_path / "project") as project:
            stored = dict(project.concept(concept).labels_frame()[["id", "label"]].to_numpy())
        state, done = typist.state, labels[concept]
        extra = {item: label for item, label in stored.items() if done.get(item) != label}
        assert set(done.items()) <= set(stored.items()), "an acknowledged answer is missing"
        assert not extra or (state is not None and state[0] == "typed" and extra == {state[1]: state[2]}), extra
        counts["labels_checked"] += len(done)
        previous = typist
    print(f"\npty kill chain: {counts}")
    assert counts["kills"] == kills and counts["next_item_compared"] >= 1


def pytest_generate_tests(metafunc):
    if "kills" in metafunc.fixturenames:
        metafunc.parametrize("kills", [3, pytest.param(50, marks=pytest.mark.crash)])
