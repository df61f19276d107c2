"""Experiments on Ray (`sealsearch[ray]`): a real local Ray instance runs the cells as tasks, and
the rows equal those of the in-process executor."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from sealsearch._ray import RayExecutor
from sealsearch.errors import InvalidParameterError, MissingExtraError
from sealsearch.experiments.grid import FULL_FILE, RUN_KEYS, ExperimentGrid, run_experiment

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'sealsearch[ray]')")


def grid(**overrides) -> ExperimentGrid:
    settings = dict(
        concepts=["rare", "cluster0"], strategies=["maxent", "random"], pools=["all", "seals"], ks=[5],
        seed_pos=[2], repeats=2, budget=40, neg_ratio=4, factory="Flat",
    )  # fmt: skip
    return ExperimentGrid(**{**settings, **overrides})


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in frame.columns if not c.startswith("t_")]
    return frame[keep].sort_values(RUN_KEYS + ["round"]).reset_index(drop=True)


def test_an_experiment_on_local_ray_gives_the_rows_of_the_local_executor(small_dataset, local_ray, tmp_path):
    inline = run_experiment(small_dataset, grid(), tmp_path / "inline", jobs=1)
    on_ray = run_experiment(small_dataset, grid(), tmp_path / "ray", executor="ray")
    assert on_ray.cells_total == inline.cells_total == 16
    pd.testing.assert_frame_equal(ordered(on_ray.runs), ordered(inline.runs))
    full = [pd.read_parquet(tmp_path / name / FULL_FILE).sort_values("concept") for name in ("inline", "ray")]
    pd.testing.assert_frame_equal(full[0].reset_index(drop=True), full[1].reset_index(drop=True))
    assert local_ray.is_initialized()  # a Ray the caller started is left running


def test_milvus_lite_is_refused_for_workers_in_other_processes(small_dataset, local_ray, tmp_path):
    pytest.importorskip("pymilvus")
    with pytest.raises(InvalidParameterError, match="one process holds.*uri http://"):
        run_experiment(small_dataset, grid(backend="milvus"), tmp_path, executor="ray", full_supervision=False)


def test_ray_missing_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"sealsearch\[ray\]") as exc:
        list(RayExecutor().map_unordered(abs, [1]))
    assert "\n" not in str(exc.value)


def test_cli_experiment_with_executor_ray(small_dataset, local_ray, tmp_path):
    from typer.testing import CliRunner

    from sealsearch.cli import app

    result = CliRunner().invoke(app, [
        "experiment", str(small_dataset.path), "--concept", "rare", "--strategy", "maxent", "--pool", "seals",
        "--k", "5", "--seed-pos", "2", "--neg-ratio", "4", "--budget", "30", "--repeats", "2", "--factory", "Flat",
        "--executor", "ray", "--out", str(tmp_path),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "runs.parquet")["repeat"].nunique() == 2
