"""One concept's ActiveLoop, kept equal to a replay of its label log.

The log (sessions.labelstore) is the truth; the loop is derived state. `ConceptModel.sync` takes
the effective training labels — row -> (0/1, round) — and either tells the rounds the loop has
not seen yet, or, when a told label was undone or changed (ActiveLoop cannot forget a label),
rebuilds the loop and tells every round again. Both paths tell the same sequence (one `tell` per
round, rounds ascending, rows sorted inside a round), so a process that labeled live and one that
reopened the project afterwards hold the same loop and propose the same next batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import POOLS_USING_K, make_pool
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


class ConceptModel:
    """The loop of one concept and the labels it has been told."""

    def __init__(self, dataset: Dataset, settings: ConceptSettings, index: KnnIndex | None, graph: KnnGraph | None):
        self.dataset = dataset
        self.settings = settings
        self.index = index
        self.graph = graph
        self.loop = self._fresh_loop()
        self.told: TrainingLabels = {}
        self.rebuilds = 0

    def _fresh_loop(self) -> ActiveLoop:
        s = self.settings
        needs_index = s.pool in POOLS_USING_K
        pool = make_pool(
            s.pool, self.dataset.embeddings, self.dataset.split_rows("pool"),
            index=self.index if needs_index else None, graph=self.graph if needs_index else None,
            k=s.k, rng=np.random.default_rng(s.seed),
        )  # fmt: skip
        return ActiveLoop(self.dataset.embeddings, pool, strategy=s.strategy, batch_size=s.batch_size, seed=s.seed)

    def sync(self, labels: TrainingLabels) -> None:
        """Bring the loop to exactly `labels` (see the module docstring)."""
        if labels == self.told:
            return
        last_told = max((r for _, r in self.told.values()), default=-1)
        kept = all(labels.get(row) == value for row, value in self.told.items())
        fresh = {row: value for row, value in labels.items() if row not in self.told}
        if not kept or any(r <= last_told for _, r in fresh.values()):
            self.loop = self._fresh_loop()
            self.told = {}
            self.rebuilds += 1
            fresh = dict(labels)
        for round_ in sorted({r for _, r in fresh.values()}):
            rows = np.array(sorted(row for row, (_, r) in fresh.items() if r == round_), dtype=np.int64)
            self.loop.tell(rows, np.array([fresh[row][0] for row in rows.tolist()], dtype=np.int8))
        self.told = dict(labels)


def ask_excluding(loop: ActiveLoop, n: int, excluded: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """The loop's next n rows that are not in `excluded` (skipped or leased to someone else).

    Today's ActiveLoop has no `skip`: ask for as many extra rows as excluded candidates exist
    and drop them, which for ranking strategies gives the same rows as a pool without them. When
    `ActiveLoop.skip` lands, skipped rows move there and only leases remain here.
    """
    candidates = loop.pool.candidates()
    blocked = np.fromiter(excluded, dtype=np.int64, count=len(excluded))
    extra = int(np.isin(blocked, candidates).sum()) if blocked.size else 0
    m = min(n + extra, int(candidates.size))
    if m <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    batch = loop.ask(m)
    keep = ~np.isin(batch.rows, blocked)
    return batch.rows[keep][:n], batch.scores[keep][:n]
