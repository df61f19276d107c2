"""Keep BLAS threads from fighting Faiss's OpenMP threads for the cores.

OpenBLAS threads keep spinning for a while after each call; Faiss's OpenMP threads then wait for
a core. Measured on 2 cores (WordNet demo, MLP-SEALS, k = 20, T = 1,000): 100 Flat queries took
13 ms alone but ~100 ms right after a logistic-regression fit, and a run spent 0.92 s in kNN;
with one BLAS thread it spends 0.16 s in kNN and training also drops from 0.11 s to 0.06 s. The
loop's matrices (labels × d, candidate chunks × d) are too small for threaded BLAS to pay off.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager

from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    # Built once: scanning the loaded libraries costs ~3 ms, limiting with a controller ~20 µs.
    # By the time the loop runs, numpy, scipy (via sklearn) and faiss are all loaded.
    return ThreadpoolController()


def single_threaded_blas() -> AbstractContextManager:
    """A context in which BLAS libraries run one thread; OpenMP (Faiss's search) is untouched."""
    return _controller().limit(limits=1, user_api="blas")
