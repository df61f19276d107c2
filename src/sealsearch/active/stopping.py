"""When may a labeler stop? Rules that read the labeling history and say why they fire.

- `target:R[:C]` stops once the estimated recall's lower bound (two-sided interval at confidence C,
  default 0.95) reaches R: a rule about the user's goal, only as honest as the estimator.
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

from sealsearch.errors import InvalidParameterError

STOP_RULES = ("target", "knee", "budget")


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str


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
        if self.kind == "target":
            return f"target:{self.target:g}" + ("" if self.confidence == 0.95 else f":{self.confidence:g}")
        return f"knee:{self.min_labels}" if self.kind == "knee" else f"budget:{self.budget}"

    @property
    def needs_estimate(self) -> bool:
        return self.kind == "target"

    def check(self, n_labeled: np.ndarray, n_positive: np.ndarray, recall_lo: float | None = None) -> StopDecision:
        """Whether to stop now, given the history of labels and positives found (one entry per
        round, the last is now) and, for `target`, the current recall lower bound at `confidence`."""
        labels, found = int(n_labeled[-1]), int(n_positive[-1])
        if self.kind == "budget":
            if labels >= self.budget:
                return StopDecision(True, f"budget: {labels} labels spent (cap {self.budget})")
            return StopDecision(False, f"budget: {labels} of {self.budget} labels")
        if self.kind == "target":
            if recall_lo is None or np.isnan(recall_lo):
                return StopDecision(False, "target: no recall estimate yet")
            verdict = recall_lo >= self.target
            relation = "≥" if verdict else "<"
            return StopDecision(
                verdict,
                f"target: estimated recall ≥ {recall_lo:.1%} at {self.confidence:.0%} confidence "
                f"({relation} {self.target:.0%})",
            )
        ratio, knee_labels = knee_ratio(n_labeled, n_positive)
        needed = 156 - min(found, 150)
        if labels < self.min_labels:
            return StopDecision(False, f"knee: {labels} labels, fewer than the minimum {self.min_labels}")
        verdict = ratio >= needed
        return StopDecision(
            verdict,
            f"knee: slope before the knee at {knee_labels} labels is {ratio:.1f}× the slope after "
            f"({'≥' if verdict else '<'} {needed} needed with {found} positives found)",
        )


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
    """`target:R[:C]`, `knee[:MIN_LABELS]` or `budget:N`, as given to `--stop`."""
    kind, *args = text.strip().split(":")
    try:
        if kind == "target" and len(args) in (1, 2):
            target = float(args[0])
            confidence = float(args[1]) if len(args) == 2 else 0.95
            if 0 < target <= 1 and 0 < confidence < 1:
                return StoppingRule("target", target=target, confidence=confidence)
        elif kind == "knee" and len(args) <= 1:
            minimum = int(args[0]) if args else 500
            if minimum >= 0:
                return StoppingRule("knee", min_labels=minimum)
        elif kind == "budget" and len(args) == 1 and int(args[0]) > 0:
            return StoppingRule("budget", budget=int(args[0]))
    except ValueError:
        pass
    raise InvalidParameterError(
        f"stop {text!r}: give target:R[:C] (recall R in (0, 1], confidence C), knee[:MIN_LABELS] or budget:N",
        params=["stop"],
    )


def first_stop(
    rule: StoppingRule, n_labeled: np.ndarray, n_positive: np.ndarray, recall_lo: np.ndarray | None = None
) -> tuple[int | None, str]:
    """The first round index at which `rule` fires on a finished history (None: it never did) and
    the reason at that round, or at the last round when it never fired."""
    n_labeled, n_positive = np.asarray(n_labeled), np.asarray(n_positive)
    decision = StopDecision(False, "no rounds")
    for i in range(n_labeled.size):
        lo = None if recall_lo is None else float(recall_lo[i])
        decision = rule.check(n_labeled[: i + 1], n_positive[: i + 1], lo)
        if decision.stop:
            return i, decision.reason
    return None, decision.reason
