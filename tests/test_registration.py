"""Adding a strategy or a pool is one module plus its test: importing tests/toy_plugin.py (which
only calls `register_strategy` and `register_pool`) makes both appear in `seals run --help`, lets
the CLI accept them and makes a run use them, with no other file touched."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.active.members import capabilities_of
from sealsearch.active.pools import POOLS, PoolKind, register_pool
from sealsearch.active.strategies import STRATEGIES, Strategy, maxent, register_strategy, strategy_names
from sealsearch.cli import app
from sealsearch.errors import InvalidParameterError

runner = CliRunner()


@pytest.fixture
def toy():
    """tests/toy_plugin.py imported (registered) for one test, then unregistered."""
    module = importlib.import_module("toy_plugin")
    try:
        yield module
    finally:
        STRATEGIES.pop(module.FIRST_AXIS.name, None)
        POOLS.pop(module.EVEN.name, None)
        sys.modules.pop("toy_plugin", None)


def test_a_registered_strategy_and_pool_are_listed_accepted_and_used(toy, small_dataset):
    help_text = runner.invoke(app, ["run", "--help"], terminal_width=400).output
    assert "first-axis" in help_text and "even" in help_text
    assert "first-axis" in strategy_names()

    out = small_dataset.path.parent / "toy-run.parquet"
    result = runner.invoke(app, ["run", str(small_dataset.path), "--concept", "rare", "--strategy", "first-axis",
                                 "--pool", "even", "--budget", "60", "--batch", "10", "--seed-pos", "2",
                                 "--neg-ratio", "4", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out)["n_labeled"].tolist() == [10, 20, 30, 40, 50, 60]

    # After the seed round, each batch is the 10 even pool rows with the largest first coordinate
    # that were not labeled before: the toy strategy over the toy pool, nothing else.
    labels = pd.read_parquet(out.with_name("toy-run.labels.parquet"))
    seed = labels.loc[labels["round"] == 0, "row"].to_numpy()
    even = np.setdiff1d(small_dataset.split_rows("pool")[small_dataset.split_rows("pool") % 2 == 0], seed)
    first = np.asarray(small_dataset.embeddings.take(even))[:, 0]
    expected = even[np.lexsort((even, -first))][: 10 * (labels["round"].max())]
    chosen = labels.loc[labels["round"] > 0].sort_values(["round"], kind="stable")["row"].to_numpy()
    np.testing.assert_array_equal(np.sort(chosen), np.sort(expected))
    assert capabilities_of(toy.EvenRowsPool(small_dataset.embeddings, np.arange(4))).vectors is False


def test_the_cli_refuses_them_once_they_are_not_registered(small_dataset):
    result = runner.invoke(app, ["run", str(small_dataset.path), "--concept", "rare", "--strategy", "first-axis"])
    assert result.exit_code != 0 and "unknown strategy 'first-axis'" in result.output


def test_a_name_cannot_be_registered_twice_or_with_a_comma():
    with pytest.raises(InvalidParameterError, match="already registered"):
        register_strategy(Strategy("maxent", maxent))
    with pytest.raises(InvalidParameterError, match="already registered"):
        register_pool(PoolKind("seals", POOLS["all"].build, uses_k=False, label="x"))
    with pytest.raises(InvalidParameterError, match="without commas"):
        register_strategy(Strategy("a,b", maxent))
    assert register_strategy(STRATEGIES["maxent"]) is STRATEGIES["maxent"]  # the same entry again: a no-op


def test_every_registered_entry_reads_for_a_person():
    for entry in (*STRATEGIES.values(), *POOLS.values()):
        assert entry.label and entry.description, entry.name
    assert STRATEGIES["mlp"].description == "find as many as possible (most likely positive first)"
    assert STRATEGIES["maxent"].description == "train the best classifier (most uncertain first)"
