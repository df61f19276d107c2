"""A comparison written where people look at it: every round as parquet, the curves as a PNG,
and the summary table, for `seals demo` and `seals compare` alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sealsearch.experiment import RoundCallback, RunConfig, compare, summarize
from sealsearch.plots import plot_curves
from sealsearch.store import Dataset


@dataclass
class ComparisonReport:
    concepts: list[str]
    rounds: pd.DataFrame
    summary: pd.DataFrame
    table_path: Path
    plot_path: Path


def compare_and_report(
    dataset: Dataset,
    out_dir: str | Path,
    concepts: list[str],
    config: RunConfig,
    *,
    strategies: tuple[str, ...] = ("maxent", "mlp"),
    pools: tuple[str, ...] = ("all", "seals"),
    name: str = "compare",
    on_round: RoundCallback | None = None,
) -> ComparisonReport:
    """Run `compare` and write `<name>.parquet` (every round of every run) and `<name>.png`."""
    rounds = compare(dataset, concepts, config, strategies=strategies, pools=pools, on_round=on_round)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = out_dir / f"{name}.parquet"
    rounds.to_parquet(table_path, index=False)
    title = f"{dataset.info.name}: {len(concepts)} concepts, k={config.k}, b={config.batch_size}"
    plot_path = plot_curves(rounds, out_dir / f"{name}.png", title=title)
    return ComparisonReport(concepts, rounds, summarize(rounds), table_path, plot_path)
