"""Recall estimates: exact answers on small pools, coverage at every look over seeded draws from
pools whose truth is known, and their place in simulated runs (columns, audit cost, audits
joining the loop).

Coverage tests state their sampling error: over S seeded sequences a 95% guarantee may show as
low as 0.95 − 3·sqrt(0.05·0.95/S) by chance alone (three standard errors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sealsearch.active.confseq import betting_interval, count_grid
from sealsearch.active.estimate import (
    AuditDraws,
    AuditLog,
    Estimate,
    audit_distribution,
    audit_estimate,
    draw_audit,
    model_estimate,
    percent,
)
from sealsearch.cli import app
from sealsearch.errors import InvalidParameterError
from sealsearch.experiments.estimate import ESTIMATE_COLUMNS
from sealsearch.experiments.simulate import ROUND_COLUMNS, RunConfig, run, with_knn_column


def _slack(sequences: int, level: float = 0.95) -> float:
    return level - 3 * np.sqrt(level * (1 - level) / sequences)


def test_model_estimate_sums_probabilities_exactly():
    estimate = model_estimate(3, np.array([0.5, 0.5, 1.0, 0.0]))
    assert estimate.positives == pytest.approx(5.0)
    assert estimate.positives_se == pytest.approx(np.sqrt(0.5))
    assert estimate.recall == pytest.approx(3 / 5)
    lo, hi = estimate.recall_interval()
    z = 1.959964
    assert lo == pytest.approx(3 / (5 + z * np.sqrt(0.5)), rel=1e-5)
    assert hi == pytest.approx(3 / (5 - z * np.sqrt(0.5)), rel=1e-5)
    assert "no guarantee" in estimate.text and "no guarantee" in estimate.guarantee


def test_interval_never_claims_fewer_positives_than_seen_and_never_has_width_zero():
    estimate = Estimate("audit", found=8, known=10, positives=9.0, positives_lo=10.0, positives_hi=14.0)
    assert estimate.recall == pytest.approx(0.8)
    assert estimate.recall_interval()[1] == pytest.approx(0.8)
    assert Estimate("model", 0, 0, 0.0, 0.0, 0.0).recall == 1.0  # nothing to find, nothing found
    # 15 of ~78 found but the model claims thousands more (the app's "0%–0%" defect): the
    # bound is small, not zero, and printed as such
    cold = model_estimate(15, np.full(30_000, 0.2))
    lo, hi = cold.recall_interval()
    assert 0 < lo < hi and percent(lo) != "0%" and "0%–0%" not in cold.text
    # an audit that has hit nothing unlabeled still leaves room above what was found
    log = AuditLog()
    log.record(AuditDraws.hansen_hurwitz(np.array([5]), np.array([0.01]), 100), 15, {5: 0})
    lo, hi = audit_estimate(log, 15, 99).recall_interval()
    assert lo < hi


def test_audit_distribution_is_a_distribution_with_a_uniform_floor():
    q = audit_distribution(np.array([0.0, 0.0, 0.5, 1.0]), floor=0.2)
    assert q.sum() == pytest.approx(1.0)
    assert q.min() == pytest.approx(0.2 / 4)
    assert q[3] > q[2] > q[0]


def test_betting_interval_covers_a_known_mean_at_every_look():
    """Bounded draws with mean 0.3 (a skewed two-point law): the true mean stays inside the
    running confidence sequence at all 40 looks in ≥ 95% (minus sampling error) of 400 sequences,
    while a normal interval checked at each look loses far more often."""
    grid = np.linspace(0, 1, 201)
    kept, normal_kept = [], []
    for seed in range(400):
        rng = np.random.default_rng(seed)
        z = (rng.random(40) < 0.3).astype(float)
        ok = normal_ok = True
        for t in range(2, 41):
            lo, hi = betting_interval(z[:t], np.zeros(t), np.ones(t), grid, alpha=0.05, prior_var=0.25)
            ok &= lo <= 0.3 <= hi
            m, se = z[:t].mean(), z[:t].std(ddof=1) / np.sqrt(t)
            normal_ok &= m - 1.96 * se <= 0.3 <= m + 1.96 * se
        kept.append(ok)
        normal_kept.append(normal_ok)
    assert np.mean(kept) >= _slack(400)
    assert np.mean(normal_kept) < 0.9  # the old interval's failure mode under repeated looks


def _pool(rng: np.random.Generator, n: int = 400, positives: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Truth and a noisy, badly calibrated score: positives score higher on average, and two of
    them score like negatives (a group the model misses)."""
    truth = np.zeros(n, dtype=np.int8)
    truth[rng.choice(n, positives, replace=False)] = 1
    proba = np.clip(0.6 * truth + rng.normal(0.15, 0.15, n), 0.001, 0.999)
    proba[np.flatnonzero(truth)[-2:]] = 0.01
    return truth, proba


def _audited_review(truth: np.ndarray, proba: np.ndarray, seed: int, rounds: int = 6, m: int = 25):
    """A loop that labels the 15 best-scored items per round, with an audit of m whose labels
    join it; yields (estimate, true recall, the mean term of the round's draws) after every round."""
    rng = np.random.default_rng(seed)
    labeled = np.zeros(truth.size, dtype=bool)
    labeled[np.flatnonzero(truth)[:3]] = True
    log = AuditLog()
    for _ in range(rounds):
        unlabeled = np.flatnonzero(~labeled)
        draws = draw_audit(unlabeled, proba[unlabeled], m, rng)
        new = log.unlabeled(draws.rows)
        log.record(draws, int(truth[labeled].sum()), dict(zip(new.tolist(), truth[new].tolist(), strict=True)))
        labeled[new] = True
        unlabeled = np.flatnonzero(~labeled)
        labeled[unlabeled[np.argsort(-proba[unlabeled])[:15]]] = True
        found = int(truth[labeled].sum())
        yield audit_estimate(log, found, int((~labeled).sum())), found / truth.sum(), float(log.z[-1].mean())


def test_audit_interval_holds_at_every_round_over_seeded_draws_and_audits_may_join_the_loop():
    """12 positives in 400 (two the model scores like negatives), audits joining the loop: over
    300 seeded audits the recall interval holds at all six rounds in ≥ 95% (minus sampling error),
    the lower bound in ≥ 97.5% (minus error), and the point estimate of the positive count is
    unbiased in every round although audit positives join the loop (each round's mean term,
    averaged over the seeds, within 10% of 12)."""
    truth, proba = _pool(np.random.default_rng(0))
    always, lower, terms = [], [], []
    for seed in range(300):
        results = list(_audited_review(truth, proba, seed))
        always.append(all(e.recall_interval()[0] - 1e-9 <= r <= e.recall_interval()[1] + 1e-9 for e, r, _ in results))
        lower.append(all(e.recall_interval()[0] <= r + 1e-9 for e, r, _ in results))
        terms.append([term for _, _, term in results])
    assert np.mean(always) >= _slack(300)
    assert np.mean(lower) >= _slack(300, 0.975)
    assert np.mean(terms, axis=0) == pytest.approx(np.full(6, 12.0), rel=0.1)


def test_count_grid_is_exact_then_geometric_and_keeps_both_ends():
    grid = count_grid(3, 60_000)
    assert grid[0] == 3 and grid[-1] == 60_000 and np.all(np.diff(grid) > 0)
    assert np.all(np.diff(grid[:2000]) == 1) and np.diff(grid).max() / 60_000 < 0.011
    assert list(count_grid(2, 5)) == [2, 3, 4, 5]


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
def test_runs_report_the_estimate_beside_the_truth_and_audits_join_the_loop(small_dataset, method):
    config = dict(concept="rare", k=5, budget=60, batch_size=10, seed_pos=2, neg_ratio=4, factory="Flat")
    plain = run(small_dataset, RunConfig(**config))
    estimated = run(small_dataset, RunConfig(**config, estimate=method))
    assert list(estimated.rounds.columns) == ROUND_COLUMNS
    rounds = estimated.rounds
    assert rounds["est_recall"].between(0, 1).all()
    assert (rounds["est_recall_lo"] <= rounds["est_recall"] + 1e-12).all()
    assert (rounds["est_recall"] <= rounds["est_recall_hi"] + 1e-12).all()
    assert (rounds["est_recall_lo"] < rounds["est_recall_hi"]).all()  # never width zero
    labels = estimated.labels
    assert labels["row"].is_unique and rounds["n_labeled"].iloc[-1] <= 60  # audits count in the budget
    if method == "audit":
        assert rounds["audit_labels"].is_monotonic_increasing
        assert 0 < rounds["audit_labels"].iloc[-1] <= rounds["round"].size  # one draw per round (batch 10)
        # every audit label is a loop label: the rows of the plain run's seed are there, and
        # the estimated run labeled as many rows in all as it reports (audit included)
        assert len(labels) == rounds["n_labeled"].iloc[-1]
    else:
        pd.testing.assert_frame_equal(plain.labels, labels)  # no audit: the loop is unchanged
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
    with pytest.raises(InvalidParameterError, match="set estimate to audit or model"):
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
    assert "zero:0.8" in text and "labels ÷ oracle's" in text and "lower bound ≤ truth" in text
    assert (tmp_path / "results" / "figures" / "estimates.png").is_file()


def test_an_audit_positive_outside_the_loops_pool_raises_the_flag_and_opens_its_neighbourhood(small_dataset):
    """One seed positive of a 24-item concept with k = 3 leaves most of it outside the SEALS pool;
    an audit that hits such a positive flags it, and once its label joins the loop (as `run`
    tells it, with the batch) its own neighbours are candidates like any labeled row's."""
    from sealsearch.active.knn import open_or_build_index
    from sealsearch.active.loop import ActiveLoop
    from sealsearch.active.pools import make_pool
    from sealsearch.experiments.estimate import RoundEstimator

    dataset = small_dataset
    pool_rows = dataset.split_rows("pool")
    positives = dataset.rows_in_split(dataset.concept_rows("rare"), "pool")
    index = open_or_build_index(dataset, "Flat")
    pool = make_pool("seals", dataset.embeddings, pool_rows, index=index, k=3)
    loop = ActiveLoop(dataset.embeddings, pool, strategy="mlp", eligible_rows=pool_rows)
    negatives = np.setdiff1d(pool_rows, positives)[:10]
    seed = np.concatenate([positives[:1], negatives])
    loop.tell(seed, np.isin(seed, positives).astype(np.int8))
    truth = lambda rows: np.isin(rows, positives).astype(np.int8)  # noqa: E731
    estimator = RoundEstimator("audit", pool_rows, truth, audit=400, seed=0)
    outside = set(np.setdiff1d(positives, np.concatenate([pool.candidates(), seed])).tolist())
    rows, labels = estimator.audit_round(loop, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int8))
    flagged = estimator.log.unreached_rows
    assert flagged and flagged <= outside
    loop.tell(rows, labels)
    assert estimator.update(loop).unreached == len(flagged) > 0
    open_now = set(pool.candidates().tolist()) | set(loop.labeled_rows.tolist())
    for row in flagged:
        neighbours, _ = index.search(dataset.embeddings.take(np.array([row])), 3, exclude=np.array([row]))
        assert set(neighbours[0][neighbours[0] >= 0].tolist()) & set(pool_rows.tolist()) <= open_now


def test_rows_held_out_of_a_draw_and_still_unlabeled_widen_only_the_upper_bound():
    """The app skips rows of open batches when it draws; while they stay unlabeled each may be a
    positive the draw could not see, so P's upper end widens and its lower end does not move."""
    rng = np.random.default_rng(5)
    truth, proba = _pool(rng)
    bounds = []
    for unknown in (0, 5):
        log, draw_rng = AuditLog(), np.random.default_rng(1)
        unlabeled = np.arange(3, truth.size)
        for _ in range(4):
            draws = draw_audit(unlabeled, proba[unlabeled], 25, draw_rng)
            new = log.unlabeled(draws.rows)
            log.record(draws, 3, dict(zip(new.tolist(), truth[new].tolist(), strict=True)), unknown=unknown)
        bounds.append(audit_estimate(log, 3, unlabeled.size).positives_interval())
    (lo0, hi0), (lo5, hi5) = bounds
    assert lo5 == lo0 and hi5 > hi0
