"""Learning curves and the SEALS paper's figures as PNGs: people compare strategies faster by eye
than from a table. Functions take the DataFrames of `sealsearch.reporting.results` and only draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import atomic_write
from sealsearch.active.pools import POOLS

LINE_STYLES = {name: pool.line_style for name, pool in POOLS.items()}
PANELS = (
    ("ap", "test AP (active learning)"),
    ("recall", "recall of positives (active search)"),
    ("pool_frac", "candidate pool (% of N)"),
)


def plot_curves(rounds: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Mean over concepts of AP, recall and pool share against labels: one colour per strategy,
    one line style per pool (solid = SEALS, dashed = All, dotted = RandPool), shaded ± one
    standard error across concepts."""
    plt = _pyplot()
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
    return _save(fig, path, title)


METRIC_AXES = (
    ("ap", "mAP (test split)", 1),
    ("recall", "recall of positives (%)", 100),
    ("pool_frac", "candidate pool (% of pool split)", 100),
)
"""Rows of the paper's Figure 1: (column, axis label, scale). The pool share is drawn on a log
axis: SEALS pools are 0.1–10% of the pool split, All is 100%."""


def _pyplot():
    """pyplot on the file-only backend: reports are written on headless machines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, title: str = "") -> Path:
    path = Path(path)
    if title:
        fig.suptitle(title)
    _write_png(fig, path)
    _pyplot().close(fig)
    return path


def _write_png(fig, path: Path) -> None:
    """Save atomically (a failed write leaves the old file or none, never half a PNG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


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
    _write_png(fig, path)
    plt.close(fig)
    return path


def _method_colors(methods: pd.Series) -> dict[str, str]:
    """One colour per method, stable across figures (the categorical order, not appearance)."""
    names = methods.cat.categories if hasattr(methods, "cat") else sorted(methods.unique())
    palette = "tab10" if len(names) <= 10 else "tab20"
    cmap = _pyplot().get_cmap(palette)
    return {str(name): cmap(i % cmap.N) for i, name in enumerate(names)}


def plot_experiment_curves(
    curves: pd.DataFrame, path: str | Path, *, full_supervision: float | None = None, title: str = ""
) -> Path:
    """Figure 1 of the paper: one column per strategy, rows mAP / recall / pool share against
    labels, one line per method with a ± std band across repeats; full supervision dashed."""
    plt = _pyplot()
    fig, axes, strategies = _metric_grid(plt, curves)
    colors = _method_colors(curves["method"])
    for col, strategy in enumerate(strategies):
        for method, group in curves[curves["strategy"] == strategy].groupby("method", observed=True):
            for row, (metric, _, scale) in enumerate(METRIC_AXES):
                mean, std = group[f"{metric}_mean"] * scale, group[f"{metric}_std"].fillna(0) * scale
                ax = axes[row, col]
                ax.plot(group["n_labeled"], mean, color=colors[str(method)], marker=".", label=str(method))
                ax.fill_between(group["n_labeled"], mean - std, mean + std, color=colors[str(method)], alpha=0.15)
        if full_supervision is not None and np.isfinite(full_supervision):
            axes[0, col].axhline(full_supervision, color="black", ls="--", lw=1, label="full supervision")
        axes[0, col].set_title(strategy)
        axes[-1, col].set_xlabel("labels")
    for row, (_, label, _) in enumerate(METRIC_AXES):
        axes[row, 0].set_ylabel(label)
    _finish_grid(fig, axes)
    return _save(fig, path, title)


def _metric_grid(plt, frame: pd.DataFrame):
    """A metrics × strategies grid of panels (rows mAP / recall / pool share), strategies in their
    categorical order; returns the figure, the axes and the strategies of the columns."""
    strategies = [s for s in frame["strategy"].cat.categories if s in set(frame["strategy"])]
    fig, axes = plt.subplots(
        len(METRIC_AXES), len(strategies), figsize=(4.2 * len(strategies), 3.2 * len(METRIC_AXES)),
        squeeze=False, sharex=True, sharey="row", constrained_layout=True,
    )  # fmt: skip
    return fig, axes, strategies


def _finish_grid(fig, axes) -> None:
    """Shared by the metric grids: log pool axis, grid lines, one legend below all panels."""
    from matplotlib.ticker import FuncFormatter

    for ax in axes[-1]:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    # Panels may show different methods (e.g. dedup runs for some strategies only): merge them all.
    legend: dict[str, object] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(
        list(legend.values()), list(legend), loc="outside lower center", ncols=min(len(legend), 2 * axes.shape[1])
    )


def plot_k_effect(effect: pd.DataFrame, reference: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Figures 6/7 of the paper as final values against k: one column per strategy, rows mAP /
    recall / pool share, one line per family (SEALS, adaptive, dedup variants) with ± std error
    bars across repeats, and the All method of the strategy as a horizontal line."""
    plt = _pyplot()
    fig, axes, strategies = _metric_grid(plt, effect)
    families = sorted(effect["family"].unique())
    for col, strategy in enumerate(strategies):
        for i, family in enumerate(families):
            group = effect[(effect["strategy"] == strategy) & (effect["family"] == family)].sort_values("k")
            for row, (metric, _, scale) in enumerate(METRIC_AXES):
                axes[row, col].errorbar(
                    group["k"], group[f"{metric}_mean"] * scale, yerr=group[f"{metric}_std"].fillna(0) * scale,
                    color=f"C{i}", marker="o", capsize=3, label=family,
                )  # fmt: skip
        for _, ref in reference[reference["strategy"] == strategy].iterrows():
            for row, (metric, _, scale) in enumerate(METRIC_AXES):
                axes[row, col].axhline(ref[metric] * scale, color="black", ls="--", lw=1, label=str(ref["method"]))
        axes[0, col].set_title(strategy)
        axes[-1, col].set_xlabel("k (neighbours per labeled item)")
    ks = sorted(effect["k"].unique())
    axes[-1, 0].set_xscale("log")
    axes[-1, 0].set_xticks(ks, labels=[str(k) for k in ks], minor=False)
    axes[-1, 0].set_xticks([], minor=True)
    for row, (_, label, _) in enumerate(METRIC_AXES):
        axes[row, 0].set_ylabel(f"final {label}")
    _finish_grid(fig, axes)
    return _save(fig, path, title)


def plot_ap_scatter(pairs: pd.DataFrame, fits: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Figure 10 of the paper: per-concept final AP of SEALS against All, one panel per strategy,
    with y = x dotted, the least-squares line, and Pearson ρ in the panel title."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(fits), figsize=(4 * len(fits), 4), squeeze=False, constrained_layout=True)
    for ax, (_, fit) in zip(axes[0], fits.iterrows(), strict=True):
        group = pairs[pairs["strategy"] == fit["strategy"]]
        ax.scatter(group["ap_all"], group["ap_seals"], s=14, alpha=0.7)
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="y = x")
        if np.isfinite(fit["slope"]):
            ax.plot([0, 1], [fit["intercept"], fit["slope"] + fit["intercept"]], color="C3", lw=1,
                    label=f"fit: {fit['slope']:.2f}x {fit['intercept']:+.2f}")  # fmt: skip
        ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel="AP (All)", ylabel=f"AP (SEALS k={fit['k']})")
        ax.set_title(f"{fit['strategy']}: ρ = {fit['pearson']:.3f}, {fit['concepts']} concepts")
        ax.legend(loc="upper left", fontsize="small")
        ax.grid(alpha=0.3)
    return _save(fig, path, title)


LATENT_AXES = (("lc_frac", "largest connected component (% of concept)", 100), ("mean_path", "mean shortest path", 1))


def plot_latent(pairs: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Figure 11 of the paper: per-concept final SEALS AP against the concept's largest-component
    share and mean shortest path in the kNN graph; one row per strategy, one colour per k."""
    plt = _pyplot()
    strategies = [s for s in pairs["strategy"].cat.categories if s in set(pairs["strategy"])]
    fig, axes = plt.subplots(
        len(strategies), len(LATENT_AXES), figsize=(4.2 * len(LATENT_AXES), 3.4 * len(strategies)),
        squeeze=False, sharey=True, constrained_layout=True,
    )  # fmt: skip
    ks = sorted(pairs["k"].unique())
    for row, strategy in enumerate(strategies):
        for col, (column, label, scale) in enumerate(LATENT_AXES):
            ax = axes[row, col]
            for i, k in enumerate(ks):
                group = pairs[(pairs["strategy"] == strategy) & (pairs["k"] == k)]
                ax.scatter(group[column] * scale, group["ap_seals"], s=14, alpha=0.7, color=f"C{i}", label=f"k={k}")
            ax.set(xlabel=label, ylabel=f"AP (SEALS), {strategy}" if col == 0 else None, ylim=(0, 1))
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize="small")
    return _save(fig, path, title)
