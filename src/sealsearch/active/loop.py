"""The ask/tell core shared by simulations, scripts and a person labeling in the web app or the terminal.

`ask()` trains if the labels changed, scores the candidate pool and proposes the next batch;
`tell()` records labels and grows the pool; `skip()` sets rows aside that a person would not
label. Nothing here knows who answers: an oracle in a simulation, a notebook user, a web form.
`tell` is idempotent (a double-submitted batch is a no-op) and atomic (a conflicting label
rejects the whole call, recording nothing).

A loop is a function of its label log: the pool grows from the labels, the model is trained on
them, and the random numbers of a round come from `default_rng([seed, round])`, never from how
often `ask` ran. So `ActiveLoop.replay` rebuilds a live loop exactly — a labeling app keeps only
the log (round, row, label) and the skipped rows, and restarts where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from sealsearch._util import positive_int, single_threaded_blas
from sealsearch.active.fused import fused_row_function
from sealsearch.active.hygiene import (
    as_rows,
    first_of_each,
    name_rows,
    needs_renormalising,
    rows_outside,
    sorted_unique,
)
from sealsearch.active.learner import default_learner, fit_learner, positive_proba, proba_function
from sealsearch.active.members import capabilities_of
from sealsearch.active.pools import CandidatePool
from sealsearch.active.strategies import (
    DEFAULT_STRATEGY,
    Scorer,
    ScoringContext,
    Strategy,
    as_strategy,
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


LabelLog = Iterable[tuple[np.ndarray, np.ndarray]] | pd.DataFrame
"""What `ActiveLoop.replay` reads: the (rows, labels) of each `tell`, in order, or a table with
columns round, row, label (as `RunResult.labels` and `ActiveLoop.label_log` hold it)."""


def _log_rounds(log: LabelLog) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if not isinstance(log, pd.DataFrame):
        yield from log
        return
    missing = [c for c in ("round", "row", "label") if c not in log.columns]
    if missing:
        raise InvalidParameterError(f"a label log needs columns round, row, label; missing {missing}")
    for _, group in log.groupby("round", sort=True):
        yield group["row"].to_numpy(), group["label"].to_numpy()


class ActiveLoop:
    """Active learning / search over one concept with any candidate pool and strategy.

    `strategy` is a registered name (`STRATEGY_NAMES`), a `Strategy`, or a user's scorer
    `f(proba, context) -> scores` (higher is picked first). With `eligible_rows` (the pool split)
    `tell` and `skip` refuse any other row, so test rows never become training data.
    """

    def __init__(
        self,
        embeddings: EmbeddingStore,
        pool: CandidatePool,
        *,
        strategy: str | Strategy | Scorer = DEFAULT_STRATEGY,
        learner: BaseEstimator | None = None,
        batch_size: int = 100,
        seed: int = 0,
        dedup: float | None = None,
        eligible_rows: np.ndarray | None = None,
    ):
        self.batch_size = positive_int(batch_size, "batch size")
        if dedup is not None and not 0 < dedup < 1:
            raise InvalidParameterError(f"dedup is a cosine threshold in (0, 1), got {dedup}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise InvalidParameterError(f"seed must be a non-negative integer (it makes runs replayable), got {seed!r}")
        self.embeddings = embeddings
        self.pool = pool
        self.strategy = as_strategy(strategy)
        self.learner = learner if learner is not None else default_learner()
        self.dedup = dedup
        self.seed = int(seed)
        self.eligible_rows = None if eligible_rows is None else sorted_unique(eligible_rows)
        self.timings = Timings()
        self.round = 0
        self._log = _LabelLog()
        self._skipped = np.empty(0, dtype=np.int64)
        self._model: BaseEstimator | None = None
        self._model_size = -1
        self._pending: tuple[int, Batch] | None = None
        self._pool_can = capabilities_of(pool)

    @classmethod
    def replay(
        cls,
        embeddings: EmbeddingStore,
        pool: CandidatePool,
        log: LabelLog,
        *,
        skipped: np.ndarray | Iterable[int] | None = None,
        **settings: object,
    ) -> ActiveLoop:
        """The loop that telling `log` round by round (then skipping `skipped`) produces.

        With a freshly built `pool` and the live loop's settings (strategy, learner, batch_size,
        seed, dedup, eligible_rows), the result has the live loop's labels, rounds, pool and
        skipped rows, and its next `ask()` is the live loop's: nothing depends on when `ask` ran.
        """
        loop = cls(embeddings, pool, **settings)
        for rows, labels in _log_rounds(log):
            loop.tell(rows, labels)
        if skipped is not None:
            loop.skip(np.fromiter(skipped, dtype=np.int64) if not isinstance(skipped, np.ndarray) else skipped)
        return loop

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
    def label_log(self) -> pd.DataFrame:
        """Every label as (round, row, label) in labeling order: what `replay` needs."""
        return pd.DataFrame({"round": self.label_rounds, "row": self.labeled_rows, "label": self.labels})

    @property
    def n_labeled(self) -> int:
        return len(self._log.by_row)

    @property
    def skipped_rows(self) -> np.ndarray:
        """Rows set aside with `skip` and not labeled since (sorted)."""
        return self._skipped.copy()

    def _check_rows(self, rows: np.ndarray) -> None:
        if rows.size and (rows.min() < 0 or rows.max() >= self.embeddings.n):
            raise InvalidParameterError(f"rows must lie in 0..{self.embeddings.n - 1}")
        if self.eligible_rows is not None:
            outside = rows[rows_outside(self.eligible_rows, rows)]
            if outside.size:
                raise InvalidParameterError(
                    f"rows {name_rows(np.unique(outside))} are outside the loop's eligible rows (the pool "
                    "split); test-split rows can never be labeled or skipped"
                )

    def tell(self, batch_or_rows: Batch | np.ndarray, labels: np.ndarray) -> int:
        """Record labels (0/1) for rows; returns how many were new.

        Rows already labeled with the same value are skipped; a different value raises
        `LabelConflictError` before anything is recorded. New labels form one round. A `Batch`
        must come from this round's `ask`: an older one is refused (its rows were chosen from a
        pool that has changed since), unless every row already carries the given label — a
        double-submitted form stays harmless. A skipped row that is told becomes a label.
        """
        batch = batch_or_rows if isinstance(batch_or_rows, Batch) else None
        rows = as_rows(batch.rows if batch else batch_or_rows)
        try:
            labels = np.asarray(labels).ravel()
        except (ValueError, TypeError):
            raise InvalidParameterError("labels must be a flat list of 0 (negative) or 1 (positive)") from None
        if rows.shape != labels.shape:
            raise InvalidParameterError(f"tell got {rows.size} rows but {labels.size} labels")
        if not np.isin(labels, (0, 1)).all():
            raise InvalidParameterError("labels must be 0 (negative) or 1 (positive)")
        self._check_rows(rows)
        labels = labels.astype(np.int8)
        known = self._log.by_row
        if batch is not None and batch.round != self.round:
            if all(known.get(row) == label for row, label in zip(rows.tolist(), labels.tolist(), strict=True)):
                return 0
            raise InvalidParameterError(
                f"this batch was proposed in round {batch.round} but the loop is at round {self.round}; "
                "ask() for a new batch (or tell the rows themselves)"
            )
        rows, labels = first_of_each(rows, labels)
        fresh = np.fromiter((row not in known for row in rows.tolist()), dtype=bool, count=rows.size)
        for row, label in zip(rows[~fresh].tolist(), labels[~fresh].tolist(), strict=True):
            if known[row] != label:
                raise LabelConflictError(
                    f"row {row} is already labeled {known[row]}; a conflicting label {label} was refused"
                )
        rows, labels = rows[fresh], labels[fresh]
        if rows.size == 0:
            return 0
        vectors = self.embeddings.gather(rows)  # scattered rows (see EmbeddingStore.gather)
        self._log.rows.append(rows)
        self._log.labels.append(labels)
        self._log.rounds.append(np.full(rows.size, self.round, dtype=np.int64))
        self._log.vectors.append(vectors)
        known.update(zip(rows.tolist(), labels.tolist(), strict=True))
        self._skipped = np.setdiff1d(self._skipped, rows, assume_unique=True)
        with self._timed("knn"), single_threaded_blas():
            if self._pool_can.vectors:
                self.pool.update(rows, labels, vectors=vectors)
            else:
                self.pool.update(rows, labels)
        self.round += 1
        self._pending = None
        return int(rows.size)

    def skip(self, rows: np.ndarray) -> int:
        """Never propose these rows again (a person could not or would not label them); returns
        how many were newly skipped. They are not labels: no training, no pool growth, and the
        round stays the same. Labeled rows are ignored; a skipped row may still be told later."""
        rows = np.unique(as_rows(rows))
        self._check_rows(rows)
        labeled = np.fromiter((row in self._log.by_row for row in rows.tolist()), dtype=bool, count=rows.size)
        new = np.setdiff1d(rows[~labeled], self._skipped, assume_unique=True)
        if new.size:
            self._skipped = np.union1d(self._skipped, new)
            self._pending = None
        return int(new.size)

    # -- model ---------------------------------------------------------------------------
    def fit(self) -> BaseEstimator:
        """Train the learner on every label so far if they changed since the last fit; returns it."""
        if self.n_labeled == 0:
            raise InvalidParameterError("no labels yet: tell() a seed set before asking or training")
        if self._model is None or self._model_size != self.n_labeled:
            X = _concat(self._log.vectors, np.float32, self.embeddings.dim)
            with self._timed("train"), single_threaded_blas():
                self._model = fit_learner(self.learner, X, self.labels)
            self._model_size = self.n_labeled
        return self._model

    @property
    def model(self) -> BaseEstimator:
        """The model of the last `fit()` (which `ask` and `predict_proba` call); reading it never
        trains, so it may predate the latest labels."""
        if self._model is None:
            raise InvalidParameterError("the model is not trained yet: call fit() (ask() and predict_proba() do)")
        return self._model

    def predict_proba(
        self, rows: np.ndarray, model: BaseEstimator | None = None, *, workers: int | None = None
    ) -> np.ndarray:
        """P(positive) for arbitrary rows, in blocks (sealsearch.data.scan) so huge row sets stay
        within memory. Trains first (`fit`) when the labels changed, unless `model` (a fitted
        learner this loop returned earlier) is given: later fits never change a fitted model, so
        scoring with it is safe while the loop goes on learning in another thread. `workers`: scan
        threads (default: one per core)."""
        rows = as_rows(rows)
        if rows.size and (rows.min() < 0 or rows.max() >= self.embeddings.n):
            raise InvalidParameterError(f"rows must lie in 0..{self.embeddings.n - 1}")
        model = self.fit() if model is None else model
        with single_threaded_blas():
            return score_rows(self.embeddings, rows, proba_function(model), workers=workers)

    # -- selection -----------------------------------------------------------------------
    def ask(self, n: int | None = None) -> Batch:
        """The next batch (at most n rows, default batch_size) from the candidate pool, never a
        skipped row. Trains first when the strategy reads the model.

        Asking again before telling returns the same batch, so a re-rendered page or a retried
        request does not propose different rows.
        """
        n = self.batch_size if n is None else positive_int(n, "ask's n")
        if self._pending is not None and self._pending[0] == n:
            return self._pending[1]
        model = self.fit() if self.strategy.uses_model else None
        rng = np.random.default_rng([self.seed, self.round])
        with self._timed("select"), single_threaded_blas():
            candidates = self.pool.candidates()
            kept = ~np.isin(candidates, self._skipped) if self._skipped.size else None
            if self.strategy.kind == "selector":
                vectors = self.pool.candidate_vectors()
                if kept is not None:
                    candidates, vectors = candidates[kept], vectors[kept]
                labeled = _concat(self._log.vectors, np.float32, self.embeddings.dim)
                ctx = ScoringContext(vectors, self.pool.mean_vector(), rng, labeled)
                picks = np.asarray(self.strategy.function(ctx, n), dtype=np.int64)
                batch = Batch(self.round, candidates[picks], np.full(picks.size, np.nan))
            else:
                # Scored over the whole pool, then skipped rows dropped: the random draws and the
                # scores do not depend on when rows were skipped.
                scores = self._scores(candidates, model, rng, n)
                if kept is not None:
                    candidates, scores = candidates[kept], scores[kept]
                if self.dedup is None:
                    picks = select_top(scores, n)
                else:
                    picks = select_top_distinct(
                        scores, lambda positions: self.embeddings.take(candidates[positions]), n, self.dedup
                    )
                batch = Batch(self.round, candidates[picks], scores[picks])
        self._pending = (n, batch)
        return batch

    def _scores(
        self, candidates: np.ndarray, model: BaseEstimator | None, rng: np.random.Generator, n: int
    ) -> np.ndarray:
        scorer = self.strategy.function
        pool_mean = self.pool.mean_vector()

        def checked(scores: np.ndarray, n: int) -> np.ndarray:
            scores = np.asarray(scores, dtype=np.float64)
            if scores.shape != (n,):  # a user's scorer: name the mistake, not numpy's broadcast
                raise InvalidParameterError(
                    f"strategy {self.strategy.name!r} returned scores of shape {scores.shape} for {n} candidates"
                )
            return scores

        if model is None:
            # Model-free scorers read no vector: one call over every candidate, in candidate order.
            empty = np.empty((0, self.embeddings.dim), dtype=np.float32)
            return checked(
                scorer(np.full(candidates.size, np.nan), ScoringContext(empty, pool_mean, rng)), candidates.size
            )

        def score(vectors: np.ndarray) -> np.ndarray:
            # Row-wise (model scorers draw no random numbers), so the pool may run blocks in parallel.
            return checked(
                scorer(positive_proba(model, vectors), ScoringContext(vectors, pool_mean, rng)), len(vectors)
            )

        # A linear learner with a built-in scorer: the same scores from one float32 product per
        # block, and (without dedup, which walks further down the ranking) only the n best
        # candidates, skipped ones included, scored exactly: the others are pruned to -inf.
        unit_rows = not needs_renormalising(self.embeddings)
        score = fused_row_function(self.strategy, model, pool_mean, unit_rows=unit_rows) or score
        options: dict[str, object] = {"n": n + self._skipped.size} if self._pool_can.top_n else {}
        if self._pool_can.prune:
            options["prune"] = self.dedup is None
        return self.pool.score_candidates(score, **options)

    @contextmanager
    def _timed(self, part: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            setattr(self.timings, part, getattr(self.timings, part) + time.perf_counter() - start)
