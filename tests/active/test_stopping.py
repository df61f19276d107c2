"""Stopping rules: parsing, the knee on gain curves with a known shape, target and budget."""

from __future__ import annotations

import numpy as np
import pytest

from sealsearch.active.stopping import first_stop, knee_ratio, parse_rule
from sealsearch.errors import InvalidParameterError


def test_parse_rules_and_refuse_bad_ones():
    assert parse_rule("target:0.8").name == "target:0.8"
    assert parse_rule("target:0.8:0.9").confidence == 0.9
    assert parse_rule("knee").min_labels == 500
    assert parse_rule("knee:150").min_labels == 150
    assert parse_rule("budget:1000").budget == 1000
    for bad in ("target", "target:1.5", "knee:x", "budget:0", "elusion"):
        with pytest.raises(InvalidParameterError, match="^stop "):
            parse_rule(bad)


def test_knee_fires_on_a_saturated_gain_curve_but_not_on_a_straight_one():
    labels = np.arange(100, 2100, 100)
    saturated = np.minimum(labels // 2, 200)  # 200 positives in the first 400 labels, then none
    ratio, knee = knee_ratio(labels, saturated)
    assert knee == 400
    assert ratio == pytest.approx((200 / 400) / (1 / 1600))
    at, reason = first_stop(parse_rule("knee"), labels, saturated)
    assert labels[at] == 500 and "knee" in reason  # the minimum of 500 labels binds
    straight = labels // 10
    assert first_stop(parse_rule("knee"), labels, straight)[0] is None


def test_target_reads_the_lower_bound_and_budget_the_labels():
    labels, found = np.array([100, 200, 300]), np.array([5, 9, 10])
    assert first_stop(parse_rule("target:0.8"), labels, found, np.array([0.3, 0.79, 0.81]))[0] == 2
    assert first_stop(parse_rule("target:0.8"), labels, found, np.array([np.nan, 0.5, 0.6]))[0] is None
    assert first_stop(parse_rule("budget:200"), labels, found)[0] == 1


def test_every_stop_says_what_it_guarantees():
    labels, found = np.array([100, 200]), np.array([5, 9])
    assert "no guarantee" in parse_rule("budget:200").check(labels, found).reason
    knee = parse_rule("knee:0").check(np.arange(100, 2100, 100), np.minimum(np.arange(100, 2100, 100) // 2, 200))
    assert knee.stop and knee.guarantee == "no guarantee" and "no guarantee" in knee.reason
    target = parse_rule("target:0.8").check(labels, found, 0.85, guarantee="a confidence sequence")
    assert target.stop and target.guarantee == "a confidence sequence"
    assert parse_rule("zero:0.8").name == "zero:0.8" and parse_rule("zero:0.9:0.99").confidence == 0.99


def test_target_never_fires_before_its_bound_allows(small_dataset):
    """A simulated run with the audit's certified bound: the round it stops at is the first whose
    lower bound reaches the target, and the reason quotes the guarantee."""
    from sealsearch.experiments.simulate import RunConfig, run

    config = RunConfig(concept="rare", k=5, budget=200, batch_size=10, seed_pos=2, neg_ratio=4, factory="Flat",
                       estimate="audit", audit=4, stop="target:0.3")  # fmt: skip
    result = run(small_dataset, config)
    lows = result.rounds["est_recall_lo"].to_numpy()
    if result.stop_reason is None:
        assert (lows < 0.3).all()
    else:
        assert lows[-1] >= 0.3 and (lows[:-1] < 0.3).all()
        assert "confidence sequence" in result.stop_reason


def _review(truth: np.ndarray, order: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(batch, truth.size + 1, batch)
    return labels, np.cumsum(truth[order])[labels - 1]


def test_zero_label_rule_is_right_when_its_assumption_holds_and_can_be_wrong_when_not():
    """Random screening meets the rule's assumption with equality: over 300 seeded reviews of a
    2,000-item pool with 40 positives, the rule fires with true recall < 0.8 in at most 5% (plus
    sampling error). A review that never reaches 20 of the positives (SEALS's blind spot) and
    screens the negatives after the others breaks it: the rule then stops at recall 0.5."""
    from sealsearch.active.stopping import zero_label_pvalue

    rule = parse_rule("zero:0.8")
    wrong = []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        truth = np.zeros(2000, dtype=np.int64)
        truth[rng.choice(2000, 40, replace=False)] = 1
        labels, found = _review(truth, rng.permutation(2000), 100)
        at, _ = first_stop(rule, labels, found, pool_size=2000)
        wrong.append(at is not None and found[at] / 40 < 0.8)
    assert np.mean(wrong) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 300)
    truth = np.zeros(2000, dtype=np.int64)
    truth[:40] = 1
    blind = np.concatenate([np.arange(20), np.arange(40, 2000), np.arange(20, 40)])  # 20 positives last
    labels, found = _review(truth, blind, 100)
    at, reason = first_stop(rule, labels, found, pool_size=2000)
    assert at is not None and found[at] / 40 == 0.5 and "zero" in reason
    # an audit positive outside the loop's reach found at that point restarts the tails: no stop
    assert zero_label_pvalue(labels[: at + 1], found[: at + 1], 0.8, 2000, since=int(labels[at])) == 1.0


def test_certificate_quotes_its_cost_first_and_certifies_from_a_uniform_sample():
    from sealsearch.active.certify import certificate_plan, certified_recall

    plan = certificate_plan(0.8, 0.95, positives=100, pool=60_000, unlabeled=58_000)
    assert plan.positives_needed == 14  # 0.8^14 < 0.05 <= 0.8^13
    assert 14 / (100 / 60_000) < plan.draws < 3 * 14 / (100 / 60_000)
    assert plan.labels < plan.draws and "certify recall ≥ 80%" in plan.text
    assert certified_recall(14, 14) >= 0.8 > certified_recall(13, 14)
    # coverage: a loop that found 70 of 100 positives; uniform samples' bound ≤ 0.7 in ≥ 95%
    rng = np.random.default_rng(3)
    bounds = [certified_recall(rng.binomial(30, 0.7), 30) for _ in range(500)]
    assert np.mean(np.array(bounds) <= 0.7) >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / 500)
