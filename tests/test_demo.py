"""`seals demo` end to end on the real WordNet + GloVe dataset (slow: builds it, runs 16 simulations)."""

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
    assert "maxent" in result.output and "seals" in result.output
    rounds = pd.read_parquet(tmp_path / "out" / "demo.parquet")
    assert set(ROUND_COLUMNS) <= set(rounds.columns)
    assert rounds.groupby(["concept", "strategy", "pool"]).ngroups == 4 * 2 * 2
    final = rounds[rounds["n_labeled"] == 400].groupby("pool")[["pool_frac", "recall"]].mean()
    assert final.loc["seals", "pool_frac"] < 0.2 < final.loc["all", "pool_frac"]
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
