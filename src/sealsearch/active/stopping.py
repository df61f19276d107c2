"""When may a labeler stop? Rules that read the labeling history and say why they fire.

- `target:R[:C]` stops once the estimated recall's lower bound (two-sided interval at confidence C,
  default 0.95) reaches R. With the audit estimate that bound is a confidence sequence, so the
  stop is right with confidence ≥ (1 + C) / 2 whenever it fires, whatever the model; with the
  model estimate it carries no guarantee.
- `zero:R[:C]` is the zero-label rule of Callaghan & Müller-Hansen (2020, BUSCAR): no extra
  labels; it treats the last labels as a sample of what was still unlabeled before them and
  stops when a hypergeometric test rejects "recall < R" at level 1 − C (Bonferroni over the
  tails it tries). ASSUMPTION: the loop's recent picks were at least as likely to be positive as
  a random unlabeled item. SEALS breaks this for groups of positives no labeled item is near, so
  tails are only taken after the last audit positive that lay outside the loop's reach.
- `knee[:MIN]` is Cormack & Grossman's knee method (2016) on the gain curve (positives found
  against labels): find the knee as the point farthest above the chord from the origin to now,
  and stop when the slope before the knee is at least 156 − min(found, 150) times the slope after
  it (one positive added after the knee, so a flat tail never divides by zero), and at least MIN
  labels (default 500) are spent. It needs no estimate at all.
- `budget:N` stops at N labels: the baseline every other rule is measured against.

Rules are pure functions of arrays, so simulations, the report (which replays them on finished
runs) and the labeling app share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import hypergeom

from sealsearch.errors import InvalidParameterError

STOP_RULES = ("target", "zero", "knee", "budget")
NO_GUARANTEE = "no guarantee"
ZERO_ASSUMPTION = (
    "assumes the last labels were at least as likely to be positive as a random unlabeled item "
    "(SEALS breaks this for groups no labeled item is near)"
)


@dataclass(frozen=True)
class StopDecision:
    """Whether to stop, why (the numbers), and what the stop promises (`guarantee`)."""

    stop: bool
    reason: str
    guarantee: str = NO_GUARANTEE


@dataclass(frozen=True)
class StoppingRule:
    """A parsed `--stop` value; `check` reads the history up to the current round."""

    kind: str
    target: float = 0.8
    confidence: float = 0.95
    min_labels: int = 500
    budget: int = 0

    @property
    def name(self) -> str:
        if self.kind in ("target", "zero"):
            return f"{self.kind}:{self.target:g}" + ("" if self.confidence == 0.95 else f":{self.confidence:g}")
        return f"knee:{self.min_labels}" if self.kind == "knee" else f"budget:{self.budget}"

    @property
    def needs_estimate(self) -> bool:
        return self.kind == "target"

    def check(
        self, n_labeled: np.ndarray, n_positive: np.ndarray, recall_lo: float | None = None, *,
        guarantee: str = NO_GUARANTEE, pool_size: int | None = None, since: int = 0,
    ) -> StopDecision:  # fmt: skip
        """Whether to stop now, given the history of labels and positives found (one entry per
        round, the last is now); for `target` the current recall lower bound at `confidence` and
        what that bound promises (`guarantee`); for `zero` the pool size and the label count of
        the last audit positive outside the loop's reach (`since`: tails start there)."""
        labels, found = int(n_labeled[-1]), int(n_positive[-1])
        if self.kind == "budget":
            if labels >= self.budget:
                return StopDecision(True, f"budget: {labels} labels spent (cap {self.budget}; {NO_GUARANTEE})")
            return StopDecision(False, f"budget: {labels} of {self.budget} labels")
        if self.kind == "target":
            if recall_lo is None or np.isnan(recall_lo):
                return StopDecision(False, "target: no recall estimate yet")
            verdict = recall_lo >= self.target
            relation = "≥" if verdict else "<"
            return StopDecision(
                verdict,
                f"target: recall ≥ {recall_lo:.1%} at {self.confidence:.0%} confidence ({relation} {self.target:.0%})",
                guarantee,
            )
        if self.kind == "zero":
            return self._zero(np.asarray(n_labeled), np.asarray(n_positive), pool_size, since)
        ratio, knee_labels = knee_ratio(n_labeled, n_positive)
        needed = 156 - min(found, 150)
        if labels < self.min_labels:
            return StopDecision(False, f"knee: {labels} labels, fewer than the minimum {self.min_labels}")
        verdict = ratio >= needed
        return StopDecision(
            verdict,
            f"knee: slope before the knee at {knee_labels} labels is {ratio:.1f}× the slope after "
            f"({'≥' if verdict else '<'} {needed} needed with {found} positives found; {NO_GUARANTEE})",
        )

    def _zero(self, n_labeled: np.ndarray, n_positive: np.ndarray, pool_size: int | None, since: int) -> StopDecision:
        """The zero-label rule's test (see the module doc): smallest Bonferroni-adjusted p-value
        of "recall < target" over the tails that start at a round boundary at or after `since`."""
        if pool_size is None:
            return StopDecision(False, "zero: the pool size is unknown")
        p = zero_label_pvalue(n_labeled, n_positive, self.target, pool_size, since)
        alpha = 1 - self.confidence
        verdict = p < alpha
        guarantee = (
            f"recall ≥ {self.target:.0%} at {self.confidence:.0%} confidence if the assumption holds: {ZERO_ASSUMPTION}"
        )
        return StopDecision(
            verdict,
            f"zero: p = {p:.3g} for recall < {self.target:.0%} ({'<' if verdict else '≥'} {alpha:g})",
            guarantee if verdict else NO_GUARANTEE,
        )


def zero_label_pvalue(
    n_labeled: np.ndarray, n_positive: np.ndarray, target: float, pool_size: int, since: int = 0
) -> float:
    """min over tails × their count (Bonferroni) of P(X ≤ k), X ~ Hypergeom(N_r, K0, n): a tail
    of n labels holding k positives, drawn from the N_r items unlabeled before it, which must
    hold K0 = ⌊F / target⌋ + 1 − f_r positives if recall were below target."""
    n_labeled, n_positive = np.asarray(n_labeled, dtype=np.int64), np.asarray(n_positive, dtype=np.int64)
    labels, found = int(n_labeled[-1]), int(n_positive[-1])
    starts = np.flatnonzero((n_labeled[:-1] >= since) & (n_labeled[:-1] < labels))
    if starts.size == 0:
        return 1.0
    before, found_before = n_labeled[starts], n_positive[starts]
    remaining = pool_size - before
    needed = np.floor(found / target).astype(np.int64) + 1 - found_before
    needed = np.clip(needed, 0, remaining)
    p = hypergeom.cdf(found - found_before, remaining, needed, labels - before)
    return float(min(1.0, np.min(p) * starts.size))


def knee_ratio(n_labeled: np.ndarray, n_positive: np.ndarray) -> tuple[float, int]:
    """(slope before / slope after the knee, labels at the knee) of the gain curve.

    The knee is the history point with the largest perpendicular distance above the chord from
    (0, 0) to the current point; the slopes are the found-per-label rates on either side, with
    one positive added after the knee (Cormack & Grossman's adjustment).
    """
    x = np.concatenate([[0.0], np.asarray(n_labeled, dtype=np.float64)])
    y = np.concatenate([[0.0], np.asarray(n_positive, dtype=np.float64)])
    if x[-1] <= 0 or y[-1] <= 0:
        return 0.0, 0
    # distance above the chord, up to a positive constant: y·X − x·Y
    above = y * x[-1] - x * y[-1]
    knee = int(np.argmax(above[:-1])) if x.size > 2 else 0
    if knee == 0:
        return 0.0, 0
    before = y[knee] / x[knee]
    after_labels = x[-1] - x[knee]
    after = (y[-1] - y[knee] + 1) / after_labels if after_labels > 0 else np.inf
    return float(before / after), int(x[knee])


def parse_rule(text: str) -> StoppingRule:
    """`target:R[:C]`, `zero:R[:C]`, `knee[:MIN_LABELS]` or `budget:N`, as given to `--stop`."""
    kind, *args = text.strip().split(":")
    try:
        if kind in ("target", "zero") and len(args) in (1, 2):
            target = float(args[0])
            confidence = float(args[1]) if len(args) == 2 else 0.95
            if 0 < target <= 1 and 0 < confidence < 1:
                return StoppingRule(kind, target=target, confidence=confidence)
        elif kind == "knee" and len(args) <= 1:
            minimum = int(args[0]) if args else 500
            if minimum >= 0:
                return StoppingRule("knee", min_labels=minimum)
        elif kind == "budget" and len(args) == 1 and int(args[0]) > 0:
            return StoppingRule("budget", budget=int(args[0]))
    except ValueError:
        pass
    raise InvalidParameterError(
        f"stop {text!r}: give target:R[:C] or zero:R[:C] (recall R in (0, 1], confidence C), "
        "knee[:MIN_LABELS] or budget:N",
        params=["stop"],
    )


def first_stop(
    rule: StoppingRule, n_labeled: np.ndarray, n_positive: np.ndarray, recall_lo: np.ndarray | None = None,
    *, pool_size: int | None = None, since: np.ndarray | None = None,
) -> tuple[int | None, str]:  # fmt: skip
    """The first round index at which `rule` fires on a finished history (None: it never did) and
    the reason at that round, or at the last round when it never fired. `since[i]` is the label
    count of the last unreached audit positive at round i (the zero rule's tails start there)."""
    n_labeled, n_positive = np.asarray(n_labeled), np.asarray(n_positive)
    decision = StopDecision(False, "no rounds")
    for i in range(n_labeled.size):
        lo = None if recall_lo is None else float(recall_lo[i])
        start = 0 if since is None else int(since[i])
        decision = rule.check(n_labeled[: i + 1], n_positive[: i + 1], lo, pool_size=pool_size, since=start)
        if decision.stop:
            return i, decision.reason
    return None, decision.reason
