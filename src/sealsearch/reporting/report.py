"""Results written where people look at them; this module only reads results, it never runs
simulations. `write_comparison`: the rounds of `seals compare` / `seals demo` as parquet and their
curves as a PNG. `write_report`: an experiment's RESULTS/ directory turned into the SEALS paper's
figures and a Markdown summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sealsearch._util import atomic_write, write_text_atomic
from sealsearch.active.pools import pools_using_k
from sealsearch.reporting import estimate as estimates
from sealsearch.reporting.plots import plot_ap_scatter, plot_curves, plot_experiment_curves, plot_k_effect, plot_latent
from sealsearch.reporting.results import (
    PRODUCERS,
    ResultsTables,
    ap_pairs,
    k_effect,
    latent_pairs,
    learning_curves,
    load_results,
    summary_table,
)
from sealsearch.reporting.sections import (
    curves_section,
    header_section,
    improvements_section,
    k_section,
    latent_section,
    notes_section,
    scatter_section,
    table_section,
)


def write_comparison(rounds: pd.DataFrame, out_dir: str | Path, name: str, *, title: str) -> tuple[Path, Path]:
    """Write the rounds of a comparison (`experiments.compare.compare`) as `<name>.parquet` and
    their learning curves as `<name>.png` under `out_dir`; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = out_dir / f"{name}.parquet"
    with atomic_write(table_path) as tmp:
        rounds.to_parquet(tmp, index=False)
    return table_path, plot_curves(rounds, out_dir / f"{name}.png", title=title)


FIGURES = {
    "curves": "curves.png",
    "k_effect": "k_effect.png",
    "ap_per_concept": "ap_per_concept.png",
    "latent": "latent.png",
}
"""File names under <out>/figures/; a section that cannot be drawn removes its stale PNG."""


@dataclass
class WrittenReport:
    """What `write_report` wrote, and the table it printed."""

    markdown_path: Path
    figures: list[Path]
    table: pd.DataFrame
    notes: list[str]
    """One line per skipped section: what is missing and how to get it."""


def write_report(results_dir: str | Path, out_dir: str | Path | None = None, *, k: int | None = None) -> WrittenReport:
    """Read RESULTS/ and write `report.md` plus the paper's figures under `figures/` into
    `out_dir` (default: RESULTS itself). `k` picks the SEALS k of the per-concept scatter
    (default: the largest k that was run)."""
    results = load_results(results_dir)
    out = Path(out_dir) if out_dir is not None else results.path
    figure_dir = out / "figures"
    runs = results.runs
    table = summary_table(runs)
    pairs, fits = ap_pairs(runs, k)  # a bad k fails before anything is written
    figures: dict[str, Path] = {}
    notes: list[str] = []
    sections = [header_section(results), table_section(table)]

    reference = _full_supervision_ap(results)
    figures["curves"] = plot_experiment_curves(
        learning_curves(runs), figure_dir / FIGURES["curves"], full_supervision=reference,
        title="mean over concepts; band = ± std across repeats",
    )  # fmt: skip
    sections.append(curves_section(reference))
    if reference is None:
        notes.append(f"no full-supervision line: {results.path / 'full_supervision.parquet'} is missing; "
                     f"{PRODUCERS['full_supervision.parquet']}")  # fmt: skip

    if runs["pool"].isin(pools_using_k()).any():
        effect = k_effect(runs)
        all_rows = table[(table["pool"] == "all") & table["dedup"].isna()]
        figures["k_effect"] = plot_k_effect(effect, all_rows, figure_dir / FIGURES["k_effect"])
        sections.append(k_section(effect))
    else:
        notes.append("no effect-of-k figure: runs.parquet has no seals or adaptive runs")

    if len(fits):
        figures["ap_per_concept"] = plot_ap_scatter(pairs, fits, figure_dir / FIGURES["ap_per_concept"])
        sections.append(scatter_section(fits))
    else:
        notes.append("no per-concept AP scatter: it needs seals and All runs with test AP on the same concepts")

    _latent_figure(results, figure_dir, figures, sections, notes)

    if estimates.has_estimates(runs):
        stops = estimates.stopping_table(runs)
        figures["estimates"] = estimates.plot_estimates(runs, stops, figure_dir / estimates.FIGURE)
        sections.append(estimates.estimate_section(estimates.estimate_accuracy(runs), stops,
                                                   results.settings.get("estimate")))  # fmt: skip
    else:  # drawn only for experiments with --estimate; a stale one would mislead
        (figure_dir / estimates.FIGURE).unlink(missing_ok=True)

    sections.append(improvements_section(table))
    if notes:
        sections.append(notes_section(notes))
    for name, file_name in FIGURES.items():
        if name not in figures:
            (figure_dir / file_name).unlink(missing_ok=True)
    markdown_path = out / "report.md"
    write_text_atomic(markdown_path, "\n\n".join(sections) + "\n")
    return WrittenReport(markdown_path, list(figures.values()), table, notes)


def _full_supervision_ap(results: ResultsTables) -> float | None:
    """The mean AP of full supervision over the concepts that were run (None without that table)."""
    if results.full_supervision is None:
        return None
    concepts = set(results.runs["concept"].astype(str))
    full = results.full_supervision[results.full_supervision["concept"].astype(str).isin(concepts)]
    return float(full["ap"].mean()) if len(full) else None


def _latent_figure(
    results: ResultsTables, figure_dir: Path, figures: dict[str, Path], sections: list[str], notes: list[str]
) -> None:
    """The latent-structure figure and section, or the note saying which table it lacks."""
    if results.latent is None:
        notes.append(f"no latent-structure figure: {results.path / 'latent.parquet'} is missing; "
                     f"{PRODUCERS['latent.parquet']}")  # fmt: skip
    elif len(latent := latent_pairs(results.runs, results.latent)):
        figures["latent"] = plot_latent(latent, figure_dir / FIGURES["latent"])
        sections.append(latent_section())
    else:
        latent_ks = sorted(int(value) for value in results.latent["k"].unique())
        notes.append(f"no latent-structure figure: latent.parquet has k in {latent_ks}, "
                     f"no seals run with test AP shares a concept and k with it")  # fmt: skip
