"""Recall estimates inside a simulated run: what a user without ground truth would be told.

`RoundEstimator` is called by `experiments.simulate.run` after every round. It scores the
unlabeled pool with the loop's model (in blocks, `ActiveLoop.predict_proba`) and, for the audit
method, asks the oracle for `audit` extra labels drawn from the unlabeled pool. Audit labels never
reach the loop (its trajectory is the same with or without an estimate, so runs compare
cleanly); they are counted in the `audit_labels` column instead. The audit's random numbers come
from their own generator, seeded from the run's seed, so they change nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sealsearch.active.estimate import AuditLog, Estimate, audit_estimate, check_method, model_estimate
from sealsearch.active.hygiene import rows_outside, sorted_unique
from sealsearch.active.loop import ActiveLoop

ESTIMATE_COLUMNS = ["est_recall", "est_recall_lo", "est_recall_hi", "audit_labels"]
"""Columns a run table gains; NaN (and 0 audit labels) when no estimate was asked for."""
AUDIT_STREAM = 7919
"""Mixed into the run's seed for the audit generator: independent of the loop's draws."""


def default_audit(batch_size: int) -> int:
    """Audit draws per round: a tenth of a batch (10 for the paper's 100), so audits stay under
    10% of all labels (10 of every 110)."""
    return max(1, batch_size // 10)


def empty_estimate() -> dict[str, float]:
    return {"est_recall": float("nan"), "est_recall_lo": float("nan"), "est_recall_hi": float("nan"),
            "audit_labels": 0}  # fmt: skip


class RoundEstimator:
    """Estimates recall after each round of one simulated run."""

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
        self.audit = audit
        self.confidence = confidence
        self.rng = np.random.default_rng([seed, AUDIT_STREAM])
        self.log = AuditLog()
        self.last: Estimate | None = None

    def update(self, loop: ActiveLoop) -> Estimate:
        labeled = loop.labeled_rows
        found = int(loop.labels.sum())
        unlabeled = self.pool_rows[rows_outside(np.sort(labeled), self.pool_rows)]
        proba = loop.predict_proba(unlabeled) if unlabeled.size else np.empty(0)
        if self.method == "model":
            self.last = model_estimate(found, proba, confidence=self.confidence)
        else:
            rows, q = self.log.draw(unlabeled, proba, self.audit, self.rng)
            new = self.log.unlabeled(rows)
            answers = self.label(new) if new.size else np.empty(0, dtype=np.int8)
            self.log.record(rows, q, dict(zip(new.tolist(), np.asarray(answers).tolist(), strict=True)))
            self.last = audit_estimate(self.log, found, labeled, confidence=self.confidence)
        return self.last

    def columns(self, loop: ActiveLoop) -> dict[str, float]:
        """The run-table columns of this round's estimate."""
        estimate = self.update(loop)
        lo, hi = estimate.recall_interval()
        return {"est_recall": estimate.recall, "est_recall_lo": lo, "est_recall_hi": hi,
                "audit_labels": estimate.audit_labels}  # fmt: skip
