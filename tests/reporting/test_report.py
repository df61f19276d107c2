"""`seals report` on a results directory in the exact shape `seals experiment` writes (real
parquet and JSON files under tmp_path); numbers checked against hand computations."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.cli import app
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError
from sealsearch.experiments.simulate import ROUND_COLUMNS
from sealsearch.reporting.report import FIGURES, write_report
from sealsearch.reporting.results import (
    adaptive_comparison,
    ap_pairs,
    dedup_comparison,
    load_results,
    method_label,
    summary_table,
)

NAN = float("nan")
VARIANTS = [  # (pool, k, dedup, label)
    ("all", 20, NAN, "All"),
    ("seals", 10, NAN, "SEALS k=10"),
    ("seals", 20, NAN, "SEALS k=20"),
    ("adaptive", 10, NAN, "adaptive k=10"),
    ("seals", 20, 0.95, "SEALS k=20 +dedup 0.95"),
]
STRATEGIES = ["maxent", "mlp"]


def synthetic_runs(
    concepts: list[str], variants=VARIANTS, repeats: int = 2, seed: int = 0, strategies=STRATEGIES
) -> pd.DataFrame:
    """Three rounds (100, 200, 300 labels) per run; All scores every item, so it is the slow one."""
    rng = np.random.default_rng(seed)
    rows = []
    for concept in concepts:
        for strategy in strategies:
            for pool, k, dedup, _ in variants:
                for repeat in range(repeats):
                    found = np.cumsum(rng.integers(1, 15, size=3))
                    for rnd in range(3):
                        rows.append({
                            "concept": concept, "strategy": strategy, "pool": pool, "k": k, "seed_pos": 5,
                            "dedup": dedup, "repeat": repeat, "round": rnd, "n_labeled": 100 * (rnd + 1),
                            "n_positive": int(found[rnd]), "recall": found[rnd] / 60, "ap": rng.uniform(0.2, 0.9),
                            "pool_size": 0, "pool_frac": 1.0 if pool == "all" else rng.uniform(0.01, 0.2),
                            "t_select": rng.uniform(1, 2) if pool == "all" else rng.uniform(0.01, 0.1),
                            "t_knn": 0.0 if pool == "all" else rng.uniform(0.01, 0.05),
                            "t_train": rng.uniform(0.1, 0.2),
                        })  # fmt: skip
    return pd.DataFrame(rows)


def write_results(path, runs: pd.DataFrame, *, full: bool = True, latent: bool = True, settings: bool = True):
    path.mkdir(parents=True, exist_ok=True)
    runs.to_parquet(path / "runs.parquet", index=False)
    concepts = sorted(runs["concept"].unique())
    if settings:
        (path / "experiment.json").write_text(json.dumps({"dataset": "data/x", "name": "x", "budget": 300}))
    if full:
        pd.DataFrame({"concept": concepts, "ap": np.linspace(0.6, 0.9, len(concepts))}).to_parquet(
            path / "full_supervision.parquet"
        )
    if latent:
        grid = pd.MultiIndex.from_product([concepts, [10, 20, 50]], names=["concept", "k"]).to_frame(index=False)
        grid = grid.assign(n_positive=60, lc_size=40, lc_frac=0.66, mean_path=np.linspace(2, 4, len(grid)))
        grid.to_parquet(path / "latent.parquet")
    return path


def test_method_labels():
    assert method_label("all", 20, NAN) == "All"
    assert method_label("seals", 20, NAN) == "SEALS k=20"
    assert method_label("adaptive", 10, 0.95) == "adaptive k=10 +dedup 0.95"
    assert method_label("randpool", 5, NAN, seed_pos=20) == "randpool (20 pos)"


def test_table2_matches_a_hand_computation(tmp_path):
    runs = synthetic_runs(["c1", "c2"])
    table = summary_table(load_results(write_results(tmp_path / "r", runs)).runs)

    finals, totals, per_repeat = defaultdict(list), defaultdict(list), defaultdict(lambda: defaultdict(list))
    labels = {(p, k, d if d == d else None): name for p, k, d, name in VARIANTS}
    for key, run in runs.groupby(["concept", "strategy", "pool", "k", "dedup", "repeat"], dropna=False):
        concept, strategy, pool, k, dedup, repeat = key
        method = (strategy, labels[(pool, k, None if np.isnan(dedup) else dedup)])
        last = run.loc[run["round"].idxmax()]
        finals[method].append(last)
        totals[method].append(run["t_select"].sum() + run["t_knn"].sum() + run["t_train"].sum())
        per_repeat[method][repeat].append(last["ap"])
    assert len(table) == len(finals) == 10
    assert table["method"].tolist()[:5] == [
        "All",
        "SEALS k=10",
        "SEALS k=20",
        "SEALS k=20 +dedup 0.95",
        "adaptive k=10",
    ]
    for _, row in table.iterrows():
        method = (row["strategy"], row["method"])
        assert row["runs"] == 4
        for column in ("ap", "recall", "pool_frac", "n_labeled"):
            assert row[column] == pytest.approx(statistics.mean(r[column] for r in finals[method]))
        pos_per_label = statistics.mean(r["n_positive"] / r["n_labeled"] for r in finals[method])
        assert row["pos_per_label"] == pytest.approx(pos_per_label)
        assert row["t_total"] == pytest.approx(statistics.mean(totals[method]))
        assert row["ap_std"] == pytest.approx(statistics.stdev(statistics.mean(v) for v in per_repeat[method].values()))
        baseline = statistics.mean(totals[(row["strategy"], "All")])
        assert row["speedup"] == pytest.approx(baseline / statistics.mean(totals[method]))
    assert (table.loc[table["method"] == "All", "speedup"] == 1).all()
    assert (table.loc[table["method"] != "All", "speedup"] > 5).all()  # All is the slow one by construction


def test_adaptive_and_dedup_comparisons_pair_the_right_rows(tmp_path):
    runs = synthetic_runs(["c1", "c2"])
    runs.loc[runs["pool"] == "all", "k"] = np.nan  # k means nothing for All; the experiment may leave it out
    table = summary_table(load_results(write_results(tmp_path / "r", runs)).runs).set_index(["strategy", "method"])
    adaptive = adaptive_comparison(table.reset_index())
    assert adaptive["method"].tolist() == ["adaptive k=10", "SEALS k=10", "SEALS k=20"] * 2
    assert adaptive["role"].tolist()[:3] == ["adaptive", "same starting k", "largest fixed k"]
    for _, row in adaptive[adaptive["role"] != "adaptive"].iterrows():
        new, ref = table.loc[(row["strategy"], "adaptive k=10")], table.loc[(row["strategy"], row["method"])]
        assert row["d_ap"] == pytest.approx(new["ap"] - ref["ap"])
        assert row["d_recall"] == pytest.approx(new["recall"] - ref["recall"])
    dedup = dedup_comparison(table.reset_index())
    assert dedup["method"].tolist() == ["SEALS k=20", "SEALS k=20 +dedup 0.95"] * 2
    for _, row in dedup[dedup["dedup"].notna()].iterrows():
        new, ref = table.loc[(row["strategy"], row["method"])], table.loc[(row["strategy"], "SEALS k=20")]
        assert row["d_pos_per_label"] == pytest.approx(new["pos_per_label"] - ref["pos_per_label"])


def test_pearson_and_fit_match_numpy(tmp_path):
    concepts = [f"c{i}" for i in range(7)]
    runs = synthetic_runs(concepts, variants=VARIANTS[:3], repeats=2, seed=3)
    results = load_results(write_results(tmp_path / "r", runs))
    pairs, fits = ap_pairs(results.runs)
    assert set(fits["k"]) == {20}  # the largest seals k by default
    for strategy in STRATEGIES:
        final = runs[(runs["strategy"] == strategy) & (runs["round"] == 2)]
        x = [final[(final["pool"] == "all") & (final["concept"] == c)]["ap"].mean() for c in concepts]
        y = [
            final[(final["pool"] == "seals") & (final["k"] == 20) & (final["concept"] == c)]["ap"].mean()
            for c in concepts
        ]
        fit = fits.set_index("strategy").loc[strategy]
        assert fit["concepts"] == 7
        assert fit["pearson"] == pytest.approx(np.corrcoef(x, y)[0, 1])
        slope, intercept = np.polyfit(x, y, 1)
        assert (fit["slope"], fit["intercept"]) == pytest.approx((slope, intercept))
    assert set(ap_pairs(results.runs, k=10)[1]["k"]) == {10}
    with pytest.raises(InvalidParameterError, match=r"^k 15: .*k in \[10, 20\]"):
        write_report(results.path, k=15)
    assert not (results.path / "report.md").exists() and not (results.path / "figures").exists()


def test_report_writes_every_figure_and_section_and_prints_table2(tmp_path):
    results = write_results(tmp_path / "r", synthetic_runs(["c1", "c2"]))
    result = CliRunner().invoke(app, ["report", str(results)])
    assert result.exit_code == 0, result.output
    for fragment in ("SEALS k=20 +dedup 0.95", "speed-up", "report.md", "k_effect.png"):
        assert fragment in result.output, fragment
    assert "skipped" not in result.output
    for figure in FIGURES.values():
        png = (results / "figures" / figure).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
    text = (results / "report.md").read_text()
    for fragment in ("| budget | 300 |", "(Table 2)", "(Figure 1)", "(Figures 6/7)", "(Figure 10)", "(Figure 11)",
                     "### Adaptive k", "### Near-duplicate removal", "mAP 0.750", "## Not drawn"):  # fmt: skip
        assert (fragment in text) == (fragment != "## Not drawn"), fragment
    for figure in FIGURES.values():
        assert f"(figures/{figure})" in text


def test_missing_optional_inputs_are_skipped_with_a_line(tmp_path):
    runs = synthetic_runs(["c1", "c2"], variants=VARIANTS[:1], strategies=["mlp"])
    results = write_results(tmp_path / "r", runs, full=False, latent=False, settings=False)
    (results / "figures").mkdir()
    (results / "figures" / "latent.png").write_bytes(b"stale")  # from an earlier report
    report = write_report(results, tmp_path / "out")
    assert report.figures == [tmp_path / "out" / "figures" / "curves.png"]
    assert report.markdown_path == tmp_path / "out" / "report.md"
    assert (results / "figures" / "latent.png").exists()  # --out elsewhere leaves RESULTS/ alone
    write_report(results)
    assert not (results / "figures" / "latent.png").exists()  # a figure that cannot be drawn is not left stale
    notes = " ".join(report.notes)
    for fragment in ("full_supervision.parquet is missing", "latent.parquet is missing", "seals analyze",
                     "no seals or adaptive runs", "per-concept AP"):  # fmt: skip
        assert fragment in notes, fragment
    text = report.markdown_path.read_text()
    assert "experiment.json is missing" in text and "no adaptive or dedup runs" in text and "## Not drawn" in text


def test_latent_with_no_shared_k_is_named(tmp_path):
    runs = synthetic_runs(["c1"], variants=[VARIANTS[0], VARIANTS[2]], repeats=1, strategies=["mlp"])
    results = write_results(tmp_path / "r", runs)
    latent = pd.read_parquet(results / "latent.parquet")
    latent[latent["k"] == 50].to_parquet(results / "latent.parquet")
    report = write_report(results)
    assert "latent.png" not in [p.name for p in report.figures]
    assert any("k in [50]" in note for note in report.notes)


def test_bad_results_fail_with_one_line_naming_the_file(tmp_path):
    with pytest.raises(MissingFileError, match=r"runs\.parquet not found; `seals experiment"):
        load_results(tmp_path)
    (tmp_path / "runs.parquet").write_text("not parquet")
    with pytest.raises(InvalidDataError, match=r"runs\.parquet: not a readable parquet file .*seals experiment"):
        load_results(tmp_path)
    synthetic_runs(["c1"]).drop(columns=["t_knn", "dedup"]).to_parquet(tmp_path / "runs.parquet")
    with pytest.raises(InvalidDataError, match=r"missing columns \['dedup', 't_knn'\]"):
        load_results(tmp_path)
    synthetic_runs(["c1"]).assign(ap="high").to_parquet(tmp_path / "runs.parquet")
    with pytest.raises(InvalidDataError, match="column 'ap' must be numeric"):
        load_results(tmp_path)
    pd.DataFrame(
        columns=["concept", "strategy", "pool", "k", "seed_pos", "dedup", "repeat", *ROUND_COLUMNS]
    ).to_parquet(tmp_path / "runs.parquet")
    with pytest.raises(InvalidDataError, match="has no rows"):
        load_results(tmp_path)
    synthetic_runs(["c1"]).assign(k=np.nan).to_parquet(tmp_path / "runs.parquet")
    with pytest.raises(InvalidDataError, match="seals/adaptive runs with no k"):
        load_results(tmp_path)
    synthetic_runs(["c1"]).to_parquet(tmp_path / "runs.parquet")
    pd.DataFrame({"concept": ["c1"]}).to_parquet(tmp_path / "latent.parquet")
    with pytest.raises(InvalidDataError, match=r"latent\.parquet: missing columns .*seals analyze"):
        load_results(tmp_path)


def test_cli_error_is_one_line(tmp_path):
    bad = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert bad.exit_code != 0
    message = bad.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message and "seals experiment" in message
