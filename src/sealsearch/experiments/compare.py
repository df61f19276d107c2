"""`compare`: every strategy × pool on the same concepts and seed sets, in memory.

It is one repeat of an `ExperimentGrid` (one k, one seed size, one dedup setting) run in this
process and returned as a frame with the columns of `runs.parquet`, so `summary_table` and the
plots read it like an experiment; `run_experiment` is the resumable, on-disk, parallel form. Unlike
the grid, the batch size is free (`base.batch_size`), not tied to the seed size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import pandas as pd

from sealsearch.active.knn import open_or_build_index
from sealsearch.active.pools import pools_using_k
from sealsearch.data.dataset import Dataset
from sealsearch.experiments.grid import RUN_KEYS, ExperimentGrid, cell_key
from sealsearch.experiments.simulate import ROUND_COLUMNS, RoundCallback, RunConfig, run
from sealsearch.index import KnnIndex


def comparison_grid(
    concepts: Iterable[str], base: RunConfig, strategies: Iterable[str], pools: Iterable[str]
) -> ExperimentGrid:
    """The grid `compare` runs: base's k, seed size and dedup, one repeat from base's seed."""
    return ExperimentGrid(
        concepts=list(concepts), strategies=list(strategies), pools=list(pools), ks=[base.k],
        seed_pos=[base.seed_pos], dedup=[base.dedup], repeats=1, budget=base.budget, neg_ratio=base.neg_ratio,
        seed=base.seed, factory=base.factory, knn=base.knn,
    )  # fmt: skip


def compare(
    dataset: Dataset,
    concepts: Iterable[str],
    base: RunConfig,
    *,
    strategies: Iterable[str] = ("maxent", "mlp"),
    pools: Iterable[str] = ("all", "seals"),
    index: KnnIndex | None = None,
    on_round: RoundCallback | None = None,
) -> pd.DataFrame:
    """Every (concept, strategy, pool) from the same seed: the paper's All-vs-SEALS protocol.

    Returns the round rows of all runs stacked, RUN_KEYS then ROUND_COLUMNS (as `runs.parquet`).
    The index (opened or built from `base.factory` unless given) is shared by every concept.
    """
    grid = comparison_grid(concepts, base, strategies, pools)
    base.validate()
    grid.validate()
    for concept in grid.concepts:
        dataset.concept_rows(concept)  # an unknown concept fails before any work
    if index is None and pools_using_k().intersection(grid.pools):
        index = open_or_build_index(dataset, base.factory)
    tables = []
    for cell in grid.configs():
        config = replace(base, concept=cell.concept, strategy=cell.strategy, pool=cell.pool, repeat=0)
        rounds = run(dataset, config, index=index, on_round=on_round).rounds
        tables.append(rounds.assign(**dict(zip(RUN_KEYS, cell_key(config), strict=True))))
    return pd.concat(tables, ignore_index=True)[RUN_KEYS + ROUND_COLUMNS]
