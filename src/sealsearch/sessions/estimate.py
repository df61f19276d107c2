"""How far along a labeler is: "≈ X% of positives found (95%: lo–hi)", and the audit that tightens it.

`ConceptSession.estimate()` and `ConceptSession.audit()` call these. Without audit labels the
estimate is the model's (P(positive) summed over the unlabeled pool: free, but biased when the
model is poorly calibrated, which an actively trained model is). `audit(n)` draws n unlabeled
pool items at random, with probability ∝ P(positive)^0.75 plus a uniform floor
(`active.estimate.audit_distribution`); once the person has labeled them (ordinary `label` calls),
the estimate switches to the audit's, which is unbiased whatever the calibration.

Audit rows are labels like any other (they train the model) but the estimator keeps them apart:
recall's numerator counts positives found outside the audit, and an audit draw stays evidence
about the unlabeled pool. Skipped audit items stay pending. The draws (row, probability) live in
the session's memory: reopening the project forgets pending and answered draws, so the estimate
falls back to the model's until the next audit (persisting them needs a label-store migration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sealsearch.active.estimate import AuditLog, audit_estimate, model_estimate
from sealsearch.sessions.labelstore import Event
from sealsearch.sessions.replay import ConceptModel

if TYPE_CHECKING:
    from sealsearch.sessions.session import ConceptSession


@dataclass
class SessionAudit:
    """One concept's audit draws: answered ones in `log`, the rest pending (row -> q per draw)."""

    log: AuditLog = field(default_factory=AuditLog)
    pending: list[tuple[int, float]] = field(default_factory=list)
    rows: set[int] = field(default_factory=set)


def _unlabeled(session: ConceptSession, effective: dict[int, Event]) -> np.ndarray:
    pool = session.project.dataset.split_rows("pool")
    decided = np.array([r for r, e in effective.items() if e.label in ("positive", "negative")], dtype=np.int64)
    return pool[~np.isin(pool, decided)] if decided.size else pool


def draw(
    session: ConceptSession, effective: dict[int, Event], model: ConceptModel, audit: SessionAudit, n: int
) -> np.ndarray:
    """n audit rows (distinct rows of n draws with replacement) from the unlabeled pool."""
    unlabeled = _unlabeled(session, effective)
    rng = np.random.default_rng([session.settings.seed, len(effective), audit.log.n_draws + len(audit.pending), 13])
    rows, q = audit.log.draw(unlabeled, model.loop.predict_proba(unlabeled), n, rng)
    audit.pending.extend(zip(rows.tolist(), q.tolist(), strict=True))
    audit.rows.update(rows.tolist())
    return np.unique(rows)


def _settle(effective: dict[int, Event], audit: SessionAudit) -> None:
    """Move pending draws whose rows now carry a positive/negative label into the log."""
    answered = [(r, q) for r, q in audit.pending if effective.get(r) and effective[r].label in ("positive", "negative")]
    if not answered:
        return
    audit.pending = [(r, q) for r, q in audit.pending if (r, q) not in answered]
    rows = np.array([r for r, _ in answered], dtype=np.int64)
    labels = {r: int(effective[r].label == "positive") for r, _ in answered}
    audit.log.record(rows, np.array([q for _, q in answered]), labels)


def estimate(
    session: ConceptSession, effective: dict[int, Event], model: ConceptModel | None, audit: SessionAudit
) -> dict[str, Any] | None:
    """The estimate dict documented in PROJECT_API.md ("Recall estimate"); None before any model."""
    if model is None:
        return None
    _settle(effective, audit)
    pool = session.project.dataset.split_rows("pool")
    outside = [
        r for r, e in effective.items() if e.label in ("positive", "negative") and r not in audit.rows
    ]  # labels made while labeling, not auditing
    labeled = pool[np.isin(pool, np.array(outside, dtype=np.int64))] if outside else np.empty(0, dtype=np.int64)
    found = sum(effective[int(r)].label == "positive" for r in labeled.tolist())
    if audit.log.n_draws:
        result = audit_estimate(audit.log, found, labeled)
    else:
        result = model_estimate(found, model.loop.predict_proba(_unlabeled(session, effective)))
    out = result.as_dict()
    out["audit_pending"] = len({r for r, _ in audit.pending})
    out["text"] = f"≈ {out['recall']:.0%} of positives found (95%: {out['recall_lo']:.0%}–{out['recall_hi']:.0%})"
    return out
