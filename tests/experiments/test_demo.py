"""`seals demo` end to end on real WordNet + GloVe (slow: builds it and its kNN graph, runs 24 simulations)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.experiments.simulate import ROUND_COLUMNS

pytestmark = pytest.mark.slow


def test_demo_builds_the_dataset_runs_and_writes_table_and_plot(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out"),
            "--concepts",
            "4",
            "--budget",
            "400",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "maxent" in result.output and "adaptive" in result.output and "ms/round" in result.output
    assert "kNN graph (Flat, k=200" in result.output  # built once with the dataset, k × max_growth columns
    # one goal line per strategy and goal, each saying met or MISSED
    goal_lines = [line for line in result.output.splitlines() if line.endswith((": met", ": MISSED"))]
    assert len(goal_lines) == 4, result.output
    rounds = pd.read_parquet(tmp_path / "out" / "demo.parquet")
    assert set(ROUND_COLUMNS) <= set(rounds.columns)
    assert rounds.groupby(["concept", "strategy", "pool"]).ngroups == 4 * 2 * 3
    final = rounds[rounds["n_labeled"] == 400].groupby("pool")[["pool_frac", "recall"]].mean()
    assert final.loc["seals", "pool_frac"] < 0.2 < final.loc["all", "pool_frac"]
    assert final.loc["adaptive", "pool_frac"] < 0.2
    assert final.loc["adaptive", "recall"] >= final.loc["seals", "recall"]  # grown neighbourhoods reach further
    assert final.loc["seals", "recall"] > 0.2  # finds positives far beyond the 5 seeds
    png = (tmp_path / "out" / "demo.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    # a second run reuses the dataset and its index
    built = (tmp_path / "data" / "wordnet-glove50" / "embeddings.npy").stat().st_mtime_ns
    again = CliRunner().invoke(
        app,
        [
            "demo",
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out2"),
            "--concepts",
            "1",
            "--budget",
            "200",
        ],
    )
    assert again.exit_code == 0, again.output
    assert (tmp_path / "data" / "wordnet-glove50" / "embeddings.npy").stat().st_mtime_ns == built
    graph = tmp_path / "data" / "wordnet-glove50" / "index"
    assert len(list(graph.rglob("graph_k200.npy"))) == 1
