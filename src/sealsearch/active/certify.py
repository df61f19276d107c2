"""A recall certificate: "label N random items to certify recall ≥ R", with N quoted first.

Why: the audit's confidence sequence holds whatever the model, but with a few percent of the
labels spent on audits it cannot rule out a rare group the model scores low (see
`active.estimate`). Only a uniform random sample can, and it costs about −ln(α) / (1 − R)
positives' worth of draws: ~14 positives for R = 0.8 at 95%, so ~14 / prevalence items. This is
the quantile binomial bound of QBCB (Lewis, Yang & Frieder 2021) with the target method's
sizing (Cormack & Grossman 2016), computed before the sample starts so the person can decide
whether the certainty is worth its price:

- `certificate_plan` gives r, the sample positives needed, and N, the uniform draws from the
  pool that hold r positives with probability `power` at the estimated prevalence (only the
  unlabeled ones cost a label: the rest are known);
- `certified_recall` turns the sample into a bound: of the r' positives in the sample, j had been
  found before the sample was drawn, and recall ≥ the one-sided Clopper–Pearson lower bound of
  j / r' at the stated confidence. The positives in a uniform sample are a uniform sample of the
  positives, so this holds whatever the model and whatever the loop did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import beta, nbinom

from sealsearch.errors import InvalidParameterError


@dataclass(frozen=True)
class CertificatePlan:
    """The quoted price of a certificate before it starts."""

    target: float
    confidence: float
    positives_needed: int
    draws: int
    labels: int
    """Draws that are unlabeled now: the labels the person will actually give."""

    @property
    def text(self) -> str:
        return (
            f"label about {self.labels:,} random items to certify recall ≥ {self.target:.0%} at "
            f"{self.confidence:.0%} confidence (a uniform sample of {self.draws:,} pool items holding "
            f"{self.positives_needed} positives, all already found)"
        )


def certificate_plan(
    target: float, confidence: float, positives: float, pool: int, unlabeled: int, *, power: float = 0.9
) -> CertificatePlan:
    """r = ⌈ln(1 − C) / ln R⌉ (the fewest sample positives that, all found, certify R), and the
    draws N whose sample holds r positives with probability `power` at prevalence positives / pool
    (a negative-binomial quantile), capped at the pool."""
    if not (0 < target < 1 and 0 < confidence < 1):
        raise InvalidParameterError(f"a certificate needs recall and confidence in (0, 1), got {target}, {confidence}")
    needed = math.ceil(math.log(1 - confidence) / math.log(target))
    prevalence = min(max(float(positives), 1.0) / max(pool, 1), 1.0)
    draws = int(min(pool, needed + nbinom.ppf(power, needed, prevalence)))
    return CertificatePlan(target, confidence, needed, draws, math.ceil(draws * unlabeled / max(pool, 1)))


def certified_recall(found_in_sample: int, positives_in_sample: int, confidence: float = 0.95) -> float:
    """The lower confidence bound on recall from a uniform sample: j of r sample positives had
    been found (Clopper–Pearson, one-sided). 0 when the sample holds no positive."""
    j, r = int(found_in_sample), int(positives_in_sample)
    if r <= 0 or j <= 0:
        return 0.0
    return float(beta.ppf(1 - confidence, j, r - j + 1))
