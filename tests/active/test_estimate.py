"""Recall estimates: exact answers on small pools, unbiasedness and coverage over seeded draws,
and their place in simulated runs (columns, audit cost, unchanged trajectories)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.active.estimate import AuditLog, Estimate, audit_distribution, audit_estimate, model_estimate
from sealsearch.cli import app
from sealsearch.errors import InvalidParameterError
from sealsearch.experiments.estimate import ESTIMATE_COLUMNS
from sealsearch.experiments.simulate import ROUND_COLUMNS, RunConfig, run, with_knn_column


def test_model_estimate_sums_probabilities_exactly():
    estimate = model_estimate(3, np.array([0.5, 0.5, 1.0, 0.0]))
    assert estimate.positives == pytest.approx(5.0)
    assert estimate.positives_se == pytest.approx(np.sqrt(0.5))
    assert estimate.recall == pytest.approx(3 / 5)
    lo, hi = estimate.recall_interval()
    z = 1.959964
    assert lo == pytest.approx(3 / (5 + z * np.sqrt(0.5)), rel=1e-5)
    assert hi == pytest.approx(3 / (5 - z * np.sqrt(0.5)), rel=1e-5)


def test_interval_never_claims_fewer_positives_than_seen():
    estimate = Estimate("audit", found=8, known=10, positives=9.0, positives_se=3.0)
    assert estimate.positives_interval()[0] == 10
    assert estimate.recall == pytest.approx(0.8)
    assert estimate.recall_interval()[1] == pytest.approx(0.8)
    assert Estimate("model", 0, 0, 0.0, 0.0).recall == 1.0  # nothing to find, nothing found


def test_audit_weights_each_draw_by_its_inverse_probability_until_the_loop_labels_it():
    log = AuditLog()
    log.record(np.array([7, 9]), np.array([0.5, 0.25]), {7: 1, 9: 0})
    # x = [1/0.5, 0] -> mean 1.0 positive still unlabeled
    assert audit_estimate(log, 4, np.array([1, 2])).positives == pytest.approx(5.0)
    assert audit_estimate(log, 4, np.array([1, 2])).known == 5  # row 7 is a positive the loop has not found
    later = audit_estimate(log, 5, np.array([1, 2, 7]))  # the loop labeled row 7 since: it counts once
    assert later.positives == pytest.approx(5.0) and later.known == 5
    assert log.audit_labels == 2


def test_audit_distribution_is_a_distribution_with_a_uniform_floor():
    q = audit_distribution(np.array([0.0, 0.0, 0.5, 1.0]), floor=0.2)
    assert q.sum() == pytest.approx(1.0)
    assert q.min() == pytest.approx(0.2 / 4)
    assert q[3] > q[2] > q[0]


def _pool(rng: np.random.Generator, n: int = 400, positives: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Truth and a noisy, badly calibrated score: positives score higher on average."""
    truth = np.zeros(n, dtype=np.int8)
    truth[rng.choice(n, positives, replace=False)] = 1
    proba = np.clip(0.6 * truth + rng.normal(0.15, 0.15, n), 0.001, 0.999)
    return truth, proba


def test_audit_estimate_is_unbiased_and_its_interval_covers_over_seeded_draws():
    """The known positives' count (12 in 400, 4 of them already found) estimated from 60 audit
    draws: the mean over 400 seeded audits is within 4% of the truth and the 95% interval holds
    the true recall in at least 90% of them. A biased estimator (e.g. forgetting 1/q) fails both."""
    rng = np.random.default_rng(0)
    truth, proba = _pool(rng)
    found_rows = np.flatnonzero(truth)[:4]
    unlabeled = np.setdiff1d(np.arange(truth.size), found_rows)
    estimates, covered = [], []
    for seed in range(400):
        log = AuditLog()
        draw_rng = np.random.default_rng(seed)
        for _ in range(3):  # three rounds of 20
            rows, q = log.draw(unlabeled, proba[unlabeled], 20, draw_rng)
            new = log.unlabeled(rows)
            log.record(rows, q, dict(zip(new.tolist(), truth[new].tolist(), strict=True)))
        estimate = audit_estimate(log, 4, found_rows)
        estimates.append(estimate.positives)
        lo, hi = estimate.recall_interval()
        covered.append(lo <= 4 / 12 <= hi)
    assert np.mean(estimates) == pytest.approx(12, rel=0.04)
    assert np.mean(covered) >= 0.9


def test_model_estimate_is_exact_in_expectation_when_calibrated():
    """With p equal to the true probabilities, Σp is unbiased and the interval covers ~95%."""
    rng = np.random.default_rng(1)
    p = rng.beta(0.3, 5, 2000)
    covered = []
    for _ in range(300):
        truth = rng.random(p.size) < p
        lo, hi = model_estimate(10, p).positives_interval()
        covered.append(lo <= 10 + truth.sum() <= hi)
    assert 0.9 <= np.mean(covered) <= 0.99


@pytest.mark.parametrize("method", ["audit", "model"])
def test_runs_report_the_estimate_beside_the_truth_without_changing_the_loop(small_dataset, method):
    config = dict(concept="rare", k=5, budget=60, batch_size=10, seed_pos=2, neg_ratio=4, factory="Flat")
    plain = run(small_dataset, RunConfig(**config))
    estimated = run(small_dataset, RunConfig(**config, estimate=method))
    assert list(estimated.rounds.columns) == ROUND_COLUMNS
    pd.testing.assert_frame_equal(plain.labels, estimated.labels)
    rounds = estimated.rounds
    assert rounds["est_recall"].between(0, 1).all()
    assert (rounds["est_recall_lo"] <= rounds["est_recall"] + 1e-12).all()
    assert (rounds["est_recall"] <= rounds["est_recall_hi"] + 1e-12).all()
    if method == "audit":
        assert rounds["audit_labels"].is_monotonic_increasing
        assert 0 < rounds["audit_labels"].iloc[-1] <= rounds["round"].size  # one draw per round (batch 10)
    else:
        assert (rounds["audit_labels"] == 0).all()
    assert plain.rounds["est_recall"].isna().all() and (plain.rounds["audit_labels"] == 0).all()


def test_old_run_tables_gain_empty_estimate_columns():
    old = pd.DataFrame({"round": [0], "recall": [0.1], "knn": ["index"]})
    filled = with_knn_column(old)
    assert set(ESTIMATE_COLUMNS) <= set(filled.columns)
    assert filled["est_recall"].isna().all() and (filled["audit_labels"] == 0).all()


def test_a_stopping_rule_ends_the_run_and_says_why(small_dataset):
    config = RunConfig(concept="rare", k=5, budget=200, batch_size=10, seed_pos=2, neg_ratio=4, factory="Flat",
                       stop="budget:50")  # fmt: skip
    result = run(small_dataset, config)
    assert result.rounds["n_labeled"].iloc[-1] == 50
    assert "budget" in result.stop_reason
    with pytest.raises(InvalidParameterError, match="--estimate"):
        RunConfig(concept="rare", stop="target:0.8").validate()
    with pytest.raises(InvalidParameterError, match="audit"):
        RunConfig(concept="rare", estimate="audit", audit=0).validate()


def test_cli_run_takes_estimate_audit_and_stop(small_dataset, tmp_path):
    out = tmp_path / "run.parquet"
    result = CliRunner().invoke(app, [
        "run", str(small_dataset.path), "--concept", "rare", "--k", "5", "--budget", "60", "--batch", "10",
        "--seed-pos", "2", "--neg-ratio", "4", "--factory", "Flat", "--estimate", "audit", "--audit", "3",
        "--stop", "target:0.99", "--out", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert table["audit_labels"].iloc[-1] > 0 and table["est_recall"].notna().all()
    bad = CliRunner().invoke(app, ["run", str(small_dataset.path), "--concept", "rare", "--estimate", "guess"])
    assert bad.exit_code != 0 and "audit, model" in bad.output


def test_report_shows_estimates_beside_the_truth_and_the_stopping_rules(small_dataset, tmp_path):
    from sealsearch.experiments.grid import ExperimentGrid, run_experiment
    from sealsearch.reporting.report import write_report

    grid = ExperimentGrid(
        concepts=["rare"], strategies=["mlp"], pools=["seals"], ks=[5], seed_pos=[2], repeats=2, budget=60,
        neg_ratio=4, factory="Flat", estimate="audit",
    )  # fmt: skip
    run_experiment(small_dataset, grid, tmp_path / "results")
    write_report(tmp_path / "results")
    text = (tmp_path / "results" / "report.md").read_text()
    assert "Recall estimates and stopping" in text and "knee" in text and "`audit`" in text
    assert (tmp_path / "results" / "figures" / "estimates.png").is_file()
