"""`seals export --format label-studio`: Label Studio task import JSON with the labels as
annotations (a skip is a cancelled one) and the concept model's P(positive) as predictions; texts
as `data.text`, images as a local-files URL of the file under the dataset's media root."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import unquote

import joblib
import numpy as np
import pytest
from typer.testing import CliRunner

from sealsearch.active.learner import positive_proba
from sealsearch.cli import app
from sealsearch.datasets.digits import build_digits_dataset
from sealsearch.sessions.project import Project


def seals(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def label_some(project: Project, dataset, concept: str) -> dict[str, str]:
    """6 positives (seeds), 10 negatives and a skip; returns id -> label."""
    rows = dataset.concept_rows(concept)
    others = np.setdiff1d(np.arange(dataset.info.n), rows)
    ids = dataset.items["id"].astype(str).to_numpy()
    project.create_concept(concept, positives=list(ids[rows[:6]]))
    session = project.concept(concept)
    session.label("ann", [(item, "negative") for item in ids[others[:10]]])
    session.label("bob", [(ids[rows[6]], "skip")])
    return {**dict.fromkeys(ids[rows[:6]], "positive"), **dict.fromkeys(ids[others[:10]], "negative"),
            ids[rows[6]]: "skip"}  # fmt: skip


def test_text_labels_become_annotations_and_scores_predictions(small_dataset, tmp_path):
    with Project.init(tmp_path / "p", small_dataset.path) as project:
        truth = label_some(project, small_dataset, "rare")
        model = joblib.load(io.BytesIO(project.concept("rare").model_bytes()))
    result = seals("export", tmp_path / "p", "--out", tmp_path / "tasks.json")  # .json: label-studio
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'tasks.json'}: 17 labels" in result.output
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert {task["data"]["item_id"]: task for task in tasks}.keys() == truth.keys()
    for task in tasks:
        item, (annotation,) = task["data"]["item_id"], task["annotations"]
        row = int(np.flatnonzero(small_dataset.items["id"].astype(str) == item)[0])
        assert task["data"]["text"] == small_dataset.items["text"][row] and "image" not in task["data"]
        if truth[item] == "skip":
            assert (
                annotation["was_cancelled"]
                and annotation["result"] == []
                and task["data"]["labelers"] == {"rare": "bob"}
            )
        else:
            assert not annotation["was_cancelled"]
            assert annotation["result"] == [{"from_name": "rare", "to_name": "text", "type": "choices",
                                             "value": {"choices": [truth[item]]}}]  # fmt: skip
        (prediction,) = task["predictions"]
        expected = float(positive_proba(model, small_dataset.embeddings.take(np.array([row])))[0])
        assert (
            prediction["score"] == pytest.approx(expected, abs=1e-6)
            and prediction["model_version"] == "sealsearch:rare"
        )
        side = "positive" if expected >= 0.5 else "negative"
        assert (
            prediction["result"][0]["value"] == {"choices": [side]} and prediction["result"][0]["from_name"] == "rare"
        )


def test_images_are_local_files_urls_of_the_media(tmp_path):
    dataset = build_digits_dataset(tmp_path / "digits", rare_digit=3, rare_keep=10)
    with Project.init(tmp_path / "p", dataset.path) as project:
        truth = label_some(project, dataset, "digit-3")
        project.export(tmp_path / "tasks.json", format="label-studio", concept="digit-3")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert len(tasks) == len(truth)
    for task in tasks:
        url = task["data"]["image"]
        assert url.startswith("/data/local-files/?d=")
        file = Path("/" + unquote(url.split("?d=", 1)[1]))
        row = int(np.flatnonzero(dataset.items["id"] == task["data"]["item_id"])[0])
        assert file == dataset.media_file(dataset.items["uri"][row]) and file.is_file()
        assert all(a["result"][0]["to_name"] == "image" for a in task["annotations"] if a["result"])


def test_an_unknown_format_is_one_line(small_dataset, tmp_path):
    with Project.init(tmp_path / "p", small_dataset.path) as project:
        label_some(project, small_dataset, "rare")
    result = seals("export", tmp_path / "p", "--format", "labelstudio", "--out", tmp_path / "x.json")
    message = result.output.strip()
    assert result.exit_code != 0 and len(message.splitlines()) == 1 and "label-studio" in message, message
    assert not (tmp_path / "x.json").exists()
