"""The report's recall-estimate section: estimated vs true recall, and what stopping rules save.

Written only when runs.parquet holds estimates (`seals experiment --estimate audit|model`). The
stopping rules are replayed on each finished run (`active.stopping.first_stop`), so one
experiment run to its budget measures every rule; a rule that never fires stops at the budget.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sealsearch.active.stopping import first_stop, parse_rule
from sealsearch.reporting.plots import _pyplot, _save
from sealsearch.reporting.sections import Column, fmt, integer, markdown_table, percent, section, txt

FIGURE = "estimates.png"
REPORT_RULES = ("target:0.8", "knee", "budget:1000")
CHECKPOINT_LABELS = 500
"""Coverage and error count checkpoints with at least this many labels (issue 13's goal)."""


def has_estimates(runs: pd.DataFrame) -> bool:
    return "est_recall" in runs.columns and runs["est_recall"].notna().any()


def estimate_accuracy(runs: pd.DataFrame, after: int = CHECKPOINT_LABELS) -> pd.DataFrame:
    """Per method label: checkpoints, coverage of the 95% interval, mean absolute error, width, audit share."""
    late = runs[(runs["n_labeled"] >= after) & runs["est_recall"].notna()]
    covered = (late["est_recall_lo"] <= late["recall"] + 1e-9) & (late["recall"] <= late["est_recall_hi"] + 1e-9)
    frame = late.assign(
        covered=covered, error=(late["est_recall"] - late["recall"]).abs(),
        width=late["est_recall_hi"] - late["est_recall_lo"],
        audit_share=late["audit_labels"] / (late["audit_labels"] + late["n_labeled"]),
    )  # fmt: skip
    return (
        frame.groupby(["strategy", "method"], observed=True)
        .agg(
            checkpoints=("covered", "size"),
            coverage=("covered", "mean"),
            mae=("error", "mean"),
            width=("width", "mean"),
            audit_share=("audit_share", "max"),
        )  # fmt: skip
        .reset_index()
    )


def stopping_table(runs: pd.DataFrame, rules: tuple[str, ...] = REPORT_RULES) -> pd.DataFrame:
    """Per strategy, method and rule: runs, share fired, mean labels saved against each run's own
    last round, mean recall given up, and the share of runs stopping with true recall ≥ 0.75."""
    rows = []
    for (strategy, method, _run), run in runs.groupby(["strategy", "method", "run"], observed=True):
        run = run.sort_values("round")
        for text in rules:
            rule = parse_rule(text)
            if rule.needs_estimate and run["est_recall_lo"].isna().all():
                continue
            lo = run["est_recall_lo"].to_numpy() if rule.needs_estimate else None
            at, _ = first_stop(rule, run["n_labeled"].to_numpy(), run["n_positive"].to_numpy(), lo)
            stop = run.iloc[-1 if at is None else at]
            rows.append({"strategy": strategy, "method": method, "rule": text, "fired": at is not None,
                         "saved": run["n_labeled"].iloc[-1] - stop["n_labeled"], "recall": stop["recall"],
                         "given_up": run["recall"].iloc[-1] - stop["recall"]})  # fmt: skip
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return (
        frame.groupby(["strategy", "method", "rule"], observed=True)
        .agg(
            runs=("fired", "size"),
            fired=("fired", "mean"),
            saved=("saved", "mean"),
            given_up=("given_up", "mean"),
            recall_ok=("recall", lambda s: (s >= 0.75).mean()),
        )  # fmt: skip
        .reset_index()
    )


def plot_estimates(runs: pd.DataFrame, stops: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Left: mean true and estimated recall against labels per method, band = mean 95% interval.
    Right: labels saved by each stopping rule against the recall it gave up (one point per method)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    runs = runs[runs["est_recall"].notna()]
    curves = runs.groupby(["strategy", "method", "n_labeled"], observed=True)[
        ["recall", "est_recall", "est_recall_lo", "est_recall_hi"]
    ].mean()
    for i, ((strategy, method), curve) in enumerate(curves.groupby(level=[0, 1], observed=True)):
        x = curve.index.get_level_values("n_labeled")
        color = f"C{i}"
        left.plot(x, curve["recall"], color=color, label=f"{strategy}-{method} true")
        left.plot(x, curve["est_recall"], color=color, linestyle="--", label=f"{strategy}-{method} estimated")
        left.fill_between(x, curve["est_recall_lo"], curve["est_recall_hi"], color=color, alpha=0.15)
    left.set(xlabel="labels", ylabel="recall", ylim=(0, 1.02))
    left.legend(fontsize=7)
    for i, (rule, group) in enumerate(stops.groupby("rule")):
        right.scatter(group["given_up"], group["saved"], color=f"C{i}", label=rule)
    right.set(xlabel="recall given up (vs the run's last round)", ylabel="labels saved")
    right.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path, title)


def estimate_section(accuracy: pd.DataFrame, stops: pd.DataFrame, estimate: str | None) -> str:
    accuracy_table = markdown_table(accuracy, [
        txt("strategy", "strategy"), txt("method", "method"),
        Column("checkpoints", lambda r: integer(r["checkpoints"])),
        Column("95% coverage", lambda r: percent(r["coverage"])), Column("MAE", lambda r: percent(r["mae"])),
        Column("mean width", lambda r: percent(r["width"])), Column("audit share", lambda r: percent(r["audit_share"])),
    ])  # fmt: skip
    parts = [
        f"Estimate: `{estimate or 'see experiment.json'}`. Checkpoints are (run, round) pairs with ≥ "
        f"{CHECKPOINT_LABELS} labels; goal (issue 13): coverage ≥ 90%, MAE ≤ 5 points, audit share ≤ 10%.",
        accuracy_table,
        "![estimated vs true recall](figures/estimates.png)",
    ]
    if len(stops):
        parts.append(markdown_table(stops, [
            txt("strategy", "strategy"), txt("method", "method"), txt("rule", "rule"),
            Column("fired", lambda r: percent(r["fired"])), Column("labels saved", lambda r: fmt("{:.0f}")(r["saved"])),
            Column("recall given up", lambda r: percent(r["given_up"])),
            Column("true recall ≥ 0.75", lambda r: percent(r["recall_ok"])),
        ]))  # fmt: skip
    return section("Recall estimates and stopping", *parts)
