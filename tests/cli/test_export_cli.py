"""`seals export` (csv, jsonl, parquet, --model) and `seals predict --model` on the exported model."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import average_precision_score
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.data.writer import write_dataset
from sealsearch.datasets.digits import build_digits_dataset
from sealsearch.sessions import Project

COLUMNS = ["id", "text", "uri", "concept", "label", "labeler", "time"]
runner = CliRunner()


def seals(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
    """A digits project where an oracle labeled 6 batches of concept 'three' and 1 of 'seven'."""
    root = tmp_path_factory.mktemp("export")
    digits = build_digits_dataset(root / "digits")
    threes = set(digits.items["id"].iloc[digits.concept_rows("digit-3")])
    with Project.init(root / "project", dataset=digits.path) as project:
        seeds = sorted(threes & set(digits.items["id"][digits.items["split"] == "pool"]))[:3]
        project.create_concept("three", positives=seeds)
        project.create_concept("seven", positives=["digit-0007"])
        for name, batches in (("three", 6), ("seven", 1)):
            session = project.concept(name)
            for _ in range(batches):
                batch = session.next_batch(labeler="oracle")
                answers = [(i["id"], "positive" if i["id"] in threes or name == "seven" else "negative")
                           for i in batch["items"]]  # fmt: skip
                session.label(labeler="oracle", labels=answers, batch=batch["batch"])
    return root, digits


@pytest.mark.parametrize("format_", ["csv", "jsonl", "parquet"])
def test_every_format_holds_the_final_labels_of_all_concepts(labeled, tmp_path, format_):
    root, _ = labeled
    output = tmp_path / f"labels.{format_}"
    result = seals("export", root / "project", "--format", format_, "--out", output)
    assert result.exit_code == 0, result.output
    if format_ == "csv":
        frame = pd.read_csv(output)
    elif format_ == "jsonl":
        frame = pd.DataFrame([json.loads(line) for line in output.read_text().splitlines()])
    else:
        frame = pd.read_parquet(output)
    assert list(frame.columns) == COLUMNS
    with Project.open(root / "project") as project:
        expected = pd.concat([project.concept(n).labels_frame() for n in ("three", "seven")], ignore_index=True)
    assert len(frame) == len(expected) == 3 + 60 + 1 + 10
    assert sorted(zip(frame["id"], frame["concept"], frame["label"], strict=True)) == sorted(
        zip(expected["id"], expected["concept"], expected["label"], strict=True)
    )
    assert set(frame["labeler"]) == {"seed", "oracle"} and frame["uri"].str.endswith(".png").all()
    assert f"wrote {output}: {len(frame)} labels of all concepts ({format_})" in result.output.replace("\n", "")


def test_one_concept_and_the_format_from_the_suffix(labeled, tmp_path):
    root, _ = labeled
    result = seals("export", root / "project", "--concept", "seven", "--out", tmp_path / "seven.csv")
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(tmp_path / "seven.csv")["concept"]) == {"seven"}
    result = seals("export", root / "project", "--concept", "sevn", "--out", tmp_path / "x.csv")
    assert result.exit_code == 2 and "did you mean 'seven'" in result.output and not (tmp_path / "x.csv").exists()
    result = seals("export", root / "project", "--out", tmp_path / "labels.txt")
    assert result.exit_code == 2 and "--format" in result.output
    result = seals("export", root / "project", "--format", "xlsx", "--out", tmp_path / "labels.xlsx")
    assert result.exit_code == 2 and "csv, jsonl, parquet" in result.output
    result = seals("export", root / "project")
    assert result.exit_code == 2 and "--out FILE" in result.output
    result = seals("export", root / "project", "--model", tmp_path / "m.joblib")
    assert result.exit_code == 2 and "--model needs --concept" in result.output


def test_an_empty_project_writes_the_header_or_schema_only(labeled, tmp_path):
    _, digits = labeled
    Project.init(tmp_path / "empty", dataset=digits.path).close()
    for format_ in ("csv", "jsonl", "parquet"):
        result = seals("export", tmp_path / "empty", "--format", format_, "--out", tmp_path / f"e.{format_}")
        assert result.exit_code == 0 and "0 labels" in result.output, result.output
    assert (tmp_path / "e.csv").read_text().strip() == ",".join(COLUMNS)
    assert (tmp_path / "e.jsonl").read_text() == ""
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 0 and table.schema.names == COLUMNS


def test_exported_model_ranks_the_concepts_test_items_first(labeled, tmp_path):
    root, digits = labeled
    model = tmp_path / "three.joblib"
    result = seals("export", root / "project", "--concept", "three", "--model", model)
    assert result.exit_code == 0 and model.is_file(), result.output
    top = tmp_path / "top.parquet"
    result = seals("predict", digits.path, "--model", model, "--top", digits.info.n, "--out", top)
    assert result.exit_code == 0, result.output
    ranked = pd.read_parquet(top)
    assert list(ranked.columns) == ["row", "id", "text", "uri", "score"] and len(ranked) == digits.info.n
    test = ranked[ranked["row"].isin(digits.split_rows("test"))]
    truth = test["row"].isin(digits.concept_rows("digit-3")).to_numpy()
    ap = average_precision_score(truth, test["score"])
    assert ap > 0.8 and ap > 5 * truth.mean(), ap  # random ranking: AP ≈ prevalence ≈ 0.1
    assert np.isin(ranked["row"].head(20), digits.concept_rows("digit-3")).mean() >= 0.9


FORMULAS = ["=1+2", "+SUM(A1:A9)", "-2+3", "@cmd", "\tTAB", "\rCR", '=HYPERLINK("http://x")']
NUMBERS = ["-5", "+1.5e3", "-0.25"]


def test_csv_cells_a_spreadsheet_would_run_are_escaped_and_numbers_stay(tmp_path):
    texts = [*FORMULAS, *NUMBERS, "plain", *[f"text {i}" for i in range(30)]]
    items = pd.DataFrame({"id": [f"item{i}" for i in range(len(texts))], "text": texts, "split": "pool"})
    vectors = np.random.default_rng(0).normal(size=(len(texts), 8)).astype(np.float32)
    write_dataset(tmp_path / "ds", vectors, name="formulas", embedder="test", items=items)
    with Project.init(tmp_path / "p", dataset=tmp_path / "ds", factory="Flat") as project:
        project.create_concept("=cmd|' -C calc'!A0", positives=list(items["id"][:11]))
    for format_ in ("csv", "jsonl"):
        result = seals("export", tmp_path / "p", "--out", tmp_path / f"labels.{format_}")
        assert result.exit_code == 0, result.output
    with open(tmp_path / "labels.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    texts_out = {row["id"]: row["text"] for row in rows}
    assert [texts_out[f"item{i}"] for i in range(11)] == ["'" + t for t in FORMULAS] + NUMBERS + ["plain"]
    assert {row["concept"] for row in rows} == {"'=cmd|' -C calc'!A0"}
    verbatim = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert sorted(row["text"] for row in verbatim) == sorted(texts[:11])  # JSON lines keep the text as it is
