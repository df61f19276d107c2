"""One concept's ActiveLoop, kept equal to a replay of its label log.

The log (sessions.labelstore) is the truth; the loop is derived state. `ConceptModel.sync` takes
the effective training labels of closed rounds — row -> (0/1, the recorded round that holds the
event, see sessions.rounds) — and the skipped rows, and either tells the
rounds the loop has not seen yet and skips the new skips, or, when a told label was undone or
changed or a skip was taken back (ActiveLoop forgets neither), rebuilds the loop with
`ActiveLoop.replay`. Both paths tell the same sequence (one `tell` per round, rounds ascending,
rows sorted inside a round) and skip the same rows; the loop draws its random numbers from
`default_rng([seed, round])`, so a process that labeled live and one that reopened the project
afterwards hold the same loop and propose the same next batch, whatever the strategy.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sealsearch.active.estimate import ScoreSums
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool, pools_using_k
from sealsearch.data.codes import PoolCodes
from sealsearch.data.dataset import Dataset
from sealsearch.index import KnnIndex
from sealsearch.index.graph import KnnGraph

TrainingLabels = dict[int, tuple[int, int]]
"""row -> (label 0/1, round of the event that set it), pool-split rows only."""


@dataclass(frozen=True)
class ConceptSettings:
    """A row of the `concepts` table."""

    id: int
    name: str
    strategy: str
    pool: str
    k: int
    batch_size: int
    query: str | None
    seed: int
    created: float


INLINE_SCAN_ROWS = 2_000_000  # pools this large are scored for the estimate in the background


class ConceptModel:
    """The loop of one concept and the labels and skips it has been told."""

    def __init__(
        self, dataset: Dataset, settings: ConceptSettings, index: KnnIndex | None, graph: KnnGraph | None,
        codes: PoolCodes | None = None,
    ):  # fmt: skip
        self.dataset = dataset
        self.settings = settings
        self.index = index
        self.graph = graph
        self.codes = codes  # the project's codes, for a seals pool (None: the exact buffer)
        self.loop = self._replayed({}, set())
        self.told: TrainingLabels = {}
        self.skipped: set[int] = set()
        self.rebuilds = 0
        self._scored: tuple[object, np.ndarray] | None = None
        self._sums: tuple[np.ndarray, ScoreSums] | None = None  # the last scanned scores' sums
        self._scan_lock = threading.Lock()
        self._scanning: threading.Thread | None = None
        self._scan_next: object | None = None

    def pool_scores(self) -> np.ndarray:
        """P(positive) of every pool row (in `split_rows("pool")` order) under the current model.

        Scored once per trained model and kept: "what the model finds" is asked again and again
        between two rounds (every page view, every refresh), and a scan of a 10^7 pool takes
        seconds while masking labeled rows out of a cached array takes milliseconds. The cache is
        keyed on the model object itself (a new `fit` makes a new one), so it is never stale.
        """
        return self.score_pool(self.loop.fit())

    def latest_pool_scores(self, fitted: object) -> tuple[np.ndarray | None, bool]:
        """(scores, current) for the recall estimate: `fitted`'s pool scores when they exist, or
        when the pool is small enough to scan now (below INLINE_SCAN_ROWS: ~0.3 s at 10^6).
        Above it a scan takes seconds (10^7) to tens of seconds (10^8), so it runs in one
        background thread, on one core at the lowest CPU priority, and until it ends the last
        model's scores stand in (current=False; None before the first scan ends): labeling keeps
        the machine, and the estimate follows a round behind."""
        scored = self._scored
        if scored is not None and scored[0] is fitted:
            return scored[1], True
        if self.dataset.split_rows("pool").size < INLINE_SCAN_ROWS:
            return self.score_pool(fitted), True
        with self._scan_lock:
            if self._scanning is not None and self._scanning.is_alive():
                self._scan_next = fitted  # scanned when the running scan ends (only the newest waits)
            else:
                self._scanning = threading.Thread(target=self._scan, args=(fitted,), daemon=True, name="seals-scan")
                self._scanning.start()
        return (scored[1] if scored is not None else None), False

    def _scan(self, fitted: object) -> None:
        with contextlib.suppress(AttributeError, OSError):  # Linux: a thread's own nice value (by its native id)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while fitted is not None:
            scores = self.loop.predict_proba(self.dataset.split_rows("pool"), model=fitted, workers=1)
            self.sums_of(scores)  # in this thread too: the estimate then subtracts labeled rows only
            with self._scan_lock:
                self._scored = (fitted, scores)
                fitted, self._scan_next = self._scan_next, None

    def sums_of(self, scores: np.ndarray) -> ScoreSums:
        """`ScoreSums` of pool scores this model scanned, kept with the last scores summed: the
        estimate needs the unlabeled pool's sums at every look, and summing 9·10^7 scores under
        the session's lock made the next batch wait ~1 s at 10^8."""
        cached = self._sums
        if cached is not None and cached[0] is scores:
            return cached[1]
        sums = ScoreSums.of(scores)
        self._sums = (scores, sums)
        return sums

    def score_pool(self, fitted: object) -> np.ndarray:
        """`pool_scores()` under `fitted` (a model `loop.fit()` returned), cached the same way.
        Callable without the session's lock: a scan of a 10^8 pool takes tens of seconds, and
        labeling must go on meanwhile (later fits make new models and never touch `fitted`)."""
        scored = self._scored
        if scored is not None and scored[0] is fitted:
            return scored[1]
        scores = self.loop.predict_proba(self.dataset.split_rows("pool"), model=fitted)
        self._scored = (fitted, scores)
        return scores

    def _replayed(self, labels: TrainingLabels, skipped: set[int]) -> ActiveLoop:
        """A fresh loop told `labels` round by round, then skipping `skipped`."""
        s = self.settings
        needs_index = s.pool in pools_using_k()
        pool_rows = self.dataset.split_rows("pool")
        pool = make_pool(
            s.pool, self.dataset.embeddings, pool_rows,
            index=self.index if needs_index else None, graph=self.graph if needs_index else None,
            k=s.k, rng=np.random.default_rng(s.seed), codes=self.codes if needs_index else None,
        )  # fmt: skip
        return ActiveLoop.replay(
            self.dataset.embeddings, pool, _label_log(labels), skipped=np.array(sorted(skipped), dtype=np.int64),
            strategy=s.strategy, batch_size=s.batch_size, seed=s.seed, eligible_rows=pool_rows,
        )  # fmt: skip

    def sync(self, labels: TrainingLabels, skipped: set[int] | None = None) -> None:
        """Bring the loop to exactly `labels` and `skipped` (see the module docstring)."""
        skipped = set() if skipped is None else set(skipped)
        if labels == self.told and skipped == self.skipped:
            return
        last_told = max((r for _, r in self.told.values()), default=-1)
        kept = all(labels.get(row) == value for row, value in self.told.items())
        fresh = {row: value for row, value in labels.items() if row not in self.told}
        unskipped = self.skipped - skipped - labels.keys()  # a skip undone: the loop cannot forget it
        if not kept or unskipped or any(r <= last_told for _, r in fresh.values()):
            self.loop = self._replayed(labels, skipped)
            self.rebuilds += 1
        else:
            log = _label_log(fresh)
            for _, group in log.groupby("round", sort=True):
                self.loop.tell(group["row"].to_numpy(), group["label"].to_numpy())
            new = skipped - self.skipped
            if new:
                self.loop.skip(np.array(sorted(new), dtype=np.int64))
        self.told, self.skipped = dict(labels), skipped


def _label_log(labels: TrainingLabels) -> pd.DataFrame:
    """(round, row, label) sorted by round, then row: the one order both sync paths tell."""
    rows = sorted(labels, key=lambda row: (labels[row][1], row))
    return pd.DataFrame({
        "round": np.array([labels[row][1] for row in rows], dtype=np.int64),
        "row": np.array(rows, dtype=np.int64),
        "label": np.array([labels[row][0] for row in rows], dtype=np.int8),
    })  # fmt: skip


def ask_excluding(loop: ActiveLoop, n: int, leased: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """The loop's next n rows that are not leased to someone else.

    Skipped rows are part of the loop's state (`loop.skip`), so only leases are excluded here:
    ask for as many extra rows as leased candidates exist and drop those, which for ranking
    strategies gives the rows a pool without them would give.
    """
    candidates = loop.pool.candidates()
    open_rows = candidates[~np.isin(candidates, loop.skipped_rows)]
    blocked = np.fromiter(leased, dtype=np.int64, count=len(leased))
    extra = int(np.isin(blocked, open_rows).sum()) if blocked.size else 0
    m = min(n + extra, int(open_rows.size))
    if m <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    batch = loop.ask(m)
    keep = ~np.isin(batch.rows, blocked)
    return batch.rows[keep][:n], batch.scores[keep][:n]
