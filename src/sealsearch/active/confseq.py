"""A confidence sequence for a fixed mean from bounded, conditionally unbiased draws (betting).

Why: a person looks at the recall estimate after every round, and a fixed-sample interval checked
every round loses its level (and a normal interval under-covers from the start, Webber 2012). A
confidence sequence holds at every look at once. This is the predictable plug-in betting
construction of Waudby-Smith & Ramdas (2020, "Estimating means of bounded random variables by
betting"), written in vectorised numpy over a grid of candidate values:

- each draw j gives z_j with E[z_j | everything before it] = μ (the same μ for every j) and a
  range [a_j, b_j] known before the draw (it may change from draw to draw);
- for each candidate m, two wealth processes bet on z_j − m with predictable stakes λ_j:
  K⁺(m) = Π (1 + λ_j⁺ (z_j − m)) grows when μ > m and K⁻(m) = Π (1 − λ_j⁻ (z_j − m)) when μ < m;
  stakes are capped so a factor never goes negative (λ⁺ ≤ c / (m − a_j), λ⁻ ≤ c / (b_j − m));
- under μ = m both are non-negative martingales, so by Ville's inequality the chance that either
  ever reaches 2/α is at most α: the candidates whose wealth has never reached 2/α form a
  confidence sequence, valid at every draw count, whatever the stopping time.

The price of validity without assumptions: an upper bound on μ needs the upper range b_j, so
a heavy right tail (a rare item drawn with a tiny probability) keeps the upper end wide until
the draws rule it out. That is the point, not a flaw: nothing short of enough draws can.
"""

from __future__ import annotations

import numpy as np

STAKE_CAP = 0.5
"""c above: at most half the wealth bet on one draw (Waudby-Smith & Ramdas use 1/2 or 3/4)."""
GRID_CELLS = 1 << 20
"""Draws × grid values computed in one pass (~8 MB per array): thousands of audit draws over a
pool of 10^7 stay within memory."""


def _stakes(z: np.ndarray, prior_var: float, alpha: float) -> np.ndarray:
    """λ_j = sqrt(2 log(2/α) / (σ̂²_{j−1} · j · log(1 + j))), with σ̂² a running variance whose
    prior is `prior_var` (weight one draw): predictable, each uses only the draws before it."""
    n = z.size
    t = np.arange(1, n + 1, dtype=np.float64)
    mean_before = np.concatenate([[z[0] if n else 0.0], np.cumsum(z)[:-1] / t[:-1]]) if n else z
    dev2 = (z - mean_before) ** 2
    var_before = (prior_var + np.concatenate([[0.0], np.cumsum(dev2)[:-1]])) / t
    var_before = np.maximum(var_before, 1e-12)
    return np.sqrt(2 * np.log(2 / alpha) / (var_before * t * np.log1p(t)))


def betting_interval(
    z: np.ndarray, a: np.ndarray, b: np.ndarray, grid: np.ndarray, *, alpha: float, prior_var: float,
    z_high: np.ndarray | None = None,
) -> tuple[float, float]:  # fmt: skip
    """(lowest, highest) grid value not yet rejected at level α by the draws z (ranges [a, b]).

    `z_high` (≥ z, at most b) is for draws only known to lie in [z, z_high] (a part of the term
    not labeled yet): K⁺ bets with z and K⁻ with z_high, the side each must not overstate, so
    the sequence stays valid and only widens.

    The grid must be sorted and hold the true mean's neighbourhood; the ends are widened by one
    grid step so a mean falling between two grid values is never cut off. The sup over every
    prefix is taken, so the answer is the running intersection of the sequence (it never widens
    as draws accumulate). With no draws the whole grid is returned.
    """
    z, a, b = (np.asarray(v, dtype=np.float64) for v in (z, a, b))
    z_high = z if z_high is None else np.asarray(z_high, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    if z.size == 0 or grid.size == 0:
        return (float(grid[0]), float(grid[-1])) if grid.size else (np.nan, np.nan)
    lam = _stakes(z, prior_var, alpha)
    block = max(1, GRID_CELLS // z.size)  # grid values per pass: memory stays ~GRID_CELLS floats per array
    wealth = [_max_log_wealth(z, z_high, a, b, lam, grid[i : i + block]) for i in range(0, grid.size, block)]
    log_up, log_down = (np.concatenate(parts) for parts in zip(*wealth, strict=True))
    threshold = np.log(2 / alpha)
    kept = np.flatnonzero((log_up < threshold) & (log_down < threshold))
    if kept.size == 0:  # every candidate rejected: only possible with probability ≤ α; stay honest
        return float(grid[0]), float(grid[-1])
    lo, hi = max(int(kept[0]) - 1, 0), min(int(kept[-1]) + 1, grid.size - 1)
    return float(grid[lo]), float(grid[hi])


def _max_log_wealth(
    z: np.ndarray, z_high: np.ndarray, a: np.ndarray, b: np.ndarray, lam: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate m: the largest log wealth over every prefix of the draws, for K⁺ and K⁻."""
    m = grid[None, :]
    below = np.maximum(m - a[:, None], 1e-12)  # how far m sits above the lowest possible draw
    above = np.maximum(b[:, None] - m, 1e-12)
    up = np.minimum(lam[:, None], STAKE_CAP / below)  # K⁺: z above m is evidence μ > m
    down = np.minimum(lam[:, None], STAKE_CAP / above)  # K⁻: z below m is evidence μ < m
    log_up = np.cumsum(np.log1p(np.maximum(up * (z[:, None] - m), -1 + 1e-12)), axis=0).max(axis=0)
    log_down = np.cumsum(np.log1p(np.maximum(-down * (z_high[:, None] - m), -1 + 1e-12)), axis=0).max(axis=0)
    return log_up, log_down


def count_grid(low: float, high: float, *, step: float = 0.01, exact: int = 2000) -> np.ndarray:
    """Candidate counts from `low` to `high` (both kept): every integer for the first `exact`,
    then geometric steps of `step` (1%), so a pool of 10^7 needs a few thousand points, not 10^7."""
    low, high = float(low), float(max(high, low))
    first = np.arange(low, min(high, low + exact) + 1, dtype=np.float64)
    parts = [first[first <= high], [high]]
    start = max(first[-1], 1.0)
    if start < high:
        steps = int(np.ceil(np.log(high / start) / np.log1p(step)))
        parts.insert(1, np.minimum(start * (1 + step) ** np.arange(1, steps + 1), high))
    return np.unique(np.concatenate(parts))
