"""Per-row bounds of the cosine to a pool mean that moves: what lets an ID round on the All pool
cost what a MaxEnt round does.

Information density is entropy × cos(row, pool mean), and a pruned scan (sealsearch.active.fused)
needs a bound on the cosine of each row to skip the rows that cannot win. |mean| bounds every
row, loosely (on the synthetic 10^6 set the largest cosine is a third of it, and 8% of the rows
then survive the entropy cut). Each row's cosine to a reference mean is a property of the pool,
not of the model (the paper caches ID's average similarities for that reason); by
Cauchy-Schwarz, for unit rows, cos(x, mean) <= cos(x, reference) + |mean - reference|. Labeling
moves the All pool's mean little (the labeled rows are a few thousand of millions), so one pass
over the rows, the first time, gives bounds that stay tight for the whole run. The reference is
renewed when the mean has moved by more than a quarter of the largest cosine. The cosines are
kept per store row (4 bytes a row) and looked up block by block by the scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sealsearch._util import single_threaded_blas
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.scan import score_rows

RENEW = 0.25
"""Renew the reference when |mean - reference| exceeds this share of the largest cosine."""
SLACK = 1e-4
"""Relative slack for float32 dot products (worst-case rounding of 256 products: 1.5e-5)."""


@dataclass(frozen=True)
class RowBounds:
    """Bounds for a scan over `rows`: `bounds(start, stop)` for its output positions [start, stop),
    looked up per block (no array over all candidates is built each round); `most` bounds them all."""

    by_row: np.ndarray
    rows: np.ndarray
    slack: float
    most: float

    def __call__(self, start: int, stop: int) -> np.ndarray:
        return self.by_row[self.rows[start:stop]] + np.float32(self.slack)


class CosineBounds:
    """Upper bounds of cos(row, mean) for the `eligible` rows of a store, for any mean asked about."""

    def __init__(self, embeddings: EmbeddingStore, eligible: np.ndarray, renormalise: bool):
        self.embeddings, self.eligible, self.renormalise = embeddings, eligible, renormalise
        self.reference: np.ndarray | None = None
        self.by_row = np.zeros(0, dtype=np.float32)  # per store row (0 outside `eligible`)
        self.largest = 0.0
        self.passes = 0  # how many times the rows were read (a test counts them)

    def bounds(self, mean: np.ndarray, rows: np.ndarray) -> RowBounds:
        """Bounds of cos(row, mean) for a scan over `rows` (eligible rows, in the scan's order)."""
        mean = np.asarray(mean, dtype=np.float64)
        shift = np.inf if self.reference is None else float(np.linalg.norm(mean - self.reference))
        if shift > RENEW * self.largest:
            self._renew(mean)
            shift = 0.0
        slack = SLACK * (np.linalg.norm(self.reference) + np.linalg.norm(mean)) + shift * (1 + 1e-6) + 1e-30
        return RowBounds(self.by_row, rows, float(slack), (self.largest + float(slack)) * (1 + 1e-6))

    def _renew(self, mean: np.ndarray) -> None:
        target = mean.astype(np.float32)
        renormalise = self.renormalise

        def cosine(vectors: np.ndarray) -> np.ndarray:
            dots = vectors @ target
            if not renormalise:
                return dots
            norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
            return dots / np.where(norms > 0, norms, 1.0)

        with single_threaded_blas():  # one BLAS thread per block; the scan runs blocks on every core
            cosines = score_rows(self.embeddings, self.eligible, cosine).astype(np.float32)
        self.by_row = np.zeros(self.embeddings.n, dtype=np.float32)
        self.by_row[self.eligible] = cosines
        self.reference, self.passes = mean, self.passes + 1
        self.largest = float(cosines.max(initial=0.0))
