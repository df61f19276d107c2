"""What a concept has learned, read side: stats, the recall estimate and its audit, the model's
top items, the final labels and the model itself.

A mixin of `ConceptSession` (sessions/session.py), which owns the log, the locks and the loop;
everything here reads them under `_lock` and writes nothing but audit draws.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from sealsearch.errors import InvalidParameterError
from sealsearch.sessions import estimate as estimating
from sealsearch.sessions import insight
from sealsearch.sessions.labelstore import Event
from sealsearch.sessions.replay import ConceptModel

if TYPE_CHECKING:
    import pandas as pd

Item = dict[str, Any]


class ConceptResults:
    """The read side of a concept (mixed into `ConceptSession`)."""

    def _learned(self) -> tuple[dict[int, Event], ConceptModel | None]:
        """The effective labels and the loop synced with them; None before any label was learned.
        Callers hold `_lock`."""
        effective = self.effective()
        learned = self._training_labels(effective)
        return effective, self._synced_model(effective, record=False) if learned else None

    def _audit_context(self) -> estimating.AuditContext:
        project = self.project
        leased = frozenset(project.store.leased_rows(self.settings.id, time.time()))  # open batches, anyone's
        first: dict[int, float] = {}
        for event in self._events:  # in id order: the first decided label of each row
            if event.label in ("positive", "negative"):
                first.setdefault(event.row, event.time)
        pool = project.dataset.split_rows("pool")
        return estimating.AuditContext(
            project.store, self.settings.id, self.settings.seed, pool, project.ids_of, leased, first
        )

    def stats(self) -> dict[str, Any]:
        # The estimate sums the model's scores over the whole pool: one scan per trained model
        # (cached), done outside the lock, so labels and the next batch never wait behind it
        # (at 10^6 it takes ~0.3 s, at 10^8 tens of seconds; the page asks for stats after labels).
        # Pools above INLINE_SCAN_ROWS are scanned in the background: the estimate may then be the
        # last model's ("updating"), or absent until the first scan ends.
        with self._lock:
            _, model = self._learned()
            fitted = model.loop.fit() if model is not None else None
        scores, current = model.latest_pool_scores(fitted) if model is not None else (None, True)
        sums = model.sums_of(scores) if scores is not None else None  # outside the lock: a pass over the pool
        with self._lock:
            effective, model = self._learned()
            found = insight.stats(self.project.dataset, effective, model, self.rounds, self.wait_ms)
            if model is not None and scores is None and current:  # the first model arrived meanwhile
                scores, current = model.latest_pool_scores(model.loop.fit())
                sums = model.sums_of(scores) if scores is not None else None
            estimate = None
            if model is None or scores is not None:
                estimate = estimating.estimate(self._audit_context(), effective, model, self._audit, scores, sums)
        if estimate is not None:
            estimate["updating"] = not current
            if not current:
                estimate["text"] += " (from the last round's model: the newest is being scored)"
        queries = getattr(self.project, "query_vector", None)
        text_search = getattr(queries, "state", "cold")  # "loading" while the server loads the text model
        updating = model is not None and not current
        return {**found, "estimate": estimate, "text_search": text_search, "estimate_updating": updating}

    def estimate(self) -> dict[str, Any] | None:
        """Estimated positives in the pool and recall so far with a 95% interval (see
        sessions/estimate.py); None until a model exists. The audit's once audit items are labeled."""
        with self._lock:
            return estimating.estimate(self._audit_context(), *self._learned(), self._audit)

    def audit_pending(self) -> list[Item]:
        """The audit items drawn but not labeled positive/negative yet (skipped ones included), in draw order."""
        rows = estimating.pending_rows(self._audit_context(), self.effective())
        return self.project.items(rows, np.full(rows.size, np.nan))

    def audit(self, n: int = 20, labeler: str | None = None) -> list[Item]:
        """n random unlabeled pool items to label (with `label`) so the estimate tightens; the
        draws are recorded in the project file (sessions/estimate.py)."""
        if n <= 0:
            raise InvalidParameterError(f"n must be a positive number of items, got {n}")
        with self._lock:
            effective, model = self._learned()
            if model is None:
                raise InvalidParameterError(f"concept {self.name!r} has no labels yet: label some items first")
            rows = estimating.draw(self._audit_context(), effective, model, self._audit, n, labeler)
        return self.project.items(rows, np.full(rows.size, np.nan))

    def top(self, n: int = 20) -> list[Item]:
        """Unlabeled pool items ranked by the current model over the whole pool (scored in blocks)."""
        with self._lock:
            effective, model = self._learned()
            if model is None:
                return []
            rows, scores = insight.top_rows(self.project.dataset, effective, model, n)
        return self.project.items(rows, scores)

    def scores(self, rows: np.ndarray) -> np.ndarray | None:
        """P(positive) of some rows under the concept's current model (what `top` ranks by); None
        before the model has learned any label (exports then carry no predictions)."""
        from sealsearch.active.learner import positive_proba

        with self._lock:
            _, model = self._learned()
            if model is None:
                return None
            vectors = self.project.dataset.embeddings.take(np.asarray(rows, dtype=np.int64))
            return np.asarray(positive_proba(model.loop.model, vectors), dtype=np.float64)

    def labels_frame(self, newest: int | None = None) -> pd.DataFrame:
        """Final label per item: id, text, uri, concept, label, labeler, time (ISO 8601, UTC), in
        labeling order; only the `newest` last ones when given (their items alone are read)."""
        return insight.labels_frame(self.name, self.effective(), self.project.item_table, newest)

    def model_bytes(self) -> bytes:
        """The trained classifier, joblib-dumped (load with joblib.load(io.BytesIO(...)))."""
        with self._lock:
            _, model = self._learned()
            if model is None:
                raise InvalidParameterError(
                    f"concept {self.name!r} has no labels the model has learned yet: label a whole batch "
                    "(or ask for a new batch) first"
                )
            return insight.model_bytes(model.loop.model)

    def summary(self) -> dict[str, Any]:
        """The concept's row of `project.concepts()`."""
        return insight.summary(self.settings, self.effective())
