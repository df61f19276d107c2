"""The report's recall-estimate section: estimated vs true recall, and whether stops come right.

Written only when runs.parquet holds estimates (`seals experiment --estimate audit|model`). The
stopping rules are replayed on each finished run (`active.stopping.first_stop`), so one
experiment run to its budget measures every rule; a rule that never fires stops at the budget.
A stop is right when the true recall at it is ≥ the target (strict), and its cost is the labels
it spent ÷ the first label count at which the true recall reached the target (the oracle's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch.active.stopping import first_stop, parse_rule
from sealsearch.reporting.plots import _pyplot, _save
from sealsearch.reporting.sections import Column, fmt, integer, markdown_table, percent, section, txt

FIGURE = "estimates.png"
REPORT_RULES = ("target:0.8", "zero:0.8", "knee", "budget:1000")
TARGET = 0.8
CHECKPOINT_LABELS = 500
"""Coverage and error count checkpoints with at least this many labels (issue 13's goal)."""


def has_estimates(runs: pd.DataFrame) -> bool:
    return "est_recall" in runs.columns and runs["est_recall"].notna().any()


def estimate_accuracy(runs: pd.DataFrame, after: int = CHECKPOINT_LABELS) -> pd.DataFrame:
    """Per method label: checkpoints, coverage of the 95% interval and of its lower bound, mean
    absolute error, width, audit share."""
    late = runs[(runs["n_labeled"] >= after) & runs["est_recall"].notna()]
    covered = (late["est_recall_lo"] <= late["recall"] + 1e-9) & (late["recall"] <= late["est_recall_hi"] + 1e-9)
    frame = late.assign(
        covered=covered, lower=late["est_recall_lo"] <= late["recall"] + 1e-9,
        error=(late["est_recall"] - late["recall"]).abs(),
        width=late["est_recall_hi"] - late["est_recall_lo"],
        audit_share=late["audit_labels"] / (late["audit_labels"] + late["n_labeled"]),
    )  # fmt: skip
    return (
        frame.groupby(["strategy", "method"], observed=True)
        .agg(
            checkpoints=("covered", "size"),
            coverage=("covered", "mean"),
            lower_coverage=("lower", "mean"),
            mae=("error", "mean"),
            width=("width", "mean"),
            audit_share=("audit_share", "max"),
        )  # fmt: skip
        .reset_index()
    )


def _pool_rows(run: pd.DataFrame) -> int | None:
    """The pool split's size, from the candidate pool's size and its share of the split."""
    frac = run["pool_frac"].to_numpy()
    ok = frac > 0
    return int(round(float(run["pool_size"].to_numpy()[ok][0] / frac[ok][0]))) if ok.any() else None


def unreached_since(run: pd.DataFrame) -> np.ndarray | None:
    """Per round of one run, the labels after the last round whose audit found a positive outside
    the loop's reach (the zero-label rule's tails start there); None for tables without the column."""
    if "audit_unreached" not in run.columns:
        return None
    unreached = run["audit_unreached"].fillna(0)
    grew = unreached.diff().fillna(unreached) > 0
    return run["n_labeled"].where(grew).ffill().fillna(0).to_numpy()


def run_stops(runs: pd.DataFrame, rules: tuple[str, ...] = REPORT_RULES) -> pd.DataFrame:
    """One row per (run, rule): fired, labels and true recall at the stop, the oracle's labels
    (first label count with true recall ≥ TARGET; None when the run never got there)."""
    rows = []
    for (strategy, method, _run), run in runs.groupby(["strategy", "method", "run"], observed=True):
        run = run.sort_values("round")
        labels, found = run["n_labeled"].to_numpy(), run["n_positive"].to_numpy()
        reached = np.flatnonzero(run["recall"].to_numpy() >= TARGET)
        for text in rules:
            rule = parse_rule(text)
            if rule.needs_estimate and run["est_recall_lo"].isna().all():
                continue
            lo = run["est_recall_lo"].to_numpy() if rule.needs_estimate else None
            at, _ = first_stop(rule, labels, found, lo, pool_size=_pool_rows(run), since=unreached_since(run))
            stop = run.iloc[-1 if at is None else at]
            rows.append({"strategy": strategy, "method": method, "rule": text, "fired": at is not None,
                         "labels": stop["n_labeled"], "oracle": labels[reached[0]] if reached.size else np.nan,
                         "saved": run["n_labeled"].iloc[-1] - stop["n_labeled"], "recall": stop["recall"],
                         "given_up": run["recall"].iloc[-1] - stop["recall"]})  # fmt: skip
    return pd.DataFrame(rows)


def stopping_table(runs: pd.DataFrame, rules: tuple[str, ...] = REPORT_RULES) -> pd.DataFrame:
    """Per strategy, method and rule: runs, share fired, mean labels saved against each run's own
    last round, mean recall given up, the share of stops with true recall ≥ TARGET (strict), and
    the median labels at the stop ÷ the oracle's labels at TARGET."""
    frame = run_stops(runs, rules)
    if frame.empty:
        return frame
    frame = frame.assign(right=frame["recall"] >= TARGET, cost=frame["labels"] / frame["oracle"])
    return (
        frame.groupby(["strategy", "method", "rule"], observed=True)
        .agg(
            runs=("fired", "size"),
            fired=("fired", "mean"),
            saved=("saved", "mean"),
            given_up=("given_up", "mean"),
            recall_ok=("right", "mean"),
            cost=("cost", "median"),
        )  # fmt: skip
        .reset_index()
    )


def plot_estimates(runs: pd.DataFrame, stops: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Left: mean true and estimated recall against labels per method, band = mean 95% interval.
    Right: labels at each rule's stop against the oracle's labels at recall TARGET, one point per
    run (filled: true recall ≥ TARGET at the stop; hollow: stopped short). `stops` is unused
    (kept for callers): the points come from the runs."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    runs = runs[runs["est_recall"].notna()]
    # by round, not by label count: audit draws that repeat a row make counts differ by a few
    curves = runs.groupby(["strategy", "method", "round"], observed=True)[
        ["n_labeled", "recall", "est_recall", "est_recall_lo", "est_recall_hi"]
    ].mean()
    for i, ((strategy, method), curve) in enumerate(curves.groupby(level=[0, 1], observed=True)):
        x = curve["n_labeled"]
        color = f"C{i}"
        left.plot(x, curve["recall"], color=color, label=f"{strategy}-{method} true")
        left.plot(x, curve["est_recall"], color=color, linestyle="--", label=f"{strategy}-{method} estimated")
        left.fill_between(x, curve["est_recall_lo"], curve["est_recall_hi"], color=color, alpha=0.15)
    left.set(xlabel="labels", ylabel="recall", ylim=(0, 1.02))
    left.legend(fontsize=7)
    points = run_stops(runs)
    points = points[points["oracle"].notna()] if len(points) else points
    for i, (rule, group) in enumerate(points.groupby("rule") if len(points) else []):
        ok = group["recall"] >= TARGET
        right.scatter(group["oracle"][ok], group["labels"][ok], color=f"C{i}", label=rule, s=14)
        right.scatter(group["oracle"][~ok], group["labels"][~ok], facecolors="none", edgecolors=f"C{i}", s=14)
    if len(points):
        top = float(max(points["oracle"].max(), points["labels"].max()))
        right.plot([0, top], [0, top], color="grey", linewidth=0.8, label="stop = oracle")
    right.set(xlabel=f"oracle's labels at recall {TARGET:g}", ylabel="labels at the stop")
    right.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path, title)


def estimate_section(accuracy: pd.DataFrame, stops: pd.DataFrame, estimate: str | None) -> str:
    accuracy_table = markdown_table(accuracy, [
        txt("strategy", "strategy"), txt("method", "method"),
        Column("checkpoints", lambda r: integer(r["checkpoints"])),
        Column("95% coverage", lambda r: percent(r["coverage"])),
        Column("lower bound ≤ truth", lambda r: percent(r["lower_coverage"])),
        Column("MAE", lambda r: percent(r["mae"])),
        Column("mean width", lambda r: percent(r["width"])), Column("audit share", lambda r: percent(r["audit_share"])),
    ])  # fmt: skip
    parts = [
        f"Estimate: `{estimate or 'see experiment.json'}`. Checkpoints are (run, round) pairs with ≥ "
        f"{CHECKPOINT_LABELS} labels; goals (issue 19): coverage ≥ 95%, lower bound ≤ truth in ≥ 97.5%, MAE ≤ 5 "
        "points, audit share ≤ 10%. The audit's interval is a confidence sequence (it holds at every look, "
        "whatever the model); the model's carries no guarantee.",
        accuracy_table,
        "![estimated vs true recall](figures/estimates.png)",
    ]
    if len(stops):
        parts.append(markdown_table(stops, [
            txt("strategy", "strategy"), txt("method", "method"), txt("rule", "rule"),
            Column("fired", lambda r: percent(r["fired"])), Column("labels saved", lambda r: fmt("{:.0f}")(r["saved"])),
            Column("recall given up", lambda r: percent(r["given_up"])),
            Column(f"true recall ≥ {TARGET:g}", lambda r: percent(r["recall_ok"])),
            Column("labels ÷ oracle's", lambda r: "—" if np.isnan(r["cost"]) else fmt("{:.2f}")(r["cost"])),
        ]))  # fmt: skip
    return section("Recall estimates and stopping", *parts)
