"""The check both kinds of codes pass (SQ8 in tests/data/test_codes.py, the index's own in
tests/index/test_shared_codes.py): a seals pool on codes asks for the batches the exact pool asks for."""

from __future__ import annotations

import numpy as np

from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool
from sealsearch.experiments.simulate import GroundTruthOracle, seed_set


def batches(store, pool_rows: np.ndarray, index, positives: np.ndarray, strategy: str, codes) -> list[np.ndarray]:
    """Eight batches of ten from a seals pool (k = 10) seeded with 3 positives and 9 negatives."""
    oracle = GroundTruthOracle(positives)
    seed = seed_set(np.intersect1d(positives, pool_rows), pool_rows, 3, 9, np.random.default_rng(1))
    pool = make_pool("seals", store, pool_rows, index=index, k=10, codes=codes)
    loop = ActiveLoop(store, pool, strategy=strategy, batch_size=10, seed=0)
    loop.tell(seed, oracle.label(seed))
    asked = []
    for _ in range(8):
        batch = loop.ask()
        asked.append(batch.rows)
        loop.tell(batch, oracle.label(batch.rows))
    return asked


def assert_codes_select_as_exact(store, pool_rows, index, positives, strategy: str, codes) -> None:
    """The pools grow from the labels, so once one batch differs the runs diverge: compare round by
    round, each batch at least 90% the same and 99% on average."""
    exact = batches(store, pool_rows, index, positives, strategy, None)
    approximate = batches(store, pool_rows, index, positives, strategy, codes)
    overlap = [np.intersect1d(a, b).size / a.size for a, b in zip(exact, approximate, strict=True)]
    assert min(overlap) >= 0.9 and np.mean(overlap) >= 0.99, overlap
