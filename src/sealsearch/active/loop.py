"""The ask/tell core shared by simulations, scripts and (later) a person in the web app.

`ask()` trains if the labels changed, scores the candidate pool and proposes the next batch;
`tell()` records labels and grows the pool. Nothing here knows who answers: an oracle in a
simulation, a notebook user, a web form. `tell` is idempotent (a double-submitted batch is a
no-op) and atomic (a conflicting label rejects the whole call, recording nothing).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

from sealsearch._util import single_threaded_blas
from sealsearch.active.learner import default_learner, fit_learner, positive_proba
from sealsearch.active.pools import CandidatePool
from sealsearch.active.strategies import (
    SCORERS,
    SELECTORS,
    USES_MODEL,
    ScoringContext,
    check_strategy,
    select_top,
    select_top_distinct,
)
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.scan import score_rows
from sealsearch.errors import InvalidParameterError, LabelConflictError


@dataclass(frozen=True)
class Batch:
    """Rows proposed by `ask`, best first, with the strategy's scores (NaN for batch selectors)."""

    round: int
    rows: np.ndarray
    scores: np.ndarray


@dataclass
class Timings:
    """Cumulative seconds, split as in the paper's Table 2."""

    select: float = 0.0
    knn: float = 0.0
    train: float = 0.0


@dataclass
class _LabelLog:
    rows: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    rounds: list[np.ndarray] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    by_row: dict[int, int] = field(default_factory=dict)


def _concat(parts: list[np.ndarray], dtype: type, width: int | None = None) -> np.ndarray:
    if parts:
        return np.concatenate(parts)
    return np.empty((0, width) if width else 0, dtype=dtype)


class ActiveLoop:
    """Active learning / search over one concept with any candidate pool and strategy."""

    def __init__(
        self,
        embeddings: EmbeddingStore,
        pool: CandidatePool,
        *,
        strategy: str = "maxent",
        learner: BaseEstimator | None = None,
        batch_size: int = 100,
        seed: int = 0,
        dedup: float | None = None,
    ):
        if batch_size <= 0:
            raise InvalidParameterError(f"batch size must be positive, got {batch_size}")
        if dedup is not None and not 0 < dedup < 1:
            raise InvalidParameterError(f"dedup is a cosine threshold in (0, 1), got {dedup}")
        self.embeddings = embeddings
        self.pool = pool
        self.strategy = check_strategy(strategy)
        self.learner = learner if learner is not None else default_learner()
        self.batch_size = int(batch_size)
        self.dedup = dedup
        self.rng = np.random.default_rng(seed)
        self.timings = Timings()
        self.round = 0
        self._log = _LabelLog()
        self._model: BaseEstimator | None = None
        self._model_size = -1
        self._pending: tuple[int, Batch] | None = None

    # -- labels --------------------------------------------------------------------------
    @property
    def labeled_rows(self) -> np.ndarray:
        return _concat(self._log.rows, np.int64)

    @property
    def labels(self) -> np.ndarray:
        return _concat(self._log.labels, np.int8)

    @property
    def label_rounds(self) -> np.ndarray:
        return _concat(self._log.rounds, np.int64)

    @property
    def n_labeled(self) -> int:
        return len(self._log.by_row)

    def tell(self, batch_or_rows: Batch | np.ndarray, labels: np.ndarray) -> int:
        """Record labels (0/1) for rows; returns how many were new.

        Rows already labeled with the same value are skipped; a different value raises
        `LabelConflictError` before anything is recorded. New labels form one round.
        """
        rows = batch_or_rows.rows if isinstance(batch_or_rows, Batch) else batch_or_rows
        rows = np.asarray(rows, dtype=np.int64).ravel()
        labels = np.asarray(labels).ravel()
        if rows.shape != labels.shape:
            raise InvalidParameterError(f"tell got {rows.size} rows but {labels.size} labels")
        if not np.isin(labels, (0, 1)).all():
            raise InvalidParameterError("labels must be 0 (negative) or 1 (positive)")
        if rows.size and (rows.min() < 0 or rows.max() >= self.embeddings.n):
            raise InvalidParameterError(f"rows must lie in 0..{self.embeddings.n - 1}")
        labels = labels.astype(np.int8)
        _, first = np.unique(rows, return_index=True)
        if first.size != rows.size:
            seen: dict[int, int] = {}
            for row, label in zip(rows.tolist(), labels.tolist(), strict=True):
                if seen.setdefault(row, label) != label:
                    raise LabelConflictError(f"row {row} was given both labels in one call")
            first = np.sort(first)
            rows, labels = rows[first], labels[first]
        known = self._log.by_row
        fresh = np.fromiter((row not in known for row in rows.tolist()), dtype=bool, count=rows.size)
        for row, label in zip(rows[~fresh].tolist(), labels[~fresh].tolist(), strict=True):
            if known[row] != label:
                raise LabelConflictError(
                    f"row {row} is already labeled {known[row]}; a conflicting label {label} was refused"
                )
        rows, labels = rows[fresh], labels[fresh]
        if rows.size == 0:
            return 0
        vectors = self.embeddings.take(rows)
        self._log.rows.append(rows)
        self._log.labels.append(labels)
        self._log.rounds.append(np.full(rows.size, self.round, dtype=np.int64))
        self._log.vectors.append(vectors)
        known.update(zip(rows.tolist(), labels.tolist(), strict=True))
        with self._timed("knn"), single_threaded_blas():
            self.pool.update(rows, labels)
        self.round += 1
        self._pending = None
        return int(rows.size)

    # -- model ---------------------------------------------------------------------------
    @property
    def model(self) -> BaseEstimator:
        """The learner trained on every label so far (retrained only when labels changed)."""
        if self.n_labeled == 0:
            raise InvalidParameterError("no labels yet: tell() a seed set before asking or training")
        if self._model_size != self.n_labeled:
            X = _concat(self._log.vectors, np.float32, self.embeddings.dim)
            with self._timed("train"), single_threaded_blas():
                self._model = fit_learner(self.learner, X, self.labels)
            self._model_size = self.n_labeled
        return self._model

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """P(positive) for arbitrary rows, in blocks (sealsearch.data.scan) so huge row sets stay within memory."""
        model = self.model
        with single_threaded_blas():
            return score_rows(self.embeddings, np.asarray(rows, dtype=np.int64), lambda v: positive_proba(model, v))

    # -- selection -----------------------------------------------------------------------
    def ask(self, n: int | None = None) -> Batch:
        """The next batch (at most n rows, default batch_size) from the candidate pool.

        Asking again before telling returns the same batch, so a re-rendered page or a retried
        request does not propose different rows.
        """
        n = self.batch_size if n is None else int(n)
        if n <= 0:
            raise InvalidParameterError(f"ask needs n > 0, got {n}")
        if self._pending is not None and self._pending[0] == n:
            return self._pending[1]
        model = self.model if self.strategy in USES_MODEL else None
        with self._timed("select"), single_threaded_blas():
            candidates = self.pool.candidates()
            if self.strategy in SELECTORS:
                ctx = self._context(self.pool.candidate_vectors())
                picks = SELECTORS[self.strategy](ctx, n)
                batch = Batch(self.round, candidates[picks], np.full(picks.size, np.nan))
            else:
                scores = self._scores(candidates, model)
                if self.dedup is None:
                    picks = select_top(scores, n)
                else:
                    picks = select_top_distinct(
                        scores, lambda positions: self.embeddings.take(candidates[positions]), n, self.dedup
                    )
                batch = Batch(self.round, candidates[picks], scores[picks])
        self._pending = (n, batch)
        return batch

    def _context(self, vectors: np.ndarray) -> ScoringContext:
        labeled = _concat(self._log.vectors, np.float32, self.embeddings.dim)
        return ScoringContext(vectors, self.pool.mean_vector(), self.rng, labeled)

    def _scores(self, candidates: np.ndarray, model: BaseEstimator | None) -> np.ndarray:
        scorer = SCORERS[self.strategy]
        pool_mean = self.pool.mean_vector()
        if model is None:
            # Random order reads no vector: one draw per candidate, in candidate order.
            empty = np.empty((0, self.embeddings.dim), dtype=np.float32)
            return scorer(np.full(candidates.size, np.nan), ScoringContext(empty, pool_mean, self.rng))

        def score(vectors: np.ndarray) -> np.ndarray:
            # Row-wise (model scorers draw no random numbers), so the pool may run blocks in parallel.
            return scorer(positive_proba(model, vectors), ScoringContext(vectors, pool_mean, self.rng))

        return self.pool.score_candidates(score)

    @contextmanager
    def _timed(self, part: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            setattr(self.timings, part, getattr(self.timings, part) + time.perf_counter() - start)
