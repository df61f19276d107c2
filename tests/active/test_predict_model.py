"""`seals predict --model`: rank every item with an exported classifier; wrong files are one-line errors."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from typer.testing import CliRunner

from sealsearch.active.predict import load_model, predict_top_with_model
from sealsearch.cli import app
from sealsearch.errors import InvalidDataError, MissingFileError

runner = CliRunner()


@pytest.fixture(scope="module")
def rare_model(small_dataset, tmp_path_factory):
    """A classifier for 'rare' trained on pool labels only, dumped as `seals export --model` does."""
    pool = small_dataset.split_rows("pool")
    y = np.isin(pool, small_dataset.concept_rows("rare")).astype(int)
    model = LogisticRegression(C=100, max_iter=1000).fit(small_dataset.embeddings.take(pool), y)
    path = tmp_path_factory.mktemp("model") / "rare.joblib"
    joblib.dump(model, path)
    return path


def test_model_ranks_the_concepts_test_items_far_above_random(small_dataset, rare_model, tmp_path):
    out = tmp_path / "top.parquet"
    result = runner.invoke(app, ["predict", str(small_dataset.path), "--model", str(rare_model), "--top", "1500",
                                 "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert list(table.columns) == ["row", "id", "text", "score"] and len(table) == small_dataset.info.n
    assert table["score"].is_monotonic_decreasing
    test = set(small_dataset.split_rows("test").tolist())
    ranked = table[table["row"].isin(test)]
    truth = ranked["row"].isin(small_dataset.concept_rows("rare")).to_numpy()
    prevalence = truth.mean()  # the AP of a random ranking
    assert average_precision_score(truth, ranked["score"]) > 0.9 > 10 * prevalence


def test_a_dict_holding_the_model_is_accepted(small_dataset, rare_model, tmp_path):
    wrapped = tmp_path / "wrapped.joblib"
    joblib.dump({"model": joblib.load(rare_model), "concept": "rare"}, wrapped)
    same = predict_top_with_model(small_dataset, wrapped, top=5)
    assert same.equals(predict_top_with_model(small_dataset, rare_model, top=5))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a pickle at all", "not a joblib model file"),
        ([1, 2, 3], "holds a list, not a fitted classifier"),
        (LogisticRegression(), "holds a LogisticRegression, not a fitted classifier"),
        ("wrong-dim", "cannot score"),
    ],
)
def test_files_of_the_wrong_kind_are_one_line_errors(small_dataset, tmp_path, content, message):
    path = tmp_path / "m.joblib"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "wrong-dim":
        joblib.dump(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]), path)
    else:
        joblib.dump(content, path)
    with pytest.raises(InvalidDataError, match=message):
        load_model(path, small_dataset)
    result = runner.invoke(app, ["predict", str(small_dataset.path), "--model", str(path)])
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_labels_or_a_model_are_needed_and_labels_beside_a_model_are_read(small_dataset, rare_model, tmp_path):
    result = runner.invoke(app, ["predict", str(small_dataset.path)])
    assert result.exit_code == 2 and "give --labels RUN.labels.parquet, --project DIR" in result.output
    # --labels beside --model: the labels mark (or, with --unlabeled, leave out) what is labeled
    args = ["predict", str(small_dataset.path), "--labels", str(tmp_path / "l.parquet"), "--model", str(rare_model)]
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "l.parquet: labels file not found" in result.output
    with pytest.raises(MissingFileError, match="model file not found"):
        load_model(tmp_path / "absent.joblib", small_dataset)
