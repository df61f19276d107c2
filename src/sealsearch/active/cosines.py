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
renewed when the mean has moved by more than a quarter of the largest cosine.
"""

from __future__ import annotations

import numpy as np

from sealsearch._util import single_threaded_blas
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.scan import score_rows

RENEW = 0.25
"""Renew the reference when |mean - reference| exceeds this share of the largest cosine."""
SLACK = 1e-4
"""Relative slack for float32 dot products (worst-case rounding of 256 products: 1.5e-5)."""


class CosineBounds:
    """Upper bounds of cos(row, mean) for `rows` of a store, for any mean asked about."""

    def __init__(self, embeddings: EmbeddingStore, rows: np.ndarray, renormalise: bool):
        self.embeddings, self.rows, self.renormalise = embeddings, rows, renormalise
        self.reference: np.ndarray | None = None
        self.cosines = np.empty(0, dtype=np.float32)
        self.largest = 0.0
        self.passes = 0  # how many times the rows were read (a test counts them)

    def bounds(self, mean: np.ndarray) -> np.ndarray:
        """float32, aligned with `rows`."""
        mean = np.asarray(mean, dtype=np.float64)
        shift = np.inf if self.reference is None else float(np.linalg.norm(mean - self.reference))
        if shift > RENEW * self.largest:
            self._renew(mean)
            shift = 0.0
        slack = SLACK * (np.linalg.norm(self.reference) + np.linalg.norm(mean)) + shift * (1 + 1e-6) + 1e-30
        return self.cosines + np.float32(slack)

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
            self.cosines = score_rows(self.embeddings, self.rows, cosine).astype(np.float32)
        self.reference, self.passes = mean, self.passes + 1
        self.largest = float(np.abs(self.cosines).max(initial=0.0))
