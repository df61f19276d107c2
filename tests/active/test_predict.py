"""`seals predict`: rank every item with a learner trained on a run's labels file."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.active.learner import default_learner, fit_learner, positive_proba
from sealsearch.active.predict import predict_top
from sealsearch.cli import app
from sealsearch.experiments.simulate import RunConfig, run

runner = CliRunner()


@pytest.fixture(scope="module")
def labels_file(small_dataset, tmp_path_factory):
    config = RunConfig(concept="rare", strategy="mlp", pool="seals", k=10, budget=120, batch_size=20, seed_pos=2,
                       neg_ratio=9, factory="Flat")  # fmt: skip
    _, labels = run(small_dataset, config).save(tmp_path_factory.mktemp("run") / "rare.parquet")
    return labels


def test_predict_ranks_the_concepts_items_first(small_dataset, labels_file, tmp_path):
    out = tmp_path / "top.parquet"
    result = runner.invoke(app, ["predict", str(small_dataset.path), "--labels", str(labels_file), "--out", str(out),
                                 "--top", "25"])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert list(table.columns) == ["row", "id", "text", "score", "label", "labeled"]
    assert len(table) == 25 and np.all(np.diff(table["score"]) <= 0)
    rare = small_dataset.concept_rows("rare")
    assert np.isin(table["row"], rare).mean() >= 0.9  # the tight concept (30 items) tops the ranking
    assert table["id"].tolist() == [f"item{row}" for row in table["row"]]
    assert table["text"].tolist() == [f"text {row}" for row in table["row"]]
    assert f"item{table['row'][0]}" in result.output and f"wrote {out}" in result.output


def test_predict_scores_every_item_like_the_trained_model(small_dataset, labels_file):
    given = pd.read_parquet(labels_file)
    store = small_dataset.embeddings
    table = predict_top(small_dataset, labels_file, top=store.n)
    model = fit_learner(default_learner(), store.take(given["row"].to_numpy()), given["label"].to_numpy())
    expected = positive_proba(model, store.take(table["row"].to_numpy()))
    assert sorted(table["row"]) == list(range(store.n))
    np.testing.assert_allclose(table["score"], expected, rtol=1e-5)
    label_of = dict(zip(given["row"], given["label"], strict=True))
    assert table["label"].tolist() == [label_of.get(row, pd.NA) for row in table["row"]]


def test_predict_works_without_an_items_table(tmp_path):
    from conftest import clustered_vectors
    from sealsearch.data.writer import write_dataset

    vectors, _ = clustered_vectors(300, 8, 3, np.random.default_rng(0))
    dataset = write_dataset(tmp_path / "bare", vectors)
    pd.DataFrame({"round": 0, "row": [1, 2, 3], "label": [1, 0, 0]}).to_parquet(tmp_path / "l.parquet")
    table = predict_top(dataset, tmp_path / "l.parquet", top=5)
    assert (
        list(table.columns) == ["row", "id", "score", "label", "labeled"]
        and table["id"].tolist() == table["row"].astype(str).tolist()
    )


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"row": [1], "label": [1]}), "missing \\['round'\\]"),
        (pd.DataFrame({"round": [0, 0], "row": [1, 10**6], "label": [1, 0]}), "row 1000000 is outside 0..1499"),
        (pd.DataFrame({"round": [0], "row": [-1], "label": [1]}), "row -1 is outside"),
        (pd.DataFrame({"round": [0], "row": [1], "label": [2]}), "'label' must hold 0"),
        (pd.DataFrame({"round": [0, 1], "row": [4, 4], "label": [1, 0]}), "row 4 is labeled both 0 and 1"),
        (pd.DataFrame({"round": [0], "row": ["x"], "label": [1]}), "'row' must hold integers"),
        (pd.DataFrame({"round": [], "row": [], "label": []}), "holds no labels"),
    ],
)
def test_bad_labels_files_are_one_line_errors(small_dataset, tmp_path, frame, message):
    path = tmp_path / "labels.parquet"
    frame.to_parquet(path)
    result = runner.invoke(app, ["predict", str(small_dataset.path), "--labels", str(path)])
    assert result.exit_code != 0
    assert str(path) in result.output and len(result.output.strip().splitlines()) <= 2
    assert re.search(message, result.output.replace("\n", "")), result.output


def test_missing_files_and_bad_options_are_refused(small_dataset, labels_file, tmp_path):
    missing = runner.invoke(app, ["predict", str(small_dataset.path), "--labels", str(tmp_path / "nope.parquet")])
    assert missing.exit_code != 0 and "labels file not found" in missing.output
    not_parquet = tmp_path / "labels.parquet"
    not_parquet.write_text("round,row,label\n")
    assert (
        "not a readable parquet file"
        in runner.invoke(app, ["predict", str(small_dataset.path), "--labels", str(not_parquet)]).output
    )
    no_dataset = runner.invoke(app, ["predict", str(tmp_path / "nowhere"), "--labels", str(labels_file)])
    assert no_dataset.exit_code != 0 and "dataset.json" in no_dataset.output
    for bad, message in ((["--top", "0"], "allowed: 1.."), (["--out", str(tmp_path / "x.csv")], "must end in")):
        result = runner.invoke(app, ["predict", str(small_dataset.path), "--labels", str(labels_file), *bad])
        assert result.exit_code != 0 and message in result.output
