"""The synthetic benchmark dataset: real files on disk, opened through the store, searched with real Faiss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.active.knn import open_or_build_index
from sealsearch.cli import app
from sealsearch.data.dataset import Dataset
from sealsearch.datasets.synthetic import (
    UNIT_ROWS,
    build_synthetic_dataset,
    parse_fragments,
    parse_prevalence,
    plan_synthetic,
)
from sealsearch.errors import InvalidParameterError

ARGS = {"n": 12_000, "dim": 24, "n_concepts": 8, "prevalence": (0.001, 0.004), "test_frac": 0.2, "seed": 3}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Dataset:
    return build_synthetic_dataset(tmp_path_factory.mktemp("synth") / "ds", **ARGS)


def test_layout_opens_with_unit_float32_rows(built):
    dataset = Dataset.open(built.path)
    assert dataset.info.n == ARGS["n"] and dataset.info.dim == ARGS["dim"] and dataset.info.normalized
    vectors = np.load(built.path / "embeddings.npy")
    assert vectors.dtype == np.float32 and vectors.shape == (ARGS["n"], ARGS["dim"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (built.path / "embeddings.npy.checked.json").is_file()  # opening never rescans the values
    assert dataset.items["split"].isin(["pool", "test"]).all()
    assert 0.15 < (dataset.items["split"] == "test").mean() < 0.25


def test_concepts_are_rare_disjoint_and_described(built):
    meta = pd.read_parquet(built.path / "concept_meta.parquet")
    counts = built.concept_counts().set_index("concept")
    assert list(meta["concept"]) == built.concept_names()
    total = counts["pool"] + counts["test"]
    np.testing.assert_array_equal(total.loc[meta["concept"]].to_numpy(), meta["n_items"].to_numpy())
    lo, hi = ARGS["prevalence"]
    assert ((meta["prevalence"] >= lo) & (meta["prevalence"] <= hi)).all()
    np.testing.assert_allclose(meta["prevalence"], meta["n_items"] / ARGS["n"])
    rows = pd.read_parquet(built.path / "concepts.parquet")["row"]
    assert rows.is_unique  # every item belongs to at most one concept
    assert (meta["fragments"] >= 1).all() and (meta["fragments"] > 1).any() and (meta["fragments"] == 1).any()
    assert (meta["spread"] > 0).all()


def test_same_seed_same_bytes_other_seed_other_bytes(built, tmp_path):
    again = build_synthetic_dataset(tmp_path / "again", **ARGS)
    other = build_synthetic_dataset(tmp_path / "other", **{**ARGS, "seed": 4})
    for name in ("embeddings.npy", "items.parquet", "concepts.parquet", "concept_meta.parquet"):
        assert (again.path / name).read_bytes() == (built.path / name).read_bytes(), name
    assert (other.path / "embeddings.npy").read_bytes() != (built.path / "embeddings.npy").read_bytes()
    assert not pd.read_parquet(other.path / "concepts.parquet").equals(pd.read_parquet(built.path / "concepts.parquet"))


def test_any_row_range_regenerates_alone(built):
    """Each unit of rows has its own generator, so how the file was chunked changes nothing."""
    plan = plan_synthetic(**ARGS)
    vectors = np.load(built.path / "embeddings.npy")
    for start, stop in [(0, 5), (UNIT_ROWS - 3, UNIT_ROWS + 7), (1234, 9876), (ARGS["n"] - 2, ARGS["n"])]:
        raw = plan.rows(start, stop)
        np.testing.assert_array_equal(raw / np.linalg.norm(raw, axis=1)[:, None], vectors[start:stop])
    with pytest.raises(InvalidParameterError, match="row range"):
        plan.rows(5, ARGS["n"] + 1)


def test_existing_output_is_refused_and_untouched(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InvalidParameterError, match="already exists"):
        build_synthetic_dataset(out, **ARGS)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no temporary directory left behind


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n": 0}, "n must be positive"),
        ({"dim": -1}, "dim must be positive"),
        ({"n_concepts": 0}, "concepts must be positive"),
        ({"prevalence": (0.0, 0.01)}, "0 < LO <= HI < 1"),
        ({"prevalence": (0.01, 1.0)}, "0 < LO <= HI < 1"),
        ({"prevalence": (0.02, 0.01)}, "0 < LO <= HI < 1"),
        ({"n_concepts": 30, "prevalence": (0.01, 0.04)}, "concepts × HI > 1"),
        ({"n": 100, "prevalence": (0.001, 0.002)}, "no whole number of items"),
        ({"test_frac": 1.0}, "test_frac"),
    ],
)
def test_bad_arguments_give_one_line_errors(tmp_path, change, message):
    with pytest.raises(InvalidParameterError, match=message) as caught:
        build_synthetic_dataset(tmp_path / "out", **{**ARGS, **change})
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_prevalence_syntax():
    assert parse_prevalence("0.0002..0.002") == (0.0002, 0.002)
    assert parse_prevalence("1e-3") == (0.001, 0.001)
    for bad in ["0.1..", "..0.1", "a..b", "0.1..0.2..0.3", ""]:
        with pytest.raises(InvalidParameterError, match="prevalence: expected LO..HI"):
            parse_prevalence(bad)


def _purity_and_reach(dataset: Dataset, index, concept: str, k: int) -> tuple[float, float]:
    """Share of positives among the k neighbours of each positive, and the share of positives
    reached from one positive by following positive neighbours (how SEALS's pool grows)."""
    positives = dataset.rows_in_split(dataset.concept_rows(concept), "pool")
    ids, _ = index.search(dataset.embeddings.take(positives), k, exclude=positives)
    is_positive = np.isin(ids, positives)
    purity = is_positive.sum() / (len(positives) * min(k, len(positives) - 1))
    neighbours = {row: set(ids[i][is_positive[i]].tolist()) for i, row in enumerate(positives.tolist())}
    reached, frontier = {int(positives[0])}, [int(positives[0])]
    while frontier:
        frontier = [new for row in frontier for new in neighbours[row] - reached]
        reached.update(frontier)
    return purity, len(reached) / len(positives)


def test_tight_concepts_are_recoverable_fragmented_ones_are_not(tmp_path):
    """With exact kNN, a tight whole concept is its own neighbourhood, while expansion from one
    positive of a fragmented concept stays inside its fragment."""
    dataset = build_synthetic_dataset(
        tmp_path / "ds", n=20_000, dim=64, n_concepts=24, prevalence=(0.001, 0.003), test_frac=0.1, seed=0
    )
    index = open_or_build_index(dataset, "Flat")
    meta = pd.read_parquet(dataset.path / "concept_meta.parquet")
    meta[["purity", "reach"]] = [_purity_and_reach(dataset, index, name, k=10) for name in meta["concept"]]
    tight = meta[(meta["fragments"] == 1) & (meta["spread"] < 0.8)]
    fragmented = meta[meta["fragments"] > 1]
    assert len(tight) >= 3 and len(fragmented) >= 3
    assert tight["purity"].min() > 0.9 and tight["reach"].mean() > 0.9
    assert fragmented["reach"].max() < 0.75 and fragmented["reach"].mean() < 0.5


def test_cli_builds_the_dataset(tmp_path):
    result = CliRunner().invoke(
        app, ["dataset", "synthetic", str(tmp_path / "cli"), "--n", "3000", "--dim", "8", "--concepts", "3",
              "--prevalence", "0.005..0.01", "--seed", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    dataset = Dataset.open(tmp_path / "cli")
    assert dataset.info.dim == 8 and len(dataset.concept_names()) == 3
    plan = plan_synthetic(n=3000, dim=8, n_concepts=3, prevalence=(0.005, 0.01), test_frac=0.1, seed=1)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "cli" / "concept_meta.parquet"), plan.concept_meta)


def test_cli_rejects_bad_prevalence_in_one_line(tmp_path):
    result = CliRunner().invoke(app, ["dataset", "synthetic", str(tmp_path / "x"), "--n", "100", "--prevalence", "1%"])
    assert result.exit_code == 2
    assert "--prevalence" in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_fragments_splits_every_concept_into_that_many_clusters_and_refuses_bad_ranges():
    plan = plan_synthetic(n=20_000, dim=8, n_concepts=12, prevalence=(0.005, 0.01), fragments=(3, 10))
    assert plan.concept_meta["fragments"].between(3, 10).all()
    default = plan_synthetic(n=20_000, dim=8, n_concepts=12, prevalence=(0.005, 0.01))
    assert (default.concept_meta["fragments"] == 1).any()  # the default mix is unchanged
    assert parse_fragments("3..10") == (3, 10) and parse_fragments("4") == (4, 4) and parse_fragments(None) is None
    for bad in ("0..3", "5..2", "x", "1..2..3"):
        with pytest.raises(InvalidParameterError, match="^fragments: expected LO..HI") as refused:
            parse_fragments(bad)
        assert refused.value.params == ("fragments",)
