"""What the CLI tests of outputs and writes share: `seals(...)` in-process, and a small world of
inputs (a dataset, a project over it, a run's labels file, a results directory, some texts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import make_dataset
from sealsearch.cli import app
from sealsearch.sessions import Project

runner = CliRunner()
SMALL_RUN = ["--concept", "rare", "--budget", "60", "--batch", "20", "--seed-pos", "2", "--neg-ratio", "4"]
"""A run that fits the 300-item world in a second."""


def seals(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("world")
    make_dataset(base / "ds", n=300)
    np.save(base / "X.npy", np.load(base / "ds" / "embeddings.npy"))
    Project.init(base / "project", dataset=base / "ds", factory="Flat").close()
    result = seals("run", base / "ds", *SMALL_RUN, "--pool", "all", "--out", base / "run.parquet")
    assert result.exit_code == 0, result.output
    (base / "results").mkdir()
    pd.DataFrame({"text": ["a cat", "a dog"]}).to_csv(base / "texts.csv", index=False)
    return base
