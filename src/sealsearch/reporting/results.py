"""An experiment's results directory read back and reduced to the numbers of the SEALS paper.

`seals experiment` writes RESULTS/runs.parquet (one row per round per run). Every figure and table
of the report is a small function of that frame here, returning plain DataFrames, so the report,
the plots and a notebook share one definition of "final mAP" or "speed-up".

A *method* is one variant of the candidate pool: `All`, `randpool`, `SEALS k=20`, `adaptive k=20`,
each optionally `+dedup 0.95`. Numbers are averaged over concepts within a repeat first, then
summarised across repeats (the paper's mean ± std over 5 runs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch.active.pools import POOLS, pools_using_k
from sealsearch.active.strategies import STRATEGIES
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError
from sealsearch.experiments.simulate import NUMERIC_ROUND_COLUMNS, ROUND_COLUMNS, with_knn_column

RUN_KEYS = ["concept", "strategy", "pool", "k", "seed_pos", "dedup", "repeat"]
"""A run is one (concept, strategy, pool variant, repeat); these columns identify it."""
TIME_COLUMNS = ["t_select", "t_knn", "t_train"]
CURVE_METRICS = ["ap", "recall", "pool_frac"]
FIT_COLUMNS = ["strategy", "k", "concepts", "pearson", "slope", "intercept"]
POOL_ORDER = {name: i for i, name in enumerate(POOLS)}
STRATEGY_ORDER = {name: i for i, name in enumerate(STRATEGIES)}
PRODUCERS = {
    "runs.parquet": "`seals experiment DATASET --out RESULTS` writes it",
    "full_supervision.parquet": "`seals experiment` writes it when it trains on every pool label",
    "latent.parquet": "`seals analyze` writes it",
}


@dataclass
class ResultsTables:
    """The inputs of a report: every round of every run (annotated with `method`, `family`,
    `baseline` and a `run` id) plus the optional reference tables (None when absent)."""

    path: Path
    runs: pd.DataFrame
    settings: dict
    full_supervision: pd.DataFrame | None
    latent: pd.DataFrame | None


def read_table(path: Path, columns: list[str], numeric: list[str], *, runs: bool = False) -> pd.DataFrame:
    """A parquet file with the columns the contract promises, or a one-line error naming the
    file, what is wrong and what produces it. A run table (`runs`) written before the `knn`
    column existed gets one ("unrecorded"), so older results stay readable."""
    producer = PRODUCERS[path.name]
    if not path.is_file():
        raise MissingFileError(f"{path} not found; {producer}")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise InvalidDataError(f"{path}: not a readable parquet file ({reason}); {producer}") from None
    if runs:
        frame = with_knn_column(frame)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidDataError(f"{path}: missing columns {missing}; {producer}")
    if frame.empty:
        raise InvalidDataError(f"{path}: has no rows; {producer}")
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(frame[column]) and not frame[column].isna().all():
            raise InvalidDataError(f"{path}: column {column!r} must be numeric, got {frame[column].dtype}; {producer}")
    return frame[columns].reset_index(drop=True)


def load_results(path: str | Path) -> ResultsTables:
    """Read RESULTS/: runs.parquet is required; experiment.json, full_supervision.parquet and
    latent.parquet are used when present."""
    path = Path(path)
    if not path.is_dir():
        raise MissingFileError(f"results directory {path} not found; {PRODUCERS['runs.parquet']}")
    numeric_runs = ["k", "seed_pos", "dedup", "repeat", *NUMERIC_ROUND_COLUMNS]
    runs = annotate(read_table(path / "runs.parquet", RUN_KEYS + ROUND_COLUMNS, numeric_runs, runs=True))
    settings: dict = {}
    if (path / "experiment.json").is_file():
        try:
            settings = json.loads((path / "experiment.json").read_text())
        except (OSError, ValueError) as exc:
            raise InvalidDataError(f"{path / 'experiment.json'}: not valid JSON ({exc})") from None
        if not isinstance(settings, dict):
            raise InvalidDataError(f"{path / 'experiment.json'}: must hold a JSON object of settings")
    optional = {
        "full_supervision.parquet": (["concept", "ap"], ["ap"]),
        "latent.parquet": (
            ["concept", "k", "n_positive", "lc_size", "lc_frac", "mean_path"],
            ["k", "n_positive", "lc_size", "lc_frac", "mean_path"],
        ),
    }
    tables = {
        name: read_table(path / name, columns, numeric) if (path / name).is_file() else None
        for name, (columns, numeric) in optional.items()
    }
    return ResultsTables(path, runs, settings, tables["full_supervision.parquet"], tables["latent.parquet"])


def method_label(pool: str, k: int | None, dedup: float, seed_pos: int | None = None) -> str:
    """`SEALS k=20 +dedup 0.95`; k=None gives the family (the label without k). The seed size
    is named only when an experiment varied it."""
    label = POOLS[pool].label if pool in POOLS else pool
    if pool in pools_using_k() and k is not None:
        label += f" k={k}"
    if not np.isnan(dedup):
        label += f" +dedup {dedup:g}"
    if seed_pos is not None:
        label += f" ({seed_pos} pos)"
    return label


def annotate(runs: pd.DataFrame) -> pd.DataFrame:
    """Add `method` and `strategy` as ordered categoricals (tables and legends sort the same
    way everywhere), `family` (method without k), `baseline` (the All method a variant is
    compared with: same seed size, no dedup) and an integer `run` id."""
    runs = runs.copy()
    has_k = runs["pool"].isin(pools_using_k())
    if runs.loc[has_k, "k"].isna().any():
        raise InvalidDataError("runs.parquet: seals/adaptive runs with no k; `seals experiment` writes k for them")
    runs["k"] = runs["k"].fillna(0).astype(np.int64)  # k means nothing for All and randpool
    runs["dedup"] = runs["dedup"].astype(float)
    runs["pool"] = runs["pool"].astype(str)
    runs["strategy"] = runs["strategy"].astype(str)
    name_seeds = runs["seed_pos"].nunique() > 1
    variants = runs[["pool", "k", "dedup", "seed_pos"]].drop_duplicates().reset_index(drop=True)
    seeds = [int(s) if name_seeds else None for s in variants["seed_pos"]]
    rows = list(zip(variants["pool"], variants["k"], variants["dedup"], seeds, strict=True))
    variants["method"] = [method_label(p, int(k), d, s) for p, k, d, s in rows]
    variants["family"] = [method_label(p, None, d, s) for p, _, d, s in rows]
    variants["baseline"] = [method_label("all", None, np.nan, s) for *_, s in rows]
    order = variants.assign(rank=variants["pool"].map(POOL_ORDER).fillna(len(POOL_ORDER)))
    order = order.assign(dedup_key=order["dedup"].fillna(-1.0))
    order = order.sort_values(["seed_pos", "rank", "pool", "k", "dedup_key"])
    runs = runs.merge(variants, on=["pool", "k", "dedup", "seed_pos"], how="left")
    runs["method"] = pd.Categorical(runs["method"], categories=order["method"].unique(), ordered=True)
    strategies = sorted(runs["strategy"].unique(), key=lambda s: (STRATEGY_ORDER.get(s, len(STRATEGY_ORDER)), s))
    runs["strategy"] = pd.Categorical(runs["strategy"], categories=strategies, ordered=True)
    runs["run"] = runs.groupby(RUN_KEYS, dropna=False, observed=True).ngroup()
    return runs


def final_rounds(runs: pd.DataFrame) -> pd.DataFrame:
    """The last round of each run, with the run's summed seconds per part (`t_total` their sum)
    and positives found per label spent."""
    last = runs.loc[runs.groupby("run")["round"].idxmax()]
    totals = runs.groupby("run")[TIME_COLUMNS].sum()
    last = last.drop(columns=TIME_COLUMNS).join(totals, on="run")
    last["t_total"] = last[TIME_COLUMNS].sum(axis=1)
    last["pos_per_label"] = last["n_positive"] / last["n_labeled"]
    return last.reset_index(drop=True)


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2 per strategy × method: final mAP, recall, pool share and positives
    per label, seconds per run split into selection / kNN / training (means over concepts and
    repeats), the std across repeats of mAP and recall, and the speed-up over All of the same
    strategy (All's total seconds / this method's). `runs` may be raw (`runs.parquet`, the frame
    of `compare`) or already `annotate`d."""
    if "run" not in runs.columns:
        runs = annotate(runs)
    final = final_rounds(runs)
    keys = ["strategy", "method"]
    metrics = ["n_labeled", "ap", "recall", "pool_frac", "pos_per_label", "t_total", *TIME_COLUMNS]
    table = final.groupby(keys, observed=True).agg(
        runs=("run", "size"), concepts=("concept", "nunique"), repeats=("repeat", "nunique"),
        pool=("pool", "first"), k=("k", "first"), dedup=("dedup", "first"), seed_pos=("seed_pos", "first"),
        family=("family", "first"), baseline=("baseline", "first"),
        **{m: (m, "mean") for m in metrics},
    )  # fmt: skip
    per_repeat = final.groupby([*keys, "repeat"], observed=True)[["ap", "recall"]].mean()
    spread = per_repeat.groupby(level=keys, observed=True).std().add_suffix("_std")
    table = table.join(spread).reset_index()
    strategy = table["strategy"].astype(str)
    seconds = dict(zip(zip(strategy, table["method"].astype(str), strict=True), table["t_total"], strict=True))
    baseline = [seconds.get(key, np.nan) for key in zip(strategy, table["baseline"], strict=True)]
    table["speedup"] = np.asarray(baseline) / table["t_total"].to_numpy()
    return table


def learning_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """mAP, recall and pool share against labels: the concept mean within each repeat, then
    `<metric>_mean` and `<metric>_std` across repeats (Figure 1)."""
    keys = ["strategy", "method", "n_labeled"]
    per_repeat = runs.groupby([*keys, "repeat"], observed=True)[CURVE_METRICS].mean()
    stats = per_repeat.groupby(level=keys, observed=True).agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    return stats.reset_index()


def k_effect(runs: pd.DataFrame) -> pd.DataFrame:
    """Final mAP, recall and pool share against k for every family with k (SEALS, adaptive,
    their dedup variants): mean and std across repeats of the concept means (Figures 6/7)."""
    final = final_rounds(runs[runs["pool"].isin(pools_using_k())])
    keys = ["strategy", "family", "k"]
    per_repeat = final.groupby([*keys, "repeat"], observed=True)[CURVE_METRICS].mean()
    stats = per_repeat.groupby(level=keys, observed=True).agg(["mean", "std"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    return stats.reset_index()


def ap_pairs(runs: pd.DataFrame, k: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-concept final AP (mean over repeats) of SEALS at k (default: the largest k run)
    against All with the same seed size, both without dedup (Figure 10). Returns the pairs
    (strategy, concept, ap_all, ap_seals) and per strategy the Pearson ρ and least-squares
    fit `ap_seals ≈ slope · ap_all + intercept`."""
    available = sorted(runs.loc[runs["pool"] == "seals", "k"].unique().tolist())
    if k is None and not available:
        return pd.DataFrame(columns=["strategy", "concept", "ap_all", "ap_seals"]), pd.DataFrame(columns=FIT_COLUMNS)
    k = available[-1] if k is None else k
    if k not in available:
        raise InvalidParameterError(f"k {k}: runs.parquet has seals runs only for k in {available}", params=["k"])
    final = final_rounds(runs[runs["dedup"].isna()])
    keys = ["strategy", "seed_pos", "concept"]
    seals = final[(final["pool"] == "seals") & (final["k"] == k)].groupby(keys, observed=True)["ap"].mean()
    baseline = final[final["pool"] == "all"].groupby(keys, observed=True)["ap"].mean()
    pairs = pd.concat({"ap_all": baseline, "ap_seals": seals}, axis=1, join="inner").dropna().reset_index()
    pairs = pairs.drop(columns="seed_pos")
    fits = [{"strategy": s, "k": k, **fit_line(g["ap_all"], g["ap_seals"])} for s, g in pairs.groupby("strategy")]
    return pairs, pd.DataFrame(fits, columns=FIT_COLUMNS)


def fit_line(x: pd.Series, y: pd.Series) -> dict:
    """Pearson ρ and the least-squares line of y on x; NaN where they are undefined (fewer than
    two concepts, or a constant axis)."""
    x, y = x.to_numpy(float), y.to_numpy(float)
    result = {"concepts": x.size, "pearson": np.nan, "slope": np.nan, "intercept": np.nan}
    if x.size >= 2 and np.ptp(x) > 0:
        result["slope"], result["intercept"] = np.polyfit(x, y, 1)
        if np.ptp(y) > 0:
            result["pearson"] = float(np.corrcoef(x, y)[0, 1])
    return result


def latent_pairs(runs: pd.DataFrame, latent: pd.DataFrame) -> pd.DataFrame:
    """Per-concept final SEALS AP (no dedup, mean over repeats) beside the concept's kNN-graph
    structure at the same k: largest-component fraction and mean shortest path (Figure 11)."""
    final = final_rounds(runs[(runs["pool"] == "seals") & runs["dedup"].isna()])
    ap = final.groupby(["strategy", "concept", "k"], observed=True)["ap"].mean().rename("ap_seals").reset_index()
    latent = latent.assign(concept=latent["concept"].astype(str), k=latent["k"].astype(np.int64))
    ap["concept"] = ap["concept"].astype(str)
    return ap.merge(latent, on=["concept", "k"], how="inner").dropna(subset=["ap_seals"])


def adaptive_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Each adaptive method beside SEALS at its starting k and at the largest fixed k (same
    strategy, seed size and dedup), with `d_ap` / `d_recall` = adaptive − that row."""
    rows = []
    for _, new in table[table["pool"] == "adaptive"].iterrows():
        peers = table[same_setting(table, new) & (table["pool"] == "seals")]
        same_k = peers[peers["k"] == new["k"]]
        largest = peers[peers["k"] == peers["k"].max()]
        rows.append({**new.to_dict(), "role": "adaptive"})
        for role, peer in (("same starting k", same_k), ("largest fixed k", largest)):
            for _, ref in peer.iterrows():
                rows.append({**ref.to_dict(), "role": role, **deltas(new, ref, ["ap", "recall", "pool_frac"])})
    return pd.DataFrame(rows)


def dedup_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Each dedup method after its twin without dedup (same strategy, pool, k, seed size), with
    `d_pos_per_label` / `d_ap` = dedup − twin on the dedup row."""
    rows = []
    for _, new in table[table["dedup"].notna()].iterrows():
        same_k = (table["k"] == new["k"]) | (new["pool"] not in pools_using_k())
        twin = table[
            (table["strategy"] == new["strategy"]) & (table["pool"] == new["pool"]) & same_k
            & (table["seed_pos"] == new["seed_pos"]) & table["dedup"].isna()
        ]  # fmt: skip
        for _, ref in twin.iterrows():
            rows.append(ref.to_dict())
            rows.append({**new.to_dict(), **deltas(new, ref, ["pos_per_label", "ap", "recall"])})
    return pd.DataFrame(rows)


def same_setting(table: pd.DataFrame, row: pd.Series) -> pd.Series:
    dedup = table["dedup"].isna() if np.isnan(row["dedup"]) else table["dedup"] == row["dedup"]
    return (table["strategy"] == row["strategy"]) & (table["seed_pos"] == row["seed_pos"]) & dedup


def deltas(new: pd.Series, ref: pd.Series, metrics: list[str]) -> dict:
    return {f"d_{m}": new[m] - ref[m] for m in metrics}
