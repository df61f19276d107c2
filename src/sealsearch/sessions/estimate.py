"""How far along a labeler is: "with 95% confidence at least X% of the positives are found", and
the audit that earns that sentence.

`ConceptSession.estimate()` and `ConceptSession.audit()` call these. Without answered audit
draws the estimate is the model's (P(positive) summed over the unlabeled pool: free, biased
when the model is poorly calibrated, which an actively trained model is; it says "no
guarantee"). `audit(n)` draws n unlabeled pool items, never an item of an open batch, with
probability ∝ P(positive)^0.75 plus a uniform floor (`active.estimate.audit_distribution`).
Audit rows are labels like any other: they train the model and count as found, and an audit
positive opens its neighbourhood. Once answered, the estimate is the audit's: each draw j
estimates the pool's positive count P as F_j + y_j / q_j (F_j: the positives labeled when it was
drawn, read back from the label times; rows then held in an open batch, which the draw skipped,
count there once labeled, and widen the bound by one each until they are), and all draws feed
one betting confidence sequence
(`active.confseq`), so the interval holds at every look, whatever the model. The app keeps only
(row, q, time) per draw, so this is the Hansen–Hurwitz form (p = 0) of `active.estimate`.
A relabel after a draw is read with its current label (the truth the estimate is about).

An answered audit positive that was not among the loop's candidates (for SEALS: no labeled
item's neighbour) when this process drew it raises `unreached`: "this concept has parts the loop had not reached". The
draws (row, q) are written to the project file (`audit_draws`, migration 3) as they are made and
read back incrementally, so reopening the project, or another process on the same file, sees the
same audit and the same estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sealsearch.active.certify import certificate_plan
from sealsearch.active.estimate import (
    AuditDraws,
    AuditLog,
    ScoreSums,
    audit_distribution,
    audit_estimate,
    model_estimate,
)
from sealsearch.sessions.labelstore import Event, LabelStore
from sealsearch.sessions.replay import ConceptModel

CERTIFY_TARGET = 0.8
"""The recall the panel quotes a certificate's price for."""


@dataclass(frozen=True)
class AuditContext:
    """What the audit needs from a concept: its project file, id, seed, pool rows, the item ids
    of rows, the rows of open batches (never drawn) and when each row was first labeled. Passed
    in (not the `ConceptSession`) so this module does not import the session."""

    store: LabelStore
    concept_id: int
    seed: int
    pool: np.ndarray
    ids_of: Callable[[np.ndarray], list[str]]
    leased: frozenset[int] = frozenset()
    first_decided: dict[int, float] = field(default_factory=dict)
    """Row -> time of its first positive/negative label (a later relabel or undo keeps it)."""


@dataclass
class SessionAudit:
    """One concept's audit draws (row, q, created) in draw order, mirrored from `audit_draws`."""

    draws: list[tuple[int, float, float]] = field(default_factory=list)
    last_id: int = 0
    outside: set[int] = field(default_factory=set)
    """Rows this process drew while they lay outside the loop's candidate pool (kept in memory:
    a draw made by another process counts as reached)."""

    def refresh(self, ctx: AuditContext) -> SessionAudit:
        """Append the draws written since we last looked (by this process or another)."""
        newer = ctx.store.audit_draws(ctx.concept_id, after=self.last_id)
        if newer:
            self.draws.extend((row, q, created) for _, row, q, created in newer)
            self.last_id = newer[-1][0]
        return self

    @property
    def rows(self) -> set[int]:
        return {row for row, _, _ in self.draws}


def _decided(effective: dict[int, Event], row: int) -> bool:
    return row in effective and effective[row].label in ("positive", "negative")


def _in_pool(ctx: AuditContext, rows: np.ndarray) -> np.ndarray:
    """Which `rows` lie in the (sorted) pool: O(len(rows) log pool), no set of the whole pool."""
    rows = np.asarray(rows, dtype=np.int64)
    at = np.searchsorted(ctx.pool, rows)
    return (at < ctx.pool.size) & (ctx.pool[np.minimum(at, ctx.pool.size - 1)] == rows) if ctx.pool.size else rows < 0


def _unlabeled_mask(ctx: AuditContext, effective: dict[int, Event]) -> np.ndarray:
    """Over `ctx.pool`: True where the row has no positive/negative label."""
    mask = np.ones(ctx.pool.size, dtype=bool)
    mask[_decided_positions(ctx, effective)] = False
    return mask


def _decided_positions(ctx: AuditContext, effective: dict[int, Event]) -> np.ndarray:
    """Positions in `ctx.pool` of the pool rows labeled positive or negative (each once)."""
    decided = np.array([r for r in effective if _decided(effective, r)], dtype=np.int64)
    return np.searchsorted(ctx.pool, decided[_in_pool(ctx, decided)]) if decided.size else decided


def draw(
    ctx: AuditContext,
    effective: dict[int, Event],
    model: ConceptModel,
    audit: SessionAudit,
    n: int,
    labeler: str | None = None,
) -> np.ndarray:
    """n audit draws (with replacement) from the unlabeled pool outside open batches, recorded in
    the project file; returns their distinct rows in draw order (random, not grouped by row)."""
    audit.refresh(ctx)
    mask = _unlabeled_mask(ctx, effective)
    if ctx.leased:
        leased = np.fromiter(ctx.leased, dtype=np.int64)
        mask[np.searchsorted(ctx.pool, leased[_in_pool(ctx, leased)])] = False
    unlabeled = ctx.pool[mask]
    if unlabeled.size == 0 or n <= 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng([ctx.seed, len(effective), len(audit.draws), 13])
    q = audit_distribution(model.pool_scores()[mask])  # the model's pool scores, scanned once per model
    picks = rng.choice(unlabeled.size, size=n, replace=True, p=q)
    rows, q = unlabeled[picks], q[picks]
    audit.outside.update(rows[~np.isin(rows, model.loop.pool.candidates())].tolist())
    ctx.store.add_audit_draws(
        ctx.concept_id, list(zip(rows.tolist(), ctx.ids_of(rows), q.tolist(), strict=True)), labeler
    )
    audit.refresh(ctx)
    return np.array(list(dict.fromkeys(rows.tolist())), dtype=np.int64)  # distinct, in draw order


def _log(ctx: AuditContext, effective: dict[int, Event], audit: SessionAudit) -> AuditLog:
    """The answered draws as an AuditLog, one record per draw time (one audit call)."""
    log = AuditLog()
    answered = [(r, q, c) for r, q, c in audit.draws if _decided(effective, r)]
    if not answered:
        return log
    leases = ctx.store.query(
        "SELECT i.row AS row, b.created AS created, i.lease_until AS until FROM batch_items i "
        "JOIN batches b ON i.batch_id = b.id WHERE b.concept_id = ?", (ctx.concept_id,)
    )  # fmt: skip
    outside = np.fromiter(audit.outside, dtype=np.int64, count=len(audit.outside))
    for created in sorted({c for _, _, c in answered}):
        rows = np.array([r for r, _, c in answered if c == created], dtype=np.int64)
        q = np.array([q for _, q, c in answered if c == created])
        # out of the draw's support: rows labeled then (first label, whatever came after) and
        # rows in an open batch then; their current labels are the base, unknown ones the slack
        taken = {r for r, t in ctx.first_decided.items() if t < created}
        taken |= {int(x["row"]) for x in leases if x["created"] <= created < x["until"]}
        taken_rows = np.fromiter(taken, dtype=np.int64, count=len(taken))
        taken = set(taken_rows[_in_pool(ctx, taken_rows)].tolist())
        found_before = sum(_decided(effective, r) and effective[r].label == "positive" for r in taken)
        unknown = sum(not _decided(effective, r) for r in taken)
        draws = AuditDraws.hansen_hurwitz(rows, q, max(ctx.pool.size - len(taken), 1))
        labels = {int(r): int(effective[int(r)].label == "positive") for r in rows.tolist()}
        log.record(draws, found_before, labels, ~np.isin(rows, outside), unknown=unknown)
    return log


def pending_rows(ctx: AuditContext, effective: dict[int, Event]) -> np.ndarray:
    """The audit rows drawn but not labeled positive/negative yet (skipped ones included), in draw order."""
    draws = SessionAudit().refresh(ctx).draws
    return np.array(list(dict.fromkeys(r for r, _, _ in draws if not _decided(effective, r))), dtype=np.int64)


class _PendingAudit(Protocol):
    def audit_pending(self) -> list[dict[str, Any]]: ...


def pending_items(session: _PendingAudit) -> list[dict[str, Any]]:
    """Deprecated: call `ConceptSession.audit_pending()` (kept for callers of the old helper)."""
    return session.audit_pending()


def estimate(
    ctx: AuditContext, effective: dict[int, Event], model: ConceptModel | None, audit: SessionAudit,
    pool_scores: np.ndarray | None = None, pool_sums: ScoreSums | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    """The estimate dict documented in docs/labeling.md ("Recall estimate"); None before any model.
    `pool_scores` (P(positive) over `ctx.pool`, default `model.pool_scores()`) and their
    `pool_sums` (default `model.sums_of(pool_scores)`) let the caller scan and sum the pool
    outside the session's lock: here only the labeled rows' scores are read, O(labels)."""
    if model is None:
        return None
    audit.refresh(ctx)
    pending = pending_rows(ctx, effective).size
    rows = np.array(list(effective), dtype=np.int64)
    rows = rows[_in_pool(ctx, rows)]
    found = sum(effective[int(r)].label == "positive" for r in rows.tolist())
    decided = _decided_positions(ctx, effective)
    unlabeled_count = int(ctx.pool.size - decided.size)
    log = _log(ctx, effective, audit)
    if not log.n_draws and np.unique(model.loop.labels).size < 2:
        # One class learned: the cold-start similarity score is no probability, and summing it over
        # the pool would claim ≈ 0% found. No number until a negative or an answered audit exists.
        if not pending:
            return None
        return {
            "method": "audit", "found": found, "positives": None, "positives_lo": None, "positives_hi": None,
            "recall": None, "recall_lo": None, "recall_hi": None, "confidence": 0.95, "audit_labels": 0,
            "audit_pending": pending, "text": "label the audit items to estimate how many positives are left",
            "guarantee": "none yet", "unreached": 0, "certificate": None,
        }  # fmt: skip
    scores = model.pool_scores() if pool_scores is None else pool_scores
    sums = (model.sums_of(scores) if pool_sums is None else pool_sums) - ScoreSums.of(scores[decided])
    if log.n_draws:
        result = audit_estimate(log, found, unlabeled_count, model_positives=found + sums.p)
    else:
        result = model_estimate(found, sums)
    plan = certificate_plan(CERTIFY_TARGET, 0.95, result.positives, ctx.pool.size, unlabeled_count)
    return {**result.as_dict(), "audit_pending": pending, "certificate": plan.text,
            "certificate_labels": plan.labels}  # fmt: skip
