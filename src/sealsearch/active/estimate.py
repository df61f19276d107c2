"""How many positives are still out there: recall estimated from what a labeler has.

A real user never knows the concept's true positive count P, so "recall" in a run table is a
simulation-only number. These estimators give P (and so recall = found / P) with an interval from
the labels, the model's scores on the unlabeled pool and, for the audit method, a few extra
labels drawn at random from the unlabeled pool:

- `model_estimate` sums P(positive) over the unlabeled pool. Free, but only as good as the
  model's calibration: a learner trained on actively chosen labels sees far more positives than
  the pool holds, so its probabilities are biased; its interval (the Poisson-binomial spread of
  independent Bernoullis) ignores that bias entirely. Reported honestly, not trusted.
- `AuditLog` / `audit_estimate`: an importance-sampled audit. Each round a few unlabeled items
  are drawn with replacement with probability q_i ∝ p_i^0.75 (mixed with a uniform floor) and
  labeled. y_j / q_j, counted only while the drawn row is still unlabeled, is an unbiased
  estimate of the positives still unlabeled whatever the model's calibration (Hansen–Hurwitz);
  the draws of every round so far average into one estimate whose error shrinks as audits
  accumulate and as the loop labels the positives they found. The floor bounds the weight of
  positives the model has missed.

Everything here is numpy on arrays a caller hands over (no dataset, index or loop), so the same
code serves simulations (`experiments.estimate`) and the labeling app (`sessions.estimate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from sealsearch.errors import InvalidParameterError

ESTIMATE_METHODS = ("audit", "model")
"""Names accepted by `--estimate`."""
UNIFORM_FLOOR = 0.1
"""Share of the audit distribution spread uniformly over the unlabeled pool: every unlabeled
item keeps a chance ≥ UNIFORM_FLOOR / N_unlabeled, so one missed positive weighs at most
N_unlabeled / UNIFORM_FLOOR."""
AUDIT_POWER = 0.75
"""q_i ∝ p_i^AUDIT_POWER. sqrt(p) is optimal for calibrated p but an actively trained model is
overconfident on negatives, so almost no draw reached the remaining positives (intervals of
width ~1); p itself found them but its normal intervals covered too rarely. 0.75 sat between on
6 WordNet concepts (mlp-seals, k=20, T=2,000; /tmp exploration, bench/estimate_recall.py measures it)."""


def check_method(method: str) -> str:
    if method not in ESTIMATE_METHODS:
        raise InvalidParameterError(f"estimate method must be one of {', '.join(ESTIMATE_METHODS)}, got {method!r}")
    return method


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise InvalidParameterError(f"confidence must lie in (0, 1), got {confidence}")
    return float(norm.ppf(0.5 + confidence / 2))


@dataclass(frozen=True)
class Estimate:
    """An estimate of the pool's positive count P with a normal standard error.

    `found` are the positives among the loop's labels (recall's numerator); `known` is a lower
    bound on P from everything labeled (found plus audit positives the loop has not labeled), so
    no interval ever claims fewer positives than have been seen.
    """

    method: str
    found: int
    known: int
    positives: float
    positives_se: float
    audit_labels: int = 0
    confidence: float = 0.95

    def positives_interval(self, confidence: float | None = None) -> tuple[float, float]:
        z = _z(self.confidence if confidence is None else confidence)
        lo = max(float(self.known), self.positives - z * self.positives_se)
        return lo, max(lo, self.positives + z * self.positives_se)

    def recall_interval(self, confidence: float | None = None) -> tuple[float, float]:
        """(lo, hi) of found / P; a larger P means a lower recall."""
        p_lo, p_hi = self.positives_interval(confidence)
        return _ratio(self.found, p_hi), _ratio(self.found, p_lo)

    @property
    def recall(self) -> float:
        return _ratio(self.found, max(self.positives, self.known))

    def as_dict(self) -> dict:
        """The shape the labeling app and run tables read (see PROJECT_API.md)."""
        lo, hi = self.recall_interval()
        p_lo, p_hi = self.positives_interval()
        return {
            "method": self.method, "found": self.found, "positives": float(max(self.positives, self.known)),
            "positives_lo": p_lo, "positives_hi": p_hi, "recall": self.recall, "recall_lo": lo, "recall_hi": hi,
            "confidence": self.confidence, "audit_labels": self.audit_labels,
        }  # fmt: skip


def _ratio(found: int, positives: float) -> float:
    if positives <= 0:
        return 1.0 if found == 0 else float("nan")
    return float(min(1.0, found / positives)) if found else 0.0


def model_estimate(found: int, proba_unlabeled: np.ndarray, *, confidence: float = 0.95) -> Estimate:
    """P ≈ found + Σ p_i over the unlabeled pool; se from Σ p_i (1 − p_i) (independent Bernoullis).

    The interval is right only if the probabilities are calibrated on the unlabeled pool, which
    an actively trained model's are not: `bench/estimate_recall.py` measures how far off it is.
    """
    p = np.clip(np.asarray(proba_unlabeled, dtype=np.float64), 0.0, 1.0)
    return Estimate(
        "model", int(found), int(found), float(found + p.sum()), float(np.sqrt((p * (1 - p)).sum())),
        confidence=confidence,
    )  # fmt: skip


def audit_distribution(
    proba_unlabeled: np.ndarray, floor: float = UNIFORM_FLOOR, power: float = AUDIT_POWER
) -> np.ndarray:
    """q_i ∝ p_i^power, mixed with `floor` of uniform mass; sums to 1 over the unlabeled pool."""
    p = np.clip(np.asarray(proba_unlabeled, dtype=np.float64), 0.0, 1.0) ** power
    n = p.size
    if n == 0:
        return p
    total = p.sum()
    shaped = p / total if total > 0 else np.full(n, 1.0 / n)
    return (1 - floor) * shaped + floor / n


@dataclass
class AuditLog:
    """Every audit draw so far: the row, its draw probability q and its label. Rows may repeat
    (draws are with replacement); a repeated row is labeled once (`labeled`) and counts once in `audit_labels`."""

    rows: list[np.ndarray] = field(default_factory=list)
    q: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    labeled: dict[int, int] = field(default_factory=dict)

    def draw(
        self, unlabeled_rows: np.ndarray, proba_unlabeled: np.ndarray, m: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """m rows drawn with replacement from the unlabeled pool (and their q); label the rows
        not yet in `labeled` and pass everything to `record`."""
        unlabeled_rows = np.asarray(unlabeled_rows, dtype=np.int64)
        if m <= 0 or unlabeled_rows.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        q = audit_distribution(proba_unlabeled)
        picks = rng.choice(unlabeled_rows.size, size=m, replace=True, p=q)
        return unlabeled_rows[picks], q[picks]

    def unlabeled(self, rows: np.ndarray) -> np.ndarray:
        """The distinct rows of a draw that still need a label from the oracle or the person."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        return rows[[int(r) not in self.labeled for r in rows.tolist()]] if rows.size else rows

    def record(self, rows: np.ndarray, q: np.ndarray, labels: dict[int, int]) -> None:
        """Store one round's draws; `labels` maps (at least) each newly labeled row to 0/1."""
        self.labeled.update({int(r): int(v) for r, v in labels.items()})
        rows = np.asarray(rows, dtype=np.int64)
        self.rows.append(rows)
        self.q.append(np.asarray(q, dtype=np.float64))
        self.y.append(np.array([self.labeled[int(r)] for r in rows.tolist()], dtype=np.float64))

    @property
    def audit_labels(self) -> int:
        return len(self.labeled)

    @property
    def n_draws(self) -> int:
        return int(sum(r.size for r in self.rows))


def audit_estimate(log: AuditLog, found: int, labeled_rows: np.ndarray, *, confidence: float = 0.95) -> Estimate:
    """P = found + the positives still unlabeled, estimated from every audit draw so far.

    A draw j of row i_j made at round s with probability q_j gives x_j = y_j·[i_j still unlabeled]
    / q_j, an unbiased estimate of the positives still unlabeled *now*: the unlabeled set only
    shrinks, so it lies inside round s's, and (audits never reaching the loop) it does not depend
    on the draw. The mean of x over all M draws is the estimate, its se sd(x) / sqrt(M). A
    positive the loop has labeled since drops out, so the spread falls as the loop finds them.

    Rare positives the draws have not hit make the sample spread too small (with no hit it is
    zero), so the se adds in quadrature what one more hit at a typical draw would add,
    1 / (mean q · M): the importance-sampling analogue of a rule-of-three bound. Audit positives the loop has not
    labeled are known positives: P never goes below found + their count.
    """
    found = int(found)
    labeled_rows = np.sort(np.asarray(labeled_rows, dtype=np.int64))
    audit_positives = np.array([r for r, v in log.labeled.items() if v == 1], dtype=np.int64)
    extra = int(np.setdiff1d(audit_positives, labeled_rows).size)
    if log.n_draws == 0:
        return Estimate("audit", found, found + extra, float("nan"), float("nan"), 0, confidence)
    rows, q, y = (np.concatenate(parts) for parts in (log.rows, log.q, log.y))
    still = ~np.isin(rows, labeled_rows, assume_unique=False)
    x = y * still / q
    m = x.size
    spread = float(x.var(ddof=1) / m) if m > 1 else float("inf")
    one_hit = 1.0 / (float(np.mean(q[still])) * m) if still.any() else 0.0
    se = float(np.sqrt(spread + one_hit**2))
    return Estimate("audit", found, found + extra, found + float(x.mean()), se, log.audit_labels, confidence)
