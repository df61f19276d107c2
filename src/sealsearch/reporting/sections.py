"""The Markdown text of an experiment report: one function per section, numbers formatted for
reading (AP to 3 decimals, shares in %, seconds to 3 significant digits, NaN as a dash)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

import pandas as pd

from sealsearch.reporting.results import ResultsTables, adaptive_comparison, dedup_comparison


class Column(NamedTuple):
    header: str
    cell: Callable[[pd.Series], str]
    align: str = "---:"  # numbers right-aligned, as in the terminal tables


def num(header: str, column: str, show: Callable[[float], str]) -> Column:
    """A numeric column; NaN (no test split, no All baseline) shows as a dash."""
    return Column(header, lambda row: "—" if pd.isna(row[column]) else show(row[column]))


def num_std(
    header: str,
    column: str,
    std_column: str,
    show: Callable[[float], str],
    show_std: Callable[[float], str] | None = None,
) -> Column:
    """`mean ± std`, the std across repeats; the ± part is left out with a single repeat."""
    show_std = show_std or show

    def cell(row: pd.Series) -> str:
        if pd.isna(row[column]):
            return "—"
        mean = show(row[column])
        return mean if pd.isna(row[std_column]) else f"{mean} ± {show_std(row[std_column])}"

    return Column(header, cell)


def txt(header: str, column: str) -> Column:
    return Column(header, lambda row: str(row[column]).replace("|", "\\|"), "---")


def ap(x: float) -> str:
    return f"{x:.3f}"


def percent_std(x: float) -> str:
    return f"{100 * x:.1f}%"


def percent(x: float) -> str:
    """Two decimals below 1%: SEALS pools are often 0.1–1% of the pool split."""
    return f"{100 * x:.1f}%" if abs(x) >= 0.01 or x == 0 else f"{100 * x:.2f}%"


def seconds(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}" if x >= 1 else f"{x:.3f}"


def integer(x: float) -> str:
    return f"{x:,.0f}"


def fmt(pattern: str) -> Callable[[float], str]:
    return pattern.format


def markdown_table(frame: pd.DataFrame, columns: list[Column]) -> str:
    lines = [
        "| " + " | ".join(c.header for c in columns) + " |",
        "|" + "|".join(c.align for c in columns) + "|",
    ]
    lines += ["| " + " | ".join(c.cell(row) for c in columns) + " |" for _, row in frame.iterrows()]
    return "\n".join(lines)


def section(title: str, *parts: str) -> str:
    return "\n\n".join([f"## {title}", *parts])


RESULT_COLUMNS = [
    txt("strategy", "strategy"),
    txt("method", "method"),
    num_std("mAP", "ap", "ap_std", ap),
    num_std("recall", "recall", "recall_std", percent, percent_std),
    num("pool %", "pool_frac", percent),
]


def header_section(results: ResultsTables) -> str:
    runs = results.runs
    census = (
        f"{runs['run'].nunique():,} runs: {runs['concept'].nunique()} concepts × "
        f"{runs['strategy'].nunique()} strategies × {runs['method'].nunique()} methods × "
        f"{runs['repeat'].nunique()} repeats, up to {runs['n_labeled'].max():,} labels per run."
    )
    if results.settings:
        settings = pd.DataFrame({
            "key": list(results.settings),
            "value": [v if isinstance(v, str) else json.dumps(v) for v in results.settings.values()],
        })  # fmt: skip
        listing = markdown_table(settings, [txt("setting", "key"), txt("value", "value")])
    else:
        listing = f"No settings: {results.path / 'experiment.json'} is missing."
    return "\n\n".join([f"# Experiment report: {results.path.resolve().name}", census, listing])


def table_section(table: pd.DataFrame) -> str:
    columns = [
        *RESULT_COLUMNS[:2], num("labels", "n_labeled", integer), *RESULT_COLUMNS[2:],
        num("pos/label", "pos_per_label", fmt("{:.3f}")), num("total s", "t_total", seconds),
        num("select", "t_select", seconds), num("kNN", "t_knn", seconds), num("train", "t_train", seconds),
        num("speed-up", "speedup", fmt("{:.1f}×")),
    ]  # fmt: skip
    return section(
        "Final numbers per strategy and method (Table 2)",
        "At the last round; means over concepts and repeats, ± the std across repeats of the concept "
        "mean. Seconds are per run (selection / kNN / training); speed-up = All's total seconds / "
        "this method's, same strategy.",
        markdown_table(table, columns),
    )


def curves_section(full_supervision: float | None) -> str:
    reference = (
        f"Full supervision (a learner trained on every pool label): mAP {full_supervision:.3f}, the dashed line."
        if full_supervision is not None
        else "No full-supervision reference line (full_supervision.parquet is missing)."
    )
    return section("Learning curves (Figure 1)", "![learning curves](figures/curves.png)", reference)


def k_section(effect: pd.DataFrame) -> str:
    columns = [
        txt("strategy", "strategy"), txt("family", "family"), num("k", "k", integer),
        num_std("mAP", "ap_mean", "ap_std", ap), num_std("recall", "recall_mean", "recall_std", percent, percent_std),
        num("pool %", "pool_frac_mean", percent),
    ]  # fmt: skip
    return section(
        "Effect of k (Figures 6/7)",
        "![effect of k](figures/k_effect.png)",
        "Final values against k, dashed lines are All: how much of the gap to All a larger k closes, "
        "and what it costs in pool size (the pool axis is logarithmic).",
        markdown_table(effect, columns),
    )


def scatter_section(fits: pd.DataFrame) -> str:
    columns = [
        txt("strategy", "strategy"), num("SEALS k", "k", integer), num("concepts", "concepts", integer),
        num("Pearson ρ", "pearson", fmt("{:.4f}")), num("slope", "slope", fmt("{:.3f}")),
        num("intercept", "intercept", fmt("{:+.3f}")),
    ]  # fmt: skip
    return section(
        "Per-concept AP, SEALS vs All (Figure 10)",
        "![per-concept AP](figures/ap_per_concept.png)",
        "Final AP per concept (mean over repeats). A point on y = x: SEALS lost nothing on that concept; "
        "ρ and slope near 1: restricting the pool costs every concept alike.",
        markdown_table(fits, columns),
    )


def latent_section() -> str:
    return section(
        "Latent structure of the concepts (Figure 11)",
        "![latent structure](figures/latent.png)",
        "Final SEALS AP per concept against the concept's kNN graph at the same k: the share of its "
        "positives in the largest connected component (how much of the concept SEALS can reach) and "
        "the mean shortest path inside it (how long reaching takes).",
    )


def improvements_section(table: pd.DataFrame) -> str:
    parts = []
    adaptive = adaptive_comparison(table)
    if len(adaptive):
        columns = [
            *RESULT_COLUMNS, txt("compared as", "role"), num("Δ mAP", "d_ap", fmt("{:+.3f}")),
            num("Δ recall", "d_recall", lambda x: f"{100 * x:+.1f} pts"),
        ]  # fmt: skip
        parts += [
            "### Adaptive k",
            "Each adaptive method beside SEALS at its starting k and at the largest fixed k "
            "(Δ = adaptive − that row: positive means adaptive did better).",
            markdown_table(adaptive, columns),
        ]
    dedup = dedup_comparison(table)
    if len(dedup):
        columns = [
            *RESULT_COLUMNS, num("pos/label", "pos_per_label", fmt("{:.3f}")),
            num("Δ pos/label", "d_pos_per_label", fmt("{:+.3f}")), num("Δ mAP", "d_ap", fmt("{:+.3f}")),
        ]  # fmt: skip
        parts += [
            "### Near-duplicate removal",
            "Positives found per label spent, at the end, with and without dedup (Δ = dedup − without).",
            markdown_table(dedup, columns),
        ]
    if not parts:
        parts = ["runs.parquet has no adaptive or dedup runs; `seals experiment` runs them when asked."]
    return section("Improvements over the paper", *parts)


def notes_section(notes: list[str]) -> str:
    return section("Not drawn", "\n".join(f"- {note}" for note in notes))
