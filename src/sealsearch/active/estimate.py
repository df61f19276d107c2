"""How many positives are still out there: recall estimated from what a labeler has.

A real user never knows the concept's true positive count P, so "recall" in a run table is a
simulation-only number. These estimators give P (and so recall = found / P) with an interval
from the labels, the model's scores on the unlabeled pool and, for the audit method, a few extra
labels drawn at random from the unlabeled pool:

- `model_estimate` sums P(positive) over the unlabeled pool. Free, but only as good as the
  model's calibration: a learner trained on actively chosen labels sees far more positives than
  the pool holds, so its probabilities are biased, and its interval (independent Bernoullis)
  ignores that bias. It carries no guarantee and says so.
- `AuditLog` / `audit_estimate`: an importance-sampled audit whose interval holds in finite
  samples, under a look after every round, whatever the model. Each audit draw j is made from
  the items unlabeled at that moment (U_j) with probability q_i ∝ p_i^0.75 mixed with a uniform
  floor, and gives

      z_j = F_j + Σ_{U_j} p + (y_j − p_{i_j}) / q_{i_j}

  where F_j are the positives labeled before the draw. Whatever p is, E[z_j | the past] = F_j +
  Σ_{U_j} y = P: every draw of every round estimates the same fixed P (the difference estimator
  of prediction-powered inference; with p = 0 it is Hansen–Hurwitz). Because P does not move,
  audit labels may join the loop like any label (their neighbourhoods open) without biasing
  anything, and the draws of all rounds feed one betting confidence sequence
  (`active.confseq`). The point estimate weights each draw by the inverse of its model-predicted
  variance (weights fixed before the draw).

What the guarantee costs: an upper bound on the positives hidden among N unlabeled items needs
about 3N / (floor · m) audit draws before it can rule out a group the model scores low, whoever
computes it. With 10% of the labels spent on audits that is far too few for a rare concept in a
large pool, so the certified lower bound on recall stays low there: it is honest, and
`active.stopping` offers the zero-label rule (an assumption, stated) and `active.certify` (a
random sample, cost quoted first) for the rest.

Everything here is numpy on arrays a caller hands over (no dataset, index or loop), so the same
code serves simulations (`experiments.estimate`) and the labeling app (`sessions.estimate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from sealsearch.active.confseq import betting_interval, count_grid
from sealsearch.errors import InvalidParameterError

ESTIMATE_METHODS = ("audit", "model")
"""Names accepted by `--estimate`."""
UNIFORM_FLOOR = 0.1
"""Share of the audit distribution spread uniformly over the unlabeled pool: every unlabeled
item keeps a chance ≥ UNIFORM_FLOOR / N_unlabeled, so a group the model misses is still drawn
now and then, and one term's weight is at most N_unlabeled / UNIFORM_FLOOR."""
AUDIT_POWER = 0.75
"""q_i ∝ p_i^AUDIT_POWER. sqrt(p) is optimal for calibrated p but an actively trained model is
overconfident on negatives, so almost no draw reached the remaining positives; p itself leaves
the rest of the pool to the floor. 0.75 sat between on 6 WordNet concepts (bench/estimate_recall.py)."""
GUARANTEE_AUDIT = (
    "holds with {confidence:.0%} confidence at every look, whatever the model (a betting confidence "
    "sequence over {draws} audit draws)"
)
GUARANTEE_MODEL = "no guarantee: the model's own probabilities, biased by active selection; an audit gives one"


def check_method(method: str) -> str:
    if method not in ESTIMATE_METHODS:
        raise InvalidParameterError(f"estimate method must be one of {', '.join(ESTIMATE_METHODS)}, got {method!r}")
    return method


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise InvalidParameterError(f"confidence must lie in (0, 1), got {confidence}")
    return float(norm.ppf(0.5 + confidence / 2))


def percent(x: float | None) -> str:
    """A share as the panel and status line print it: one decimal below 10%, so a small but
    non-zero bound never reads "0%"."""
    if x is None or not np.isfinite(x):
        return "?"
    return f"{x:.1%}" if 0 < x < 0.1 else f"{x:.0%}"


@dataclass(frozen=True)
class Estimate:
    """An estimate of the pool's positive count P with an interval at `confidence`.

    `found` are the labeled positives (recall's numerator); `known` is a lower bound on P from
    everything labeled, so no interval ever claims fewer positives than have been seen.
    `guarantee` says in words what the interval promises. `unreached` counts audit positives
    that lay outside the loop's candidate pool when drawn: parts of the concept the loop had not
    reached.
    """

    method: str
    found: int
    known: int
    positives: float
    positives_lo: float
    positives_hi: float
    audit_labels: int = 0
    confidence: float = 0.95
    guarantee: str = GUARANTEE_MODEL
    unreached: int = 0
    positives_se: float = float("nan")
    """The model estimate's normal standard error (NaN for the audit)."""
    unbiased: float = float("nan")
    """The audit draws' own (unbiased, high-variance) estimate of P; NaN for the model's."""

    def positives_interval(self, confidence: float | None = None) -> tuple[float, float]:
        if confidence is not None and confidence != self.confidence:
            if np.isnan(self.positives_se):
                raise InvalidParameterError(
                    f"this estimate was computed at confidence {self.confidence:g}, not {confidence:g}"
                )
            z = _z(confidence)
            lo = max(float(self.known), self.positives - z * self.positives_se)
            return lo, max(lo, self.positives + z * self.positives_se)
        return self.positives_lo, self.positives_hi

    def recall_interval(self, confidence: float | None = None) -> tuple[float, float]:
        """(lo, hi) of found / P; a larger P means a lower recall."""
        p_lo, p_hi = self.positives_interval(confidence)
        return _ratio(self.found, p_hi), _ratio(self.found, p_lo)

    @property
    def recall(self) -> float:
        return _ratio(self.found, max(self.positives, self.known))

    @property
    def unbiased_recall(self) -> float:
        """found / the audit draws' own mean (NaN for the model estimate)."""
        return _ratio(self.found, max(self.unbiased, self.known)) if np.isfinite(self.unbiased) else float("nan")

    @property
    def text(self) -> str:
        """The sentence the panel, the status line and the report print."""
        lo, hi = self.recall_interval()
        if self.method == "audit" and np.isfinite(lo):
            return (
                f"with {self.confidence:.0%} confidence at least {percent(lo)} of the positives are found "
                f"(estimate ≈ {percent(self.recall)}, up to {percent(hi)})"
            )
        if not np.isfinite(self.positives):
            return "no estimate yet"
        interval = f"{self.confidence:.0%}: {percent(lo)}–{percent(hi)}"
        return f"≈ {percent(self.recall)} of positives found ({interval}, no guarantee)"

    def as_dict(self) -> dict:
        """The shape the labeling app and run tables read (docs/labeling.md, "Recall estimate")."""
        lo, hi = self.recall_interval()
        p_lo, p_hi = self.positives_interval()
        return {
            "method": self.method, "found": self.found, "positives": float(max(self.positives, self.known)),
            "positives_lo": p_lo, "positives_hi": p_hi, "recall": self.recall, "recall_lo": lo, "recall_hi": hi,
            "confidence": self.confidence, "audit_labels": self.audit_labels, "guarantee": self.guarantee,
            "unreached": self.unreached, "text": self.text,
        }  # fmt: skip


def _ratio(found: int, positives: float) -> float:
    if not np.isfinite(positives):
        return float("nan")
    if positives <= 0:
        return 1.0 if found == 0 else float("nan")
    return float(min(1.0, found / positives)) if found else 0.0


@dataclass(frozen=True)
class ScoreSums:
    """How many scores, Σ p and Σ p(1 − p) (p clipped to [0, 1], summed in float64): all the
    model estimate needs of the unlabeled pool's scores. Additive, so a caller that summed the
    whole pool once (a scan of 9·10^7 scores: ~0.5 s) gets the unlabeled part by subtracting the
    few labeled rows' sums, in O(labels) instead of a masked copy of the pool per look."""

    n: int
    p: float
    pq: float

    @classmethod
    def of(cls, proba: np.ndarray, block: int = 1 << 22) -> ScoreSums:
        proba = np.asarray(proba)
        total_p = total_pq = 0.0
        for start in range(0, proba.size, block):  # float64 copies of a block at a time, not the pool
            p = np.clip(proba[start : start + block].astype(np.float64), 0.0, 1.0)
            total_p += float(p.sum())
            total_pq += float((p * (1 - p)).sum())
        return cls(int(proba.size), total_p, total_pq)

    def __sub__(self, other: ScoreSums) -> ScoreSums:
        return ScoreSums(self.n - other.n, max(self.p - other.p, 0.0), max(self.pq - other.pq, 0.0))


def model_estimate(
    found: int, proba_unlabeled: np.ndarray | ScoreSums, *, confidence: float = 0.95, unreached: int = 0
) -> Estimate:
    """P ≈ found + Σ p_i over the unlabeled pool; se from Σ p_i (1 − p_i) (independent Bernoullis).
    `proba_unlabeled` is the scores, or their `ScoreSums`.

    The interval is right only if the probabilities are calibrated on the unlabeled pool, which
    an actively trained model's are not: `bench/estimate_recall.py` measures how far off it is.
    """
    sums = proba_unlabeled if isinstance(proba_unlabeled, ScoreSums) else ScoreSums.of(proba_unlabeled)
    point, se, z = float(found + sums.p), float(np.sqrt(sums.pq)), _z(confidence)
    lo = max(float(found), point - z * se)
    hi = min(float(found + sums.n), max(point + z * se, lo + (1.0 if sums.n else 0.0)))  # never width zero
    return Estimate("model", int(found), int(found), point, lo, hi, 0, confidence, GUARANTEE_MODEL, unreached, se)


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


@dataclass(frozen=True)
class AuditDraws:
    """One audit's draws (with replacement) and what the estimator must know of the distribution
    they came from, fixed before the draws: the offset Σ_U p, how far one term (y − p)/q can fall
    below (max p/q) or rise above (max (1 − p)/q) it, and the model-predicted variance of a term."""

    rows: np.ndarray
    q: np.ndarray
    p: np.ndarray
    offset: float
    below: float
    above: float
    variance: float
    n_unlabeled: int

    @classmethod
    def hansen_hurwitz(cls, rows: np.ndarray, q: np.ndarray, n_unlabeled: int, floor: float = UNIFORM_FLOOR):
        """Draws whose model probabilities were not kept (the labeling app stores only (row, q)):
        p = 0, so a term is y/q, between 0 and 1/q_min ≤ n_unlabeled / floor."""
        rows = np.asarray(rows, dtype=np.int64)
        top = n_unlabeled / floor
        return cls(rows, np.asarray(q, dtype=np.float64), np.zeros(rows.size), 0.0, 0.0, top, top, n_unlabeled)


def draw_audit(unlabeled_rows: np.ndarray, proba_unlabeled: np.ndarray, m: int, rng: np.random.Generator) -> AuditDraws:
    """m draws with replacement from the unlabeled rows with q = `audit_distribution(p)`."""
    unlabeled_rows = np.asarray(unlabeled_rows, dtype=np.int64)
    p = np.clip(np.asarray(proba_unlabeled, dtype=np.float64), 0.0, 1.0)
    if m <= 0 or unlabeled_rows.size == 0:
        return AuditDraws(np.empty(0, dtype=np.int64), np.empty(0), np.empty(0), 0.0, 0.0, 0.0, 0.0, 0)
    q = audit_distribution(p)
    picks = rng.choice(unlabeled_rows.size, size=m, replace=True, p=q)
    # one term's variance if p were calibrated, plus one hit at the floor's weight: a predictable
    # guess, used only to weight rounds and to seed the betting stakes
    variance = float((p * (1 - p) / q).sum()) + unlabeled_rows.size
    return AuditDraws(
        unlabeled_rows[picks], q[picks], p[picks], float(p.sum()), float((p / q).max()), float(((1 - p) / q).max()),
        variance, int(unlabeled_rows.size),
    )  # fmt: skip


@dataclass
class AuditLog:
    """Every audit draw so far, in draw order, with its term's parts. Rows may repeat (draws are
    with replacement); a repeated row is labeled once (`labeled`) and counts once in `audit_labels`."""

    base: list[np.ndarray] = field(default_factory=list)
    z: list[np.ndarray] = field(default_factory=list)
    low: list[np.ndarray] = field(default_factory=list)
    high: list[np.ndarray] = field(default_factory=list)
    variance: list[np.ndarray] = field(default_factory=list)
    slack: list[np.ndarray] = field(default_factory=list)
    labeled: dict[int, int] = field(default_factory=dict)
    unreached_rows: set[int] = field(default_factory=set)

    def unlabeled(self, rows: np.ndarray) -> np.ndarray:
        """The distinct rows of a draw that still need a label from the oracle or the person."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        return rows[[int(r) not in self.labeled for r in rows.tolist()]] if rows.size else rows

    def record(
        self, draws: AuditDraws, found_before: int, labels: dict[int, int], reached: np.ndarray | None = None,
        unknown: int = 0,
    ) -> None:  # fmt: skip
        """Store one audit: `found_before` are the positives outside the draws' support when it
        was drawn (F_j: labeled then, or held back, e.g. in an open batch, and labeled since),
        `unknown` the rows held back then whose label is still unknown (each may add one),
        `labels` map (at least) each newly labeled row to 0/1 and `reached[i]` says whether draw
        i was among the loop's candidates then (a positive that was not raises the flag)."""
        self.labeled.update({int(r): int(v) for r, v in labels.items()})
        n = draws.rows.size
        y = np.array([self.labeled[int(r)] for r in draws.rows.tolist()], dtype=np.float64)
        base = float(found_before) + draws.offset
        self.base.append(np.full(n, base))
        self.z.append(base + (y - draws.p) / np.maximum(draws.q, 1e-300))
        self.low.append(np.full(n, base - draws.below))
        self.high.append(np.full(n, base + draws.above + unknown))
        self.slack.append(np.full(n, float(unknown)))
        self.variance.append(np.full(n, max(draws.variance, 1.0)))
        if reached is not None:
            far = draws.rows[(y == 1) & ~np.asarray(reached, dtype=bool)]
            self.unreached_rows.update(far.tolist())

    @property
    def audit_labels(self) -> int:
        return len(self.labeled)

    @property
    def n_draws(self) -> int:
        return int(sum(part.size for part in self.z))


def audit_estimate(
    log: AuditLog, found: int, n_unlabeled: int, *, confidence: float = 0.95, known: int | None = None,
    model_positives: float | None = None,
) -> Estimate:  # fmt: skip
    """P with a confidence-sequence interval from every audit draw so far (see the module doc).

    `found` are the positives labeled now, `n_unlabeled` the pool items without a label now (P
    lies in [found, found + n_unlabeled]); `known` (default `found`) adds audit positives the
    loop has not counted. The interval is never of width zero while anything is unlabeled.

    The point estimate is `model_positives` (found + Σp over the unlabeled pool) clipped into
    the interval when given, else the draws' weighted mean. The mean is unbiased but a single
    hit at a tiny q swings it by thousands, so it erred more than the model's sum (bench:
    `est_recall_unbiased` beside `est_recall`); the interval, not the point, carries the guarantee.
    `Estimate.unbiased` keeps the mean.
    """
    found = int(found)
    known = found if known is None else int(known)
    ceiling = float(known + max(int(n_unlabeled), 0))
    unreached = len(log.unreached_rows)
    if log.n_draws == 0:
        return Estimate("audit", found, known, float("nan"), float(known), ceiling, 0, confidence,
                        "no audit draws yet", unreached)  # fmt: skip
    z, low, high, var, slack = (np.concatenate(parts) for parts in (log.z, log.low, log.high, log.variance, log.slack))
    weights = 1.0 / var
    point = float(np.clip((weights * z).sum() / weights.sum(), known, ceiling))
    lo, hi = betting_interval(
        z, low, high, count_grid(known, ceiling), alpha=1 - confidence, prior_var=float(var[0]), z_high=z + slack
    )
    lo, hi = max(lo, float(known)), min(hi, ceiling)
    if ceiling > known:
        hi = max(hi, min(lo + 1.0, ceiling))
    unbiased = float(np.clip(point, lo, hi))
    point = unbiased if model_positives is None else float(np.clip(model_positives, lo, hi))
    guarantee = GUARANTEE_AUDIT.format(confidence=confidence, draws=z.size)
    return Estimate(
        "audit", found, known, point, lo, hi, log.audit_labels, confidence, guarantee, unreached, unbiased=unbiased
    )
