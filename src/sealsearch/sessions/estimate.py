"""How far along a labeler is: "≈ X% of positives found (95%: lo–hi)", and the audit that tightens it.

`ConceptSession.estimate()` and `ConceptSession.audit()` call these. Without audit labels the
estimate is the model's (P(positive) summed over the unlabeled pool: free, but biased when the
model is poorly calibrated, which an actively trained model is). `audit(n)` draws n unlabeled
pool items at random, with probability ∝ P(positive)^0.75 plus a uniform floor
(`active.estimate.audit_distribution`); once the person has labeled them (ordinary `label` calls),
the estimate switches to the audit's, which is unbiased whatever the calibration.

Audit rows are labels like any other (they train the model) but the estimator keeps them apart:
recall's numerator counts positives found outside the audit, and an audit draw stays evidence
about the unlabeled pool. A draw is answered once its row carries a positive/negative label (its
current one); skipped or unseen draws stay pending. The draws (row, probability q) are written to
the project file (`audit_draws`, migration 3) as they are made and read back incrementally, so
reopening the project, or another process on the same file, sees the same audit and the same
estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sealsearch.active.estimate import AuditLog, audit_estimate, model_estimate
from sealsearch.sessions.labelstore import Event, LabelStore
from sealsearch.sessions.replay import ConceptModel


@dataclass(frozen=True)
class AuditContext:
    """What the audit needs from a concept: its project file, id, seed, pool rows and the item ids
    of rows. Passed in (not the `ConceptSession`) so this module does not import the session."""

    store: LabelStore
    concept_id: int
    seed: int
    pool: np.ndarray
    ids_of: Callable[[np.ndarray], list[str]]


@dataclass
class SessionAudit:
    """One concept's audit draws (row, q) in draw order, mirrored from the store's `audit_draws`."""

    draws: list[tuple[int, float]] = field(default_factory=list)
    last_id: int = 0

    def refresh(self, ctx: AuditContext) -> SessionAudit:
        """Append the draws written since we last looked (by this process or another)."""
        newer = ctx.store.audit_draws(ctx.concept_id, after=self.last_id)
        if newer:
            self.draws.extend((row, q) for _, row, q in newer)
            self.last_id = newer[-1][0]
        return self

    @property
    def rows(self) -> set[int]:
        return {row for row, _ in self.draws}


def _decided(effective: dict[int, Event], row: int) -> bool:
    return row in effective and effective[row].label in ("positive", "negative")


def _unlabeled(ctx: AuditContext, effective: dict[int, Event]) -> np.ndarray:
    pool = ctx.pool
    decided = np.array([r for r in effective if _decided(effective, r)], dtype=np.int64)
    return pool[~np.isin(pool, decided)] if decided.size else pool


def draw(
    ctx: AuditContext,
    effective: dict[int, Event],
    model: ConceptModel,
    audit: SessionAudit,
    n: int,
    labeler: str | None = None,
) -> np.ndarray:
    """n audit draws (with replacement) from the unlabeled pool, recorded in the project file;
    returns their distinct rows in draw order (a random order, not grouped by row)."""
    audit.refresh(ctx)
    unlabeled = _unlabeled(ctx, effective)
    rng = np.random.default_rng([ctx.seed, len(effective), len(audit.draws), 13])
    rows, q = AuditLog().draw(unlabeled, model.loop.predict_proba(unlabeled), n, rng)
    if rows.size:
        ids = ctx.ids_of(rows)
        ctx.store.add_audit_draws(ctx.concept_id, list(zip(rows.tolist(), ids, q.tolist(), strict=True)), labeler)
        audit.refresh(ctx)
    return np.array(list(dict.fromkeys(rows.tolist())), dtype=np.int64)  # distinct, in draw order


def _log(effective: dict[int, Event], audit: SessionAudit) -> tuple[AuditLog, list[int]]:
    """(the answered draws as an AuditLog, the rows of the pending ones in draw order)."""
    log = AuditLog()
    answered = [(r, q) for r, q in audit.draws if _decided(effective, r)]
    if answered:
        rows = np.array([r for r, _ in answered], dtype=np.int64)
        labels = {r: int(effective[r].label == "positive") for r, _ in answered}
        log.record(rows, np.array([q for _, q in answered]), labels)
    pending = list(dict.fromkeys(r for r, _ in audit.draws if not _decided(effective, r)))
    return log, pending


class _PendingAudit(Protocol):
    def audit_pending(self) -> list[dict[str, Any]]: ...


def pending_items(session: _PendingAudit) -> list[dict[str, Any]]:
    """Deprecated: call `ConceptSession.audit_pending()` (kept for callers of the old helper)."""
    return session.audit_pending()


def pending_rows(ctx: AuditContext, effective: dict[int, Event]) -> np.ndarray:
    """The audit rows drawn but not labeled positive/negative yet (skipped ones included), in draw order."""
    _, pending = _log(effective, SessionAudit().refresh(ctx))
    return np.array(pending, dtype=np.int64)


def estimate(
    ctx: AuditContext, effective: dict[int, Event], model: ConceptModel | None, audit: SessionAudit
) -> dict[str, Any] | None:
    """The estimate dict documented in PROJECT_API.md ("Recall estimate"); None before any model."""
    if model is None:
        return None
    log, pending = _log(effective, audit.refresh(ctx))
    audit_rows = audit.rows
    pool = ctx.pool
    outside = [r for r in effective if _decided(effective, r) and r not in audit_rows]  # labeled, not audited
    labeled = pool[np.isin(pool, np.array(outside, dtype=np.int64))] if outside else np.empty(0, dtype=np.int64)
    found = sum(effective[int(r)].label == "positive" for r in labeled.tolist())
    if not log.n_draws and np.unique(model.loop.labels).size < 2:
        # One class learned: the cold-start similarity score is no probability, and summing it over
        # the pool would claim ≈ 0% found. No number until a negative or an answered audit exists.
        if not pending:
            return None
        return {
            "method": "audit", "found": found, "positives": None, "positives_lo": None, "positives_hi": None,
            "recall": None, "recall_lo": None, "recall_hi": None, "confidence": 0.95, "audit_labels": 0,
            "audit_pending": len(pending), "text": "label the audit items to estimate how many positives are left",
        }  # fmt: skip
    if log.n_draws:
        result = audit_estimate(log, found, labeled)
    else:
        result = model_estimate(found, model.loop.predict_proba(_unlabeled(ctx, effective)))
    out = result.as_dict()
    out["audit_pending"] = len(pending)
    out["text"] = f"≈ {out['recall']:.0%} of positives found (95%: {out['recall_lo']:.0%}–{out['recall_hi']:.0%})"
    return out
