"""Learning curves as a PNG: people compare strategies faster by eye than from a table."""

from __future__ import annotations

from pathlib import Path

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
