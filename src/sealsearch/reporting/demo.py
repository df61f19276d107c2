"""The demo's table and goals: reading its rounds, never running anything (see experiments/demo.py)."""

from __future__ import annotations

import pandas as pd

from sealsearch.reporting.results import summary_table

GOAL_RECALL_GAP = 0.02
"""Goal: the adaptive pool's final recall is at most 2 points below All's (same strategy)..."""
GOAL_POOL_FRAC = 0.15
"""...while its candidate pool stays under 15% of the pool split."""


def round_summary(rounds: pd.DataFrame) -> pd.DataFrame:
    """`summary_table` plus `round_ms`: the mean whole round (select + kNN + train) in milliseconds,
    over every round of every run of the (strategy, pool), the seed round included."""
    summary = summary_table(rounds)
    per_round = rounds.assign(t_round=rounds[["t_select", "t_knn", "t_train"]].sum(axis=1))
    round_ms = per_round.groupby(["strategy", "pool"])["t_round"].mean() * 1000
    return summary.join(round_ms.rename("round_ms"), on=["strategy", "pool"])


def goals(summary: pd.DataFrame) -> list[str]:
    """One line per strategy and goal, `met` or `MISSED` with the measured numbers."""
    lines = []
    table = summary.set_index(["strategy", "pool"])
    for strategy in sorted(summary["strategy"].unique()):
        all_pool, seals, adaptive = (table.loc[(strategy, pool)] for pool in ("all", "seals", "adaptive"))
        gap = all_pool["recall"] - adaptive["recall"]
        met = gap <= GOAL_RECALL_GAP and adaptive["pool_frac"] < GOAL_POOL_FRAC
        lines.append(
            f"{strategy}: adaptive recall {adaptive['recall']:.1%} vs All {all_pool['recall']:.1%} "
            f"({-gap * 100:+.1f} points, goal >= -{GOAL_RECALL_GAP * 100:.0f}) at {adaptive['pool_frac']:.1%} of "
            f"the pool (goal < {GOAL_POOL_FRAC:.0%}): {'met' if met else 'MISSED'}"
        )
        cheaper = seals["round_ms"] < all_pool["round_ms"]
        lines.append(
            f"{strategy}: SEALS round {seals['round_ms']:.1f} ms vs All round {all_pool['round_ms']:.1f} ms "
            f"({all_pool['round_ms'] / seals['round_ms']:.2f}×; goal: cheaper): {'met' if cheaper else 'MISSED'}"
        )
    return lines
