"""`seals experiment`: the grid, streaming to runs.parquet, resuming, parallel cells, and the report."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.errors import InvalidDataError, InvalidParameterError
from sealsearch.experiments import grid as grid_module
from sealsearch.experiments.grid import FULL_FILE, RUN_KEYS, RUNS_FILE, ExperimentGrid, cell_key, run_experiment
from sealsearch.experiments.simulate import ROUND_COLUMNS, run

runner = CliRunner()


def small_grid(**overrides) -> ExperimentGrid:
    settings = dict(
        concepts=["rare", "cluster0"], strategies=["maxent", "random"], pools=["all", "seals", "adaptive"], ks=[5],
        seed_pos=[2], repeats=2, budget=40, neg_ratio=4, factory="Flat",
    )  # fmt: skip
    return ExperimentGrid(**{**settings, **overrides})


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[RUN_KEYS].drop_duplicates().reset_index(drop=True)


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order and without timings (the only values that differ between runs)."""
    keep = [c for c in frame.columns if not c.startswith("t_")]
    return frame[keep].sort_values(RUN_KEYS + ["round"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def seed_rows(small_dataset, tmp_path_factory):
    """The grid run in process, keeping each cell's label log: {cell key: sorted round-0 rows}."""
    logs = {}

    def run_and_keep_labels(dataset, config, **kwargs):
        result = run(dataset, config, **kwargs)
        logs[cell_key(config)] = sorted(result.labels.loc[result.labels["round"] == 0, "row"].tolist())
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grid_module, "run", run_and_keep_labels)
        runs = run_experiment(small_dataset, small_grid(), tmp_path_factory.mktemp("complete"), jobs=1).runs
    return runs, logs


@pytest.fixture(scope="module")
def complete(seed_rows):
    return seed_rows[0]


def test_every_cell_runs_once_with_the_documented_columns(complete):
    assert list(complete.columns) == RUN_KEYS + ROUND_COLUMNS
    # 2 concepts × 2 strategies × (all + seals k=5 + adaptive k=5) × 2 repeats; k is 0 for the all pool
    assert len(cells(complete)) == 24
    assert set(complete.loc[complete["pool"] == "all", "k"]) == {0}
    assert complete["dedup"].isna().all()
    # seed 10, batch = seed size 10, budget 40: rounds 0..3 in every cell
    assert (complete.groupby(RUN_KEYS, dropna=False)["round"].max() == 3).all()


def test_same_seed_set_for_every_pool_and_strategy_of_a_repeat(seed_rows):
    """The round-0 rows themselves (not their positive count, which is seed_pos by construction)."""
    runs, logs = seed_rows
    assert len(logs) == len(cells(runs)) == 24
    by_repeat: dict[tuple, set] = {}
    for (concept, _strategy, _pool, _k, _seed_pos, _dedup, repeat), rows in logs.items():
        assert len(rows) == 10  # 2 positives + 4 × 2 negatives
        by_repeat.setdefault((concept, repeat), set()).add(tuple(rows))
    assert all(len(seed_sets) == 1 for seed_sets in by_repeat.values()), by_repeat
    # ...and the seed set is drawn per repeat, so the check above compares different sets
    for concept in ("rare", "cluster0"):
        assert by_repeat[(concept, 0)] != by_repeat[(concept, 1)]


def test_interrupted_experiment_resumes_and_matches_an_uninterrupted_one(small_dataset, complete, tmp_path):
    stop_after = 5

    def crash(done: int, total: int) -> None:
        if done == stop_after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_experiment(small_dataset, small_grid(), tmp_path, full_supervision=False, progress=crash)
    on_disk = pd.read_parquet(tmp_path / RUNS_FILE)
    assert len(cells(on_disk)) == stop_after  # every finished cell was written before the crash

    seen = []
    result = run_experiment(
        small_dataset, small_grid(), tmp_path, full_supervision=False, progress=lambda d, t: seen.append(t)
    )
    assert result.cells_skipped == stop_after and seen[-1] == 24 - stop_after
    pd.testing.assert_frame_equal(ordered(pd.read_parquet(tmp_path / RUNS_FILE)), ordered(complete))

    again = run_experiment(small_dataset, small_grid(), tmp_path, full_supervision=False)
    assert again.cells_skipped == 24  # nothing left to do


def test_a_wider_grid_adds_only_the_new_cells(small_dataset, tmp_path):
    run_experiment(small_dataset, small_grid(strategies=["maxent"]), tmp_path, full_supervision=False)
    wider = run_experiment(small_dataset, small_grid(), tmp_path, full_supervision=False)
    assert wider.cells_skipped == 12 and len(cells(wider.runs)) == 24


def test_parallel_jobs_give_the_same_rows(small_dataset, complete, tmp_path):
    grid = small_grid(concepts=["rare"], strategies=["maxent"])
    parallel = run_experiment(small_dataset, grid, tmp_path, jobs=2, full_supervision=False).runs
    expected = complete[(complete["concept"] == "rare") & (complete["strategy"] == "maxent")]
    pd.testing.assert_frame_equal(ordered(parallel), ordered(expected))


def test_full_supervision_reference_is_written_per_concept(small_dataset, tmp_path):
    run_experiment(small_dataset, small_grid(pools=["all"], repeats=1), tmp_path)
    full = pd.read_parquet(tmp_path / FULL_FILE)
    assert sorted(full["concept"]) == ["cluster0", "rare"]
    assert full["ap"].between(0, 1).all() and full.set_index("concept").loc["rare", "ap"] > 0.5


def test_changed_settings_and_damaged_files_are_refused(small_dataset, tmp_path):
    run_experiment(small_dataset, small_grid(pools=["all"], repeats=1), tmp_path, full_supervision=False)
    before = (tmp_path / RUNS_FILE).read_bytes()
    with pytest.raises(InvalidParameterError, match="budget=40"):
        run_experiment(small_dataset, small_grid(budget=50), tmp_path)
    assert (tmp_path / RUNS_FILE).read_bytes() == before  # the earlier results are untouched
    (tmp_path / RUNS_FILE).write_bytes(b"not parquet")
    with pytest.raises(InvalidDataError, match="runs.parquet"):
        run_experiment(small_dataset, small_grid(pools=["all"], repeats=1), tmp_path)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pools": ["everything"]}, "unknown pool"),
        ({"strategies": ["maxentt"]}, "did you mean"),
        ({"repeats": 0}, "repeats"),
        ({"dedup": [1.5]}, "dedup"),
        ({"budget": 5}, "budget"),
        ({"ks": []}, "ks is empty"),
    ],
)
def test_bad_grids_fail_before_any_work(small_dataset, tmp_path, overrides, message):
    with pytest.raises(InvalidParameterError, match=message):
        run_experiment(small_dataset, small_grid(**overrides), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_experiment_then_report_on_a_tiny_run(small_dataset, tmp_path):
    out = tmp_path / "results"
    args = [
        "experiment", str(small_dataset.path), "--strategy", "maxent,mlp", "--pool", "all,seals", "--pool", "adaptive",
        "--k", "5,10", "--seed-pos", "2", "--neg-ratio", "4", "--budget", "40", "--repeats", "2",
        "--concepts", "rare", "--dedup", "none,0.9", "--factory", "Flat", "--out", str(out),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "40 cells (0 already done)" in result.output
    assert json.loads((out / "experiment.json").read_text())["budget"] == 40
    again = runner.invoke(app, args)
    assert "40 cells (40 already done)" in again.output

    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    markdown = (out / "report.md").read_text()
    for method in ("All", "SEALS k=5", "SEALS k=10", "adaptive k=10"):
        assert method in markdown
    assert "dedup" in markdown.lower()
    assert all(path.stat().st_size > 0 for path in (out / "figures").glob("*.png"))


def test_cli_experiment_rejects_a_bad_list(small_dataset, tmp_path):
    result = runner.invoke(app, ["experiment", str(small_dataset.path), "--k", "10,ten", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--k" in result.output
