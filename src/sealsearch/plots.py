"""Learning curves and latent-structure CDFs as PNGs: people compare strategies faster by eye than from a table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

LINE_STYLES = {"seals": "-", "adaptive": "-.", "all": "--", "randpool": ":"}
PANELS = (
    ("ap", "test AP (active learning)"),
    ("recall", "recall of positives (active search)"),
    ("pool_frac", "candidate pool (% of N)"),
)


def plot_curves(rounds: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Mean over concepts of AP, recall and pool share against labels: one colour per strategy,
    one line style per pool (solid = SEALS, dashed = All, dotted = RandPool), shaded ± one
    standard error across concepts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4), constrained_layout=True)
    colors = {name: f"C{i}" for i, name in enumerate(sorted(rounds["strategy"].unique()))}
    for (strategy, pool), group in rounds.groupby(["strategy", "pool"], sort=True):
        stats = group.groupby("n_labeled")[[p for p, _ in PANELS]].agg(["mean", "sem"])
        for ax, (column, label) in zip(axes, PANELS, strict=True):
            scale = 100 if column == "pool_frac" else 1
            mean = stats[(column, "mean")] * scale
            sem = stats[(column, "sem")].fillna(0) * scale
            style = LINE_STYLES.get(pool, "-.")
            ax.plot(stats.index, mean, style, color=colors[strategy], marker=".", label=f"{strategy}-{pool}")
            ax.fill_between(stats.index, mean - sem, mean + sem, color=colors[strategy], alpha=0.12)
            ax.set_xlabel("labels")
            ax.set_title(label)
            ax.grid(alpha=0.3)
    axes[0].legend()
    if title:
        fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


LATENT_PANELS = (
    ("lc_frac", "size of largest component (% of the concept's positives)"),
    ("mean_path", "average shortest path in largest component"),
)


def plot_latent_cdf(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """CDFs over concepts of the largest-component share and its mean shortest path, one curve per
    k (the paper's Fig. 3): a curve far to the right in the first panel and far to the left in the
    second means most concepts are reachable and quick to explore at that k."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, len(LATENT_PANELS), figsize=(5 * len(LATENT_PANELS), 4), constrained_layout=True)
    for i, (k, group) in enumerate(table.groupby("k", sort=True)):
        for ax, (column, label) in zip(axes, LATENT_PANELS, strict=True):
            values = np.sort(group[column].dropna().to_numpy(dtype=float)) * (100 if column == "lc_frac" else 1)
            if values.size:  # the step starts from 0 at the smallest value, as an empirical CDF does
                cdf = np.arange(values.size + 1) / values.size
                ax.step(np.r_[values[0], values], cdf, where="post", color=f"C{i}", label=f"k={k}")
            ax.set_xlabel(label)
            ax.set_ylabel("fraction of concepts")
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
    axes[0].legend()
    if title:
        fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
