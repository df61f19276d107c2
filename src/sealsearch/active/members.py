"""What a candidate pool is (`CandidatePool`, the loop's view of one) and a growing pool's
bookkeeping: membership as a byte map, vectors in an append-only buffer.

A SEALS round changes the pool by at most b·k rows (the neighbours of b newly labeled rows) and
b leavers, while the pool holds |labeled|·k rows. So nothing here touches every member per
change: the state of every dataset row is one byte (outside, member, labeled), a joining row is
appended to the buffer (capacity doubles), and a leaving row only flips its byte; its buffer
entry stays, dead, until dead entries are a quarter of the buffer and it is compacted (in order).
Reading the members is one byte gather over the buffer's rows (the live mask), cached until
the next change.

Members are kept in the order they joined, which the label log fixes (within one change, in
ascending row order), so a replayed pool lists them in the same order as the live one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sealsearch.active.strategies import select_top
from sealsearch.data.scan import RowFunction

OUTSIDE, MEMBER, LABELED = 0, 1, 2


@dataclass(frozen=True)
class PoolCapabilities:
    """What a pool accepts beyond `CandidatePool`'s minimum, declared as its `capabilities`
    attribute (a pool without one has none): the loop passes these keywords only to pools
    that declare them, instead of reading the pool's signatures.

    `vectors`: `update(..., vectors=)` takes the labeled rows' float32 vectors (aligned with
    `labeled_rows`), so a labeled vector is read once. `top_n`: `score_candidates(..., n=)`
    takes how many the caller will take. `prune`: `score_candidates(..., prune=True)` may give
    -inf to candidates that cannot be among those n best.
    """

    vectors: bool = False
    top_n: bool = False
    prune: bool = False


NO_CAPABILITIES = PoolCapabilities()
ALL_CAPABILITIES = PoolCapabilities(vectors=True, top_n=True, prune=True)
"""What the built-in pools declare."""


def capabilities_of(pool: object) -> PoolCapabilities:
    """The pool's declared `capabilities`, or none for a pool that declares nothing."""
    declared = getattr(pool, "capabilities", NO_CAPABILITIES)
    return declared if isinstance(declared, PoolCapabilities) else NO_CAPABILITIES


class CandidatePool(Protocol):
    """What the loop needs from a pool; `update` receives every newly labeled row exactly once.
    A pool may also declare `capabilities` (a `PoolCapabilities`) to be passed more."""

    name: str

    def update(self, labeled_rows: np.ndarray, labels: np.ndarray | None = None) -> None:
        """With `capabilities.vectors`, also `vectors=` (the labeled rows' float32 vectors)."""
        ...

    def candidates(self) -> np.ndarray:
        """Row numbers that may be selected next, in an order fixed by the label log (ascending
        for All, joining order for SEALS)."""
        ...

    @property
    def size(self) -> int: ...

    def mean_vector(self) -> np.ndarray:
        """Mean of the candidates' vectors (float64); zeros when the pool is empty."""
        ...

    def candidate_vectors(self) -> np.ndarray:
        """The candidates' float32 vectors as one matrix aligned with `candidates()` (read-only),
        for batch selectors that need them all at once (k-center)."""
        ...

    def score_candidates(self, score: RowFunction) -> np.ndarray:
        """`score` (row-wise, see sealsearch.data.scan) over the candidates' vectors in blocks, on every
        core; one value per candidate, aligned with `candidates()`. With `capabilities.top_n`
        and `.prune`, also `n=` and `prune=` (see `PoolCapabilities`)."""
        ...


class MemberBuffer:
    """Row states over `n_rows` dataset rows and the members' vectors (float32 or uint8 codes)."""

    def __init__(self, n_rows: int, dim: int, dtype: np.dtype):
        self.state = np.zeros(int(n_rows), dtype=np.uint8)
        self._rows = np.empty(0, dtype=np.int64)
        self._values = np.empty((0, int(dim)), dtype=dtype)
        self._count = 0  # buffer entries in use, live or dead
        self.size = 0  # live entries: the members
        self._live: np.ndarray | None = None  # cached mask over the entries in use
        self._member_rows: np.ndarray | None = None  # cached members(), dropped with the mask

    def outside(self, rows: np.ndarray) -> np.ndarray:
        """The rows (unique, ascending) that are neither members nor labeled."""
        return rows[self.state[rows] == OUTSIDE]

    def join(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Append rows that are outside (the caller checked) with their vectors or codes."""
        n = rows.size
        if n == 0:
            return
        if self._count + n > self._rows.size:
            capacity = max(2 * self._rows.size, self._count + n, 1024)
            grown_rows = np.empty(capacity, dtype=np.int64)
            grown_rows[: self._count] = self._rows[: self._count]
            grown_values = np.empty((capacity, self._values.shape[1]), dtype=self._values.dtype)
            grown_values[: self._count] = self._values[: self._count]
            self._rows, self._values = grown_rows, grown_values
        self._rows[self._count : self._count + n] = rows
        self._values[self._count : self._count + n] = values
        self._count += n
        self.size += n
        self.state[rows] = MEMBER
        self._live = None

    def label(self, rows: np.ndarray) -> np.ndarray:
        """Mark rows (unique, not labeled before) labeled; returns the mask of those that were members."""
        leaving = self.state[rows] == MEMBER
        self.state[rows] = LABELED
        self.size -= int(np.count_nonzero(leaving))
        if leaving.any():
            self._live = None
            if 4 * (self._count - self.size) > self._count:
                self._compact()
        return leaving

    def _compact(self) -> None:
        live = self.live_mask()
        keep = np.flatnonzero(live)
        self._rows[: keep.size] = self._rows[keep]
        self._values[: keep.size] = self._values[keep]
        self._count = keep.size
        self._live = None

    def live_mask(self) -> np.ndarray:
        """Which buffer entries in use are members (one byte gather, cached until a change)."""
        if self._live is None:
            self._live = self.state[self._rows[: self._count]] == MEMBER
            self._member_rows = None
        return self._live

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, values) of every entry in use, dead ones included (views, read-only use)."""
        return self._rows[: self._count], self._values[: self._count]

    def members(self) -> np.ndarray:
        """Member rows in joining order (read-only; cached until the next change)."""
        live = self.live_mask()
        if self._member_rows is None:
            rows, _ = self.entries()
            self._member_rows = rows[live]
            self._member_rows.flags.writeable = False
        return self._member_rows

    def member_values(self) -> np.ndarray:
        """The members' vectors or codes (a copy), aligned with `members()`."""
        _, values = self.entries()
        values = values[self.live_mask()]
        values.flags.writeable = False
        return values


def rescore_top(scores: np.ndarray, rows: np.ndarray, m: int, exact_scores: Callable[[np.ndarray], np.ndarray]) -> None:
    """Replace the top m approximate `scores` (of candidate `rows`) in place with
    `exact_scores(rows)`, asked for in ascending row order (one forward pass over the file); a
    candidate outside the re-ranked set is capped below the lowest exact score, so it never
    outranks one inside it."""
    top = select_top(scores, m)
    order = np.argsort(rows[top])
    exact = np.empty(top.size, dtype=np.float64)
    exact[order] = exact_scores(rows[top][order])
    rest = np.ones(scores.size, dtype=bool)
    rest[top] = False
    if exact.size:
        np.minimum(scores, np.nextafter(exact.min(), -np.inf), out=scores, where=rest)
    scores[top] = exact
