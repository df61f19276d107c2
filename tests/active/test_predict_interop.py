"""`seals predict` knows what is labeled: it marks labeled items (`label`, `labeled`) and, with
`--unlabeled`, ranks only the others; the labels come from a run's labels file or a labeling
project (`--project DIR --concept NAME`), with a trained or an exported model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.active.predict import predict_top
from sealsearch.cli import app
from sealsearch.sessions.project import Project

runner = CliRunner()


def seals(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def labeled_project(small_dataset, tmp_path_factory):
    """A project whose concept "rare" has 6 positives, 14 negatives and one skip."""
    path = tmp_path_factory.mktemp("project") / "p"
    rare = small_dataset.concept_rows("rare")
    others = np.setdiff1d(np.arange(small_dataset.info.n), rare)
    ids = small_dataset.items["id"].to_numpy()
    with Project.init(path, small_dataset.path) as project:
        project.create_concept("rare", positives=list(ids[rare[:6]]))
        session = project.concept("rare")
        session.label("ann", [(item, "negative") for item in ids[others[:14]]])
        session.label("ann", [(ids[rare[6]], "skip")])
    return path, {**dict.fromkeys(rare[:6], 1), **dict.fromkeys(others[:14], 0), rare[6]: None}


def test_unlabeled_ranks_only_items_without_a_label(small_dataset, tmp_path):
    given = pd.DataFrame({"round": 0, "row": [0, 1, 2, 3, 4, 5], "label": [1, 1, 1, 0, 0, 0]})
    given["row"] = small_dataset.concept_rows("rare")[:3].tolist() + [7, 8, 9]
    given.to_parquet(tmp_path / "labels.parquet")
    everything = predict_top(small_dataset, tmp_path / "labels.parquet", top=small_dataset.info.n)
    only_new = predict_top(small_dataset, tmp_path / "labels.parquet", top=20, unlabeled=True)
    assert not only_new["labeled"].any() and only_new["label"].isna().all() and len(only_new) == 20
    expected = everything[~everything["labeled"]].head(20)
    assert only_new["row"].tolist() == expected["row"].tolist()  # the same ranking, labeled rows left out
    assert everything["labeled"].sum() == 6  # without --unlabeled they are there, marked


def test_a_projects_labels_are_marked_or_left_out(small_dataset, labeled_project, tmp_path):
    path, truth = labeled_project
    n = small_dataset.info.n
    result = seals("predict", small_dataset.path, "--project", path, "--out", tmp_path / "all.parquet", "--top", n)
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "all.parquet")
    marked = table[table["labeled"]]
    assert sorted(marked["row"]) == sorted(truth)
    pairs = zip(marked["row"], marked["label"], strict=True)
    assert {row: (None if pd.isna(label) else int(label)) for row, label in pairs} == truth
    assert "labeled" in result.output  # the printed table shows the column too

    result = seals("export", path, "--concept", "rare", "--model", tmp_path / "rare.joblib")
    assert result.exit_code == 0, result.output
    result = seals(
        "predict", small_dataset.path, "--model", tmp_path / "rare.joblib", "--project", path, "--concept", "rare",
        "--unlabeled", "--top", 30, "--out", tmp_path / "new.parquet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    new = pd.read_parquet(tmp_path / "new.parquet")
    assert len(new) == 30 and not set(new["row"]) & set(truth) and not new["labeled"].any()


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--model", "m.joblib", "--unlabeled"], "--unlabeled needs to know what is labeled"),
        (["--labels", "l.parquet", "--project", "p"], "not both"),
        ([], "give --labels RUN.labels.parquet, --project DIR --concept NAME, or --model"),
    ],
)
def test_predict_refuses_in_one_line(small_dataset, labeled_project, tmp_path, flags, fragment):
    path, _ = labeled_project
    if "--model" in flags:
        assert seals("export", path, "--concept", "rare", "--model", tmp_path / "m.joblib").exit_code == 0
        flags = ["--model", tmp_path / "m.joblib", "--unlabeled"]
    result = seals("predict", small_dataset.path, *flags)
    message = result.output.strip()
    assert result.exit_code != 0 and len(message.splitlines()) == 1 and fragment in message, message
