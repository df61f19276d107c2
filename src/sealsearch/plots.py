"""Learning curves as a PNG: people compare strategies faster by eye than from a table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PANELS = (("ap", "test AP (active learning)"), ("recall", "recall of positives (active search)"), ("pool_frac", "candidate pool (% of N)"))


def plot_curves(rounds: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Mean over concepts of AP, recall and pool share against labels, one line per strategy × pool
    (solid = SEALS, dashed = the other pools), shaded ± one standard error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4), constrained_layout=True)
    groups = rounds.groupby(["strategy", "pool"], sort=True)
    for (strategy, pool), group in groups:
        stats = group.groupby("n_labeled")[[p for p, _ in PANELS]].agg(["mean", "sem"])
        for ax, (column, label) in zip(axes, PANELS, strict=True):
            scale = 100 if column == "pool_frac" else 1
            mean = stats[(column, "mean")] * scale
            sem = stats[(column, "sem")].fillna(0) * scale
            line = ax.plot(stats.index, mean, "-" if pool == "seals" else "--", marker=".", label=f"{strategy}-{pool}")[0]
            ax.fill_between(stats.index, mean - sem, mean + sem, color=line.get_color(), alpha=0.15)
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
