"""Fused scoring: a linear learner's strategy scores straight from float32 vectors.

Why: the general path asks sklearn for `predict_proba` per block: the float32 block is copied to
float64, multiplied, and a two-column array is built, only for one column to be kept — several
passes over memory where one would do. When the model is linear (`learner.linear_form`: the
default logistic regression, `SGDClassifier` with a probabilistic loss, the cold-start model)
and the strategy declares a fused form (`Strategy.fused`: "entropy", "positive" or "density"),
one float32 product per block gives the decision values z, and the scores are computed from
those (information density also needs each row's dot with the pool mean: a second product,
over the rows that survive pruning only). A strategy whose `fused` is None (a user's scorer,
k-center) keeps the general path: that is its declaration, not a table lookup that missed.

Pruning (`FusedScore.pruned(m)`). A round takes the b best rows, so the scores of the others
need not be computed: entropy is a non-increasing function of |z|, P(positive) a non-decreasing
one of z, and information density is at most entropy × |pool mean| (a row's cosine to the mean
is at most the mean's norm), so all three prune on z alone. Each scanning thread keeps the m
best exact scores it has seen; their least, τ, bounds the m-th best of the whole scan from
below, and a row whose bound (a table of the score over a fine grid of z, with a 1e-9 relative
margin for rounding) is under τ cannot be among the m best (score descending, lower position
first) and gets -inf without a transcendental function being evaluated. The rows that can still
tie or win get their exact score, by the same functions as the full path, so `select_top` over a
pruned scan picks exactly what it picks over the full scan (tested, ties included). The scan
then costs about what reading the rows once costs (bench/fused_profile.py; the measurements
are in bench/RESULTS.md, "Fused scoring pruned to the b best").

The scores are the general path's up to float32 rounding of the products (~1e-6 relative), so
selections agree with it except between candidates whose scores tie to that precision (tested).
With `unit_rows` (a float32 store: rows are unit-norm to ~1e-7 on import) information density
uses the dot with the pool mean as the cosine, as the pool's own running sum does; otherwise
each row's norm is computed too. Any other learner returns None here and keeps the general path.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np
from sklearn.base import BaseEstimator

from sealsearch.active.learner import linear_form
from sealsearch.active.strategies import FusedForm, Strategy, density_scores, maxent, most_likely_positive

_MARGIN = 1e-9
"""Relative slack of every pruning bound: rounding in the scores is ~1e-15, so a row is only
ever pruned when its score is certainly below the threshold."""
_DOT_SLACK = 1e-4
"""Relative slack of `cos(x, mean) <= |mean|` for a float32 dot of unit rows (worst-case
rounding of 256 products: 1.5e-5)."""
_GRID = np.concatenate([-np.geomspace(64.0, 1e-8, 8192), [0.0], np.geomspace(1e-8, 64.0, 8192)])
"""Decision values at which the bounds are tabulated: 0.28% apart, from 1e-8 to 64 each side."""


@functools.cache
def _bound_table(
    link: Callable[[np.ndarray], np.ndarray], formula: FusedForm
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys ascending, the most any row with a key at or above each can score, its negation
    for searchsorted), where the key is |z| for entropy (its score falls with |z|) and -z for
    P(positive) (its score rises with z)."""
    if formula == "positive":
        keys, values = -_GRID[::-1], most_likely_positive(link(_GRID[::-1]), None)
    else:
        keys = _GRID[_GRID >= 0]
        values = np.maximum(maxent(link(keys), None), maxent(link(-keys), None))
    suffix_max = np.maximum.accumulate(values[::-1])[::-1]  # non-increasing even where rounding wiggles
    return keys, suffix_max, -suffix_max


_STEPS = 64
"""Entropy upper bounds per 1/64 of |z| up to 64, read by index (no search): the per-row check."""


@functools.cache
def _entropy_steps(link: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """[i]: the most MaxEnt scores for any |z| >= i / 64 (the last entry for any |z| beyond 64)."""
    keys = np.arange(64 * _STEPS + 1) / _STEPS
    values = np.maximum(maxent(link(keys), None), maxent(link(-keys), None))
    return np.maximum.accumulate(values[::-1])[::-1] * (1 + _MARGIN)


def _key_cutoff(table: tuple[np.ndarray, np.ndarray, np.ndarray], level: float) -> float:
    """A key at and above which every score is below `level` (inf when there is none)."""
    keys, _, rising = table
    i = int(np.searchsorted(rising, -level * (1 - _MARGIN), side="right"))
    return float(keys[i]) if i < keys.size else np.inf


def _outward(bound: float, intercept: float, direction: float) -> np.float32:
    """A float32 beyond `bound` (a decision value minus the intercept) by more than the rounding
    of z32 -> float64 + intercept, so a comparison in float32 never prunes a row it should keep."""
    slack = 1e-12 * (abs(bound) + abs(intercept)) + 1e-30
    return np.nextafter(np.float32(bound + direction * slack), np.float32(direction * np.inf))


class DensityBound(Protocol):
    """Bounds of the densities of a scan's rows: `bound(start, stop)` for its output positions
    [start, stop) (float32), and `most`, at least every one of them."""

    most: float

    def __call__(self, start: int, stop: int) -> np.ndarray: ...


class FusedScore:
    """The strategy's scores of float32 rows under a linear model (a row function, see
    sealsearch.data.scan); `pruned(m)` is the same function for a scan that keeps only the m best.

    z is one BLAS sgemv per block: sklearn's SGDClassifier computes the same product, so its
    probabilities come out bit for bit. In its last bits a row's z depends on which rows share
    its block, so a pruned and a full scan agree because they cut the same blocks. The density
    (ID) is an `einsum` instead, whose value for a row does not depend on the other rows: the
    pruned scan computes it for the surviving rows only, gathered.
    """

    def __init__(self, formula: FusedForm, form, pool_mean: np.ndarray, unit_rows: bool):
        self.formula = formula
        self.weights = np.ascontiguousarray(form.weights, dtype=np.float32)
        self.mean = np.ascontiguousarray(pool_mean, dtype=np.float32)
        self.intercept, self.link = float(form.intercept), form.link
        self.unit_rows = bool(unit_rows)
        self.table = _bound_table(self.link, "positive" if formula == "positive" else "entropy")
        # Cauchy-Schwarz: a row's cosine to the pool mean is at most |mean|, so ID <= entropy x |mean|.
        self.most_density = float(np.linalg.norm(self.mean.astype(np.float64))) * (1 + _DOT_SLACK)
        self.density_mean = self.mean if formula == "density" else None
        """The vector whose cosine a pool may bound per row for `pruned` (ID only)."""

    def z(self, vectors: np.ndarray) -> np.ndarray:
        """Decision values without the intercept (float32), one per row."""
        return vectors @ self.weights

    def density(self, vectors: np.ndarray) -> np.ndarray:
        """Each row's cosine to the pool mean (float64), one `vecdot` per row: as fast as sgemv
        here, and a row's value does not depend on the rows beside it (sgemv's does, in the last
        bits), so it is the same computed over a block or over a few rows gathered from it."""
        density = np.vecdot(vectors, self.mean).astype(np.float64)
        if not self.unit_rows:
            norms = np.sqrt(np.vecdot(vectors, vectors).astype(np.float64))
            density /= np.where(norms > 0, norms, 1.0)
        return density

    def scores(self, z: np.ndarray, vectors: np.ndarray | None, density: np.ndarray | None = None) -> np.ndarray:
        """Scores (float64) of rows with decision values z (and, for ID, these rows' vectors or
        densities): the only place they are computed, pruned or not."""
        proba = self.link(z.astype(np.float64) + self.intercept)
        if self.formula == "entropy":
            return maxent(proba, None)
        if self.formula == "positive":
            return most_likely_positive(proba, None)
        return density_scores(proba, self.density(vectors) if density is None else density)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        return self.scores(self.z(vectors), vectors)

    def subset(self, vectors: np.ndarray, keep: np.ndarray | None, span: tuple[int, int] | None = None) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if keep is None:
            return self(vectors)
        return self.scores(self.z(vectors)[keep], None if self.formula != "density" else vectors[keep])

    def pruned(self, m: int, density_bound: DensityBound | None = None) -> _Pruned:
        """This function for a scan that needs the m best only. `density_bound` (ID): numbers the
        densities of the scan's rows cannot exceed (the All pool keeps them, see
        sealsearch.active.cosines), instead of |pool mean| for every row."""
        return _Pruned(self, m, density_bound)

    def likely_best(self, z: np.ndarray, m: int) -> np.ndarray:
        """Positions of m rows that probably score well (their least exact score starts τ)."""
        key = -z if self.formula == "positive" else np.abs(z + np.float32(self.intercept))
        return np.argpartition(key, m - 1)[:m]

    def z_range(self, tau: float, most_density: float | None = None) -> tuple[np.float32, np.float32] | None:
        """(low, high): only rows with low < z32 < high may score tau or more (for ID, rows whose
        density is at most `most_density`, default |mean|); None: any row may."""
        if not tau > 0:  # every score is >= 0 (ID's may be negative): nothing is certainly out
            return None
        b = self.intercept
        if self.formula == "positive":  # p rises with z: keep z64 above the cutoff on -z
            cut = _key_cutoff(self.table, tau)
            return None if cut == np.inf else (_outward(-cut - b, b, -1.0), np.float32(np.inf))
        level = tau if self.formula == "entropy" else tau / (most_density or self.most_density)
        cut = _key_cutoff(self.table, level)
        return None if cut == np.inf else (_outward(-cut - b, b, -1.0), _outward(cut - b, b, 1.0))

    def most_entropy(self, z: np.ndarray) -> np.ndarray:
        """An upper bound of each row's entropy: the table's value at the 1/64 step at or below |z|."""
        steps = _entropy_steps(self.link)
        at = np.abs(z.astype(np.float64) + self.intercept) * (_STEPS * (1 - 1e-12))
        return steps[np.minimum(at, steps.size - 1).astype(np.int64)]


class _Pruned:
    """A `FusedScore` for one scan that keeps the m best: -inf for rows that cannot be among them.

    Each thread keeps the m best scores it has seen (its τ is their least); τ is shared as the
    largest any thread has reached, which still bounds the scan's m-th best from below. Before
    a thread has m scores, the m likeliest rows of its block are scored first to start τ.
    """

    def __init__(self, fused: FusedScore, m: int, density_bound: DensityBound | None = None):
        self.fused, self.m = fused, max(1, int(m))
        self.density_bound = density_bound if fused.formula == "density" else None
        # The largest bound cuts z for every block at once (cached per τ); each survivor is then
        # checked against its own bound before its vector is read again.
        self._most_density = None if self.density_bound is None else float(self.density_bound.most)
        self._local = threading.local()
        self._tau = -np.inf

    def pruned(self, m: int, density_bound: DensityBound | None = None) -> _Pruned:
        return _Pruned(self.fused, m, density_bound)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        return self.subset(vectors, None)

    def subset(self, vectors: np.ndarray, keep: np.ndarray | None, span: tuple[int, int] | None = None) -> np.ndarray:
        fused, local, m = self.fused, self._local, self.m
        vectors = np.asarray(vectors, dtype=np.float32)
        z = fused.z(vectors)
        if keep is not None:
            z = z[keep]
        bound = None if self.density_bound is None or span is None else self.density_bound(*span)
        density = None
        if fused.formula == "density" and bound is None:  # no bounds kept: every row's density, from the block
            density = fused.density(vectors)
            density = density if keep is None else density[keep]

        def exact(at: np.ndarray | None) -> np.ndarray:  # scores of the kept rows `at` (None: all)
            picked = z if at is None else z[at]
            if fused.formula != "density":
                return fused.scores(picked, None)
            if density is not None:
                return fused.scores(picked, None, density if at is None else density[at])
            if at is None:
                return fused.scores(picked, vectors if keep is None else vectors[keep])
            return fused.scores(picked, vectors[at if keep is None else keep[at]])

        best = getattr(local, "best", None)
        tau = max(self._tau, best[0] if best is not None and best.size >= m else -np.inf)
        if tau == -np.inf and z.size > 8 * m:  # τ from the m best of the 4m likeliest rows
            tau = float(np.partition(exact(fused.likely_best(z, 4 * m)), 3 * m)[3 * m])
        chosen = self._survivors(z, tau, bound, density)
        if chosen is None:
            out = scores = exact(None)
        else:
            out = np.full(z.size, -np.inf)
            if chosen.size == 0:  # most blocks, once τ has settled: nothing else to do
                return out
            scores = out[chosen] = exact(chosen)
        merged = scores if best is None else np.concatenate([best, scores])
        if merged.size > m:
            merged = np.partition(merged, merged.size - m)[merged.size - m :]
        local.best = merged = np.sort(merged)
        if merged.size >= m and merged[0] > self._tau:
            self._tau = float(merged[0])  # a lost race leaves a smaller, still valid bound
        return out

    def _survivors(
        self, z: np.ndarray, tau: float, bound: np.ndarray | None, density: np.ndarray | None
    ) -> np.ndarray | None:
        """Positions of the rows that may score tau or more (None: all of them). For ID, each
        row's density is at most `bound` (kept by the pool) or is `density` (computed here)."""
        fused, local = self.fused, self._local
        if density is not None:  # ID without bounds: the block's largest density cuts z
            top = float(density.max(initial=0.0)) * (1 + _DOT_SLACK)
            if tau > 0 and top <= 0:
                return np.empty(0, dtype=np.int64)  # every score <= 0 < tau
            limits = fused.z_range(tau, top)
        else:
            if bound is not None and tau > 0 and self._most_density <= 0:
                return np.empty(0, dtype=np.int64)
            # Limits from a smaller τ prune less but stay valid: renewed when τ has risen by 1%.
            used = getattr(local, "tau", None)
            if used is None or (bound is not None) != local.bounded or not (used > 0 and tau <= used * 1.01):
                local.tau, local.bounded = tau, bound is not None
                local.limits = fused.z_range(tau, self._most_density if bound is not None else None)
            limits = local.limits
        if limits is None:
            return None
        low, high = limits
        chosen = np.flatnonzero(z > low if high == np.inf else (z > low) & (z < high))
        own = bound if bound is not None else density
        if own is not None and chosen.size and tau > 0:  # each row's own bound: entropy × density
            chosen = chosen[fused.most_entropy(z[chosen]) * own[chosen] >= tau * (1 - _MARGIN)]
        return chosen


def fused_row_function(
    strategy: Strategy, model: BaseEstimator, pool_mean: np.ndarray, *, unit_rows: bool = False
) -> FusedScore | None:
    """A row function (float32 block -> float64 scores) equal to the strategy over the model's
    probabilities, or None when the model is not linear or the strategy declares no fused form. `unit_rows`: the
    rows it will see are unit-norm (a float32 store), so information density skips the norms."""
    if strategy.fused is None:  # declared: no fused form
        return None
    form = linear_form(model)
    return None if form is None else FusedScore(strategy.fused, form, pool_mean, unit_rows)
