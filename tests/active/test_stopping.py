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
