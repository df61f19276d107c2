"""Recall estimates inside a simulated run: what a user without ground truth would be told.

`RoundEstimator` is called by `experiments.simulate.run` every round. For the audit method,
`audit_round` draws `audit` extra items from the pool items that are neither labeled nor in the
round's batch (an audit never duplicates a batch item), asks the oracle, and hands the labels
back so they join the loop with the batch, like any label: an audit positive far from
everything labeled opens its neighbourhood. When such a positive was outside the loop's
candidate pool at draw time it counts in `audit_unreached`: the concept has parts the loop had
not reached. The estimate stays unbiased because each draw estimates the fixed pool total
(`active.estimate`). Audit labels count towards the budget and `n_labeled`; `audit_labels` says
how many they were. The audit's random numbers come from their own generator, seeded from the
run's seed, so the loop's own draws are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sealsearch.active.estimate import AuditLog, Estimate, audit_estimate, check_method, draw_audit, model_estimate
from sealsearch.active.hygiene import rows_outside, sorted_unique
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.stopping import NO_GUARANTEE, StoppingRule

ESTIMATE_COLUMNS = [
    "est_recall", "est_recall_lo", "est_recall_hi", "audit_labels", "audit_unreached", "est_recall_unbiased",
]  # fmt: skip
"""Columns a run table gains; NaN (and 0 audit labels) when no estimate was asked for.
`est_recall_lo` is the bound the target stop reads: for the audit method it holds with 95%
confidence at every round (a confidence sequence), for the model method it carries no guarantee."""
AUDIT_STREAM = 7919
"""Mixed into the run's seed for the audit generator: independent of the loop's draws."""


def default_audit(batch_size: int) -> int:
    """Audit draws per round: a tenth of a batch (10 for the paper's 100), so audits stay under
    10% of all labels (10 of every 110)."""
    return max(1, batch_size // 10)


def empty_estimate() -> dict[str, float]:
    return {"est_recall": float("nan"), "est_recall_lo": float("nan"), "est_recall_hi": float("nan"),
            "audit_labels": 0, "audit_unreached": 0, "est_recall_unbiased": float("nan")}  # fmt: skip


_NONE = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int8))


def make_estimator(
    method: str | None, audit: int | None, batch_size: int, rule: StoppingRule | None, pool_rows: np.ndarray,
    label: Callable[[np.ndarray], np.ndarray], seed: int,
) -> RoundEstimator | None:  # fmt: skip
    """The run's estimator (None without `--estimate`), at the stopping rule's confidence."""
    if method is None:
        return None
    audit = audit if audit is not None else default_audit(batch_size)
    confidence = rule.confidence if rule is not None else 0.95
    return RoundEstimator(method, pool_rows, label, audit=audit, seed=seed, confidence=confidence)


def stop_inputs(estimator: RoundEstimator | None) -> dict:
    """What `StoppingRule.check` reads from the estimate: the recall lower bound, what it
    promises, and where the zero-label rule's tails may start."""
    last = estimator.last if estimator is not None else None
    return {
        "recall_lo": last.recall_interval()[0] if last else None,
        "guarantee": last.guarantee if last else NO_GUARANTEE,
        "since": estimator.since if estimator is not None else 0,
    }


class RoundEstimator:
    """Estimates recall after each round of one simulated run (and draws the audit)."""

    def __init__(
        self,
        method: str,
        pool_rows: np.ndarray,
        label: Callable[[np.ndarray], np.ndarray],
        *,
        audit: int,
        seed: int,
        confidence: float = 0.95,
    ):
        self.method = check_method(method)
        self.pool_rows = sorted_unique(pool_rows)
        self.label = label
        self.audit = audit if self.method == "audit" else 0
        self.confidence = confidence
        self.rng = np.random.default_rng([seed, AUDIT_STREAM])
        self.log = AuditLog()
        self.last: Estimate | None = None
        self.since = 0
        """Labels after the round whose audit last found a positive outside the loop's reach."""

    def _unlabeled(self, taken: np.ndarray) -> np.ndarray:
        return self.pool_rows[rows_outside(np.sort(taken), self.pool_rows)]

    def audit_round(
        self, loop: ActiveLoop, batch_rows: np.ndarray, batch_labels: np.ndarray, m: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """This round's audit: (rows, labels) to tell the loop together with the batch. Drawn
        with the model that chose the batch, from rows neither labeled nor in the batch."""
        m = self.audit if m is None else min(m, self.audit)
        if m <= 0:
            return _NONE
        unlabeled = self._unlabeled(np.concatenate([loop.labeled_rows, np.asarray(batch_rows, dtype=np.int64)]))
        if unlabeled.size == 0:
            return _NONE
        # before the seed is told there is no model: the first audit is uniform
        proba = loop.predict_proba(unlabeled) if loop.n_labeled else np.zeros(unlabeled.size)
        draws = draw_audit(unlabeled, proba, m, self.rng)
        found_before = int(loop.labels.sum()) + int(np.asarray(batch_labels).sum())
        new = self.log.unlabeled(draws.rows)
        answers = np.asarray(self.label(new), dtype=np.int8) if new.size else _NONE[1]
        reached = np.isin(draws.rows, loop.pool.candidates())
        unreached = len(self.log.unreached_rows)
        self.log.record(draws, found_before, dict(zip(new.tolist(), answers.tolist(), strict=True)), reached)
        if len(self.log.unreached_rows) > unreached:
            self.since = loop.n_labeled + np.asarray(batch_rows).size + new.size
        return new, answers

    def with_audit(
        self, loop: ActiveLoop, rows: np.ndarray, labels: np.ndarray, budget: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """`rows` and their labels with this round's audit appended (within the budget), to tell
        the loop at once."""
        spare = max(budget - loop.n_labeled - np.asarray(rows).size, 0)
        extra, extra_labels = self.audit_round(loop, rows, labels, spare)
        return np.concatenate([rows, extra]), np.concatenate([labels, extra_labels])

    def update(self, loop: ActiveLoop) -> Estimate:
        labeled = loop.labeled_rows
        found = int(loop.labels.sum())
        unlabeled = self._unlabeled(labeled)
        unreached = len(self.log.unreached_rows)
        proba = loop.predict_proba(unlabeled) if unlabeled.size else np.empty(0)
        if self.method == "model":
            self.last = model_estimate(found, proba, confidence=self.confidence, unreached=unreached)
        else:
            self.last = audit_estimate(
                self.log, found, unlabeled.size, confidence=self.confidence, model_positives=found + float(proba.sum())
            )
        return self.last

    def columns(self, loop: ActiveLoop) -> dict[str, float]:
        """The run-table columns of this round's estimate."""
        estimate = self.update(loop)
        lo, hi = estimate.recall_interval()
        return {"est_recall": estimate.recall, "est_recall_lo": lo, "est_recall_hi": hi,
                "audit_labels": estimate.audit_labels, "audit_unreached": estimate.unreached,
                "est_recall_unbiased": estimate.unbiased_recall}  # fmt: skip
