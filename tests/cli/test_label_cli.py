"""`seals label` in a real subprocess on a real project file: driven through a pty (single keys,
cbreak mode) and through a pipe (one key per line); afterwards the library must hold exactly the
answers the terminal acknowledged with "saved"."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sealsearch
from sealsearch.cli import app
from sealsearch.data.writer import write_dataset
from sealsearch.datasets.digits import build_digits_dataset
from sealsearch.sessions import Project

SRC = str(Path(sealsearch.__file__).resolve().parents[1])
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PROMPT = "[y/n/s/u/b/a/q]"
runner = CliRunner()


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return build_digits_dataset(tmp_path_factory.mktemp("digits") / "digits")


@pytest.fixture
def project_dir(digits, tmp_path):
    Project.init(tmp_path / "project", dataset=digits.path).close()
    return tmp_path / "project"


def seals_command(*args) -> list[str]:
    return [sys.executable, "-c", "from sealsearch.cli import app; app()", *map(str, args)]


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}


class Terminal:
    """A `seals` subprocess whose stdin, stdout and stderr are a pseudo-terminal."""

    def __init__(self, *args):
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(
            seals_command(*args), stdin=slave, stdout=slave, stderr=slave, env=child_env(), start_new_session=True
        )
        os.close(slave)
        self.text = ""

    def read_until(self, pattern: str, start: int, timeout: float = 60) -> int:
        """Read until `pattern` appears after position `start`; returns the position after it."""
        deadline = time.monotonic() + timeout
        while (found := self.text.find(pattern, start)) < 0:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and self.process.poll() is None, f"no {pattern!r} in:\n{self.text[-2000:]}"
            if select.select([self.master], [], [], remaining)[0]:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                self.text += ANSI.sub("", chunk.decode("utf-8", "replace")).replace("\r", "")
        return found + len(pattern)

    def type(self, key: str) -> None:
        os.write(self.master, key.encode())  # one key press, no Enter: the child is in cbreak mode

    def finish(self, timeout: float = 60) -> int:
        try:
            while True:
                if not select.select([self.master], [], [], 0.2)[0]:
                    if self.process.poll() is not None:
                        break
                    continue
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                self.text += ANSI.sub("", chunk.decode("utf-8", "replace")).replace("\r", "")
            return self.process.wait(timeout)
        finally:
            os.close(self.master)


def shown_id(text: str, at: int) -> str:
    """The id of the item shown last before position `at`."""
    return re.findall(r"id (digit-\d{4}) ·", text[:at])[-1]


def final_labels(project_dir: Path, concept: str) -> dict[str, tuple[str, str]]:
    with Project.open(project_dir) as project:
        frame = project.concept(concept).labels_frame()
    return {row.id: (row.label, row.labeler) for row in frame.itertuples()}


@pytest.mark.parametrize("ending", ["q", "kill"])
def test_pty_single_keys_save_exactly_the_acknowledged_answers(project_dir, ending):
    terminal = Terminal("label", project_dir, "--concept", "zero", "--positive", "digit-0000", "--labeler", "ann")
    expected = {"digit-0000": ("positive", "seed")}
    at, skipped = 0, None
    for key in "ynsu" + "yn":
        at = terminal.read_until(PROMPT, at)
        item = shown_id(terminal.text, at)
        terminal.type(key)
        at = terminal.read_until("saved", at)
        if key == "u":
            assert f"undid skip on {skipped}" in terminal.text[:at]
            expected.pop(skipped)
        else:
            expected[item] = ({"y": "positive", "n": "negative", "s": "skip"}[key], "ann")
            skipped = item if key == "s" else skipped
    at = terminal.read_until(PROMPT, at)
    if ending == "q":
        terminal.type("q")
        assert terminal.finish() == 0
        assert "4 answers saved this time" in terminal.text  # y n s, one undone, y n: undo is no answer
    else:  # a crash after the acknowledgements loses none of them
        os.killpg(terminal.process.pid, signal.SIGKILL)
        terminal.finish()
    labels = final_labels(project_dir, "zero")
    assert {item: label for item, (label, _) in labels.items()} == {item: label for item, (label, _) in
                                                                     expected.items()}  # fmt: skip
    assert all(labeler == expected[item][1] for item, (_, labeler) in labels.items())


def test_pipe_one_key_per_line_and_end_of_input_quits(project_dir):
    keys = "y\n\nn\nx\nu\nu\nu\ns\n"  # blank lines are ignored, x shows the help, 3 undos for 2 answers
    result = subprocess.run(
        seals_command("label", project_dir, "--concept", "zero", "--positive", "digit-0000", "--labeler", "bob"),
        input=keys, capture_output=True, text=True, env=child_env(), timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.count("saved") == 6 and "keys: [y] positive" in text and "nothing to undo" in text
    first_two = re.findall(r"id (digit-\d{4}) ·", text)[:2]
    last_shown = re.findall(r"id (digit-\d{4}) ·", text)[-2]  # the item skipped, shown before the final prompt
    assert first_two[0] == last_shown  # both undone, so the first item is shown again and then skipped
    assert final_labels(project_dir, "zero") == {"digit-0000": ("positive", "seed"), first_two[0]: ("skip", "bob")}


def test_an_existing_concept_needs_no_seed_and_a_missing_one_needs_one(project_dir):
    result = runner.invoke(app, ["label", str(project_dir), "--concept", "nothing"], input="q\n")
    assert result.exit_code == 2 and "give --query TEXT or --positive ID" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["label", str(project_dir), "--concept", "x", "--positive", "no-such-id"])
    assert result.exit_code == 2 and "unknown item id 'no-such-id'" in result.output
    result = runner.invoke(app, ["label", str(project_dir), "--concept", "x", "--query", "zero"])
    assert result.exit_code == 2 and "text search is unavailable" in result.output
    result = runner.invoke(app, ["label", str(project_dir.parent / "nope"), "--concept", "x"])
    assert result.exit_code == 1 and "seals project init" in result.output


ANIMALS = ["dog", "cat", "horse", "cow", "sheep", "goat", "pig", "wolf", "fox", "bear", "lion", "tiger", "rabbit",
           "deer", "mouse", "rat", "elephant", "monkey", "donkey", "camel"]  # fmt: skip
OTHER = ["car", "truck", "house", "table", "chair", "city", "river", "music", "bank", "money", "computer", "phone",
         "window", "door", "road", "bridge", "paper", "book", "school", "law", "tax", "market", "oil", "steel",
         "glass", "shirt", "shoe", "bread", "rice", "salt", "train", "plane", "ship", "engine", "film", "song",
         "church", "court", "army", "election"]  # fmt: skip


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """Real GloVe vectors of a few words: a dataset whose embedder can embed text queries."""
    from sealsearch.embedders.glove import embed_texts

    texts = ANIMALS + OTHER
    items = pd.DataFrame({"id": texts, "text": texts, "split": "pool"})
    concepts = pd.DataFrame({"row": np.arange(len(ANIMALS)), "concept": "animal"})
    return write_dataset(tmp_path_factory.mktemp("words") / "words", embed_texts(texts), embedder="glove-6B-50d-mean",
                         items=items, concepts=concepts)  # fmt: skip


def test_query_creates_the_concept_and_search_mode_shows_its_neighbours(words, tmp_path):
    result = runner.invoke(app, ["project", "init", str(tmp_path / "p"), "--dataset", str(words.path)])
    assert result.exit_code == 0, result.output
    assert f"seals serve {tmp_path / 'p'}" in " ".join(result.output.split())  # the browser is suggested too
    result = runner.invoke(app, ["label", str(tmp_path / "p"), "--concept", "animal", "--query", "animal",
                                 "--labeler", "cy"], input="y\ny\nq\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "created concept 'animal'" in result.output and "search" in result.output
    labels = final_labels(tmp_path / "p", "animal")
    assert len(labels) == 2 and set(labels) <= set(ANIMALS)  # the query's neighbours are animals
    result = runner.invoke(app, ["project", "concepts", str(tmp_path / "p")])
    assert result.exit_code == 0 and re.search(r"animal\s+2\s+2\s+0\s+0\s+mlp", result.output), result.output


def test_b_asks_for_a_new_batch_and_the_answers_so_far_are_its_round(words, tmp_path):
    Project.init(tmp_path / "p", dataset=words.path).close()
    result = runner.invoke(app, ["label", str(tmp_path / "p"), "--concept", "animal", "--query", "animal",
                                 "--labeler", "cy"], input="y\nn\nb\ny\nq\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "asking for a new batch" in result.output and "[b] new batch now" in result.output
    with Project.open(tmp_path / "p") as project:
        c = project.concept("animal")
        log = project.store.round_log(c.settings.id)
        assert [(r["reason"], len(r["events"])) for r in log] == [("new batch", 2)]  # the third answer: still open
        batches = project.store.query("SELECT id FROM batches ORDER BY id")
        assert len(batches) == 2 and log[0]["batch_id"] == batches[0]["id"]


def test_a_draws_an_audit_shown_next_and_the_progress_line_shows_the_estimate(words, tmp_path):
    Project.init(tmp_path / "p", dataset=words.path).close()
    result = runner.invoke(app, ["label", str(tmp_path / "p"), "--concept", "animal", "--query", "animal",
                                 "--labeler", "cy"], input="y\nn\nb\na\nn\nn\nn\nq\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "[a] audit" in result.output and "audit: " in result.output
    output = " ".join(result.output.split())  # the terminal wraps long lines
    assert re.search(r"≈ [\d.]+% of positives found \(95%: [\d.]+%–[\d.]+%, no guarantee\) \[model estimate", output)
    closing = output[output.rindex("labels ") :]  # the closing progress line: 3 audit labels, a certified bound
    assert "[audit of 3, holds at every look" in closing and "with 95% confidence at least" in closing
    with Project.open(tmp_path / "p") as project:
        drawn = {r["item_id"] for r in project.store.query("SELECT item_id FROM audit_draws")}
        labels = final_labels(tmp_path / "p", "animal")
        audited = [item for item, (label, _) in labels.items() if item in drawn]
        assert len(audited) == 3 and all(labels[item][0] == "negative" for item in audited)
        estimate = project.concept("animal").estimate()
        assert estimate["method"] == "audit" and estimate["audit_labels"] == 3


def test_label_takes_the_rest_apis_settings_and_defaults_to_finding(project_dir):
    keys = "y\nn\nu\nq\n"  # two answers, one undone: one answer saved this time
    result = runner.invoke(app, ["label", str(project_dir), "--concept", "one", "--positive", "digit-0001",
                                 "--pool", "all", "--batch-size", "3", "--labeler", "bob"], input=keys)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "strategy mlp: find as many as possible (most likely positive first), pool all" in result.output
    assert "batch size 3" in result.output and "1 answers saved this time" in result.output
    with Project.open(project_dir) as project:
        settings = {row["name"]: row for row in project.concepts()}["one"]
    assert (settings["strategy"], settings["pool"], settings["batch_size"]) == ("mlp", "all", 3)
    result = runner.invoke(app, ["label", str(project_dir), "--concept", "two", "--positive", "digit-0002",
                                 "--strategy", "maxent", "--k", "7"], input="q\n")  # fmt: skip
    assert result.exit_code == 0 and "strategy maxent: train the best classifier" in result.output
    assert "k 7" in result.output
    result = runner.invoke(app, ["label", str(project_dir), "--concept", "two", "--strategy", "kcenter"], input="q\n")
    assert "concept 'two' exists; --strategy ignored" in result.output
    result = runner.invoke(app, ["label", str(project_dir), "--concept", "three", "--positive", "digit-0003",
                                 "--strategy", "maxnet"])  # fmt: skip
    assert result.exit_code == 2 and "did you mean 'maxent'" in result.output
