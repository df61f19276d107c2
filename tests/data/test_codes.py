"""SQ8 codes: the decode error bound, and SEALS selections on codes against the exact path."""

from __future__ import annotations

import numpy as np
import pytest

from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool
from sealsearch.data.codes import Sq8Codes
from sealsearch.experiments.simulate import GroundTruthOracle, seed_set
from sealsearch.index import build_index


@pytest.fixture(scope="module")
def codes(small_dataset):
    return Sq8Codes.build(small_dataset.embeddings)


def test_codes_decode_within_half_a_step(small_dataset, codes, tmp_path):
    vectors = small_dataset.embeddings.take(np.arange(small_dataset.embeddings.n))
    decoded = codes.decode(codes.codes)
    assert np.all(np.abs(decoded - vectors) <= codes.step / 2 + 1e-6)
    path = tmp_path / "embeddings.npy"
    np.save(path, vectors)
    codes.save(path)
    again = Sq8Codes.open(path)
    np.testing.assert_array_equal(again.codes, codes.codes)
    assert again.codes.flags.writeable and not isinstance(again.codes, np.memmap)  # in RAM


@pytest.mark.parametrize("strategy", ["maxent", "mlp", "id"])
def test_seals_on_codes_selects_what_the_exact_pool_selects(small_dataset, codes, strategy):
    store = small_dataset.embeddings
    pool_rows = small_dataset.split_rows("pool")
    index = build_index(store, pool_rows, "Flat")
    positives = small_dataset.concept_rows("rare")
    oracle = GroundTruthOracle(positives)

    def run(with_codes: bool) -> list[np.ndarray]:
        seed = seed_set(np.intersect1d(positives, pool_rows), pool_rows, 3, 9, np.random.default_rng(1))
        pool = make_pool("seals", store, pool_rows, index=index, k=10, codes=codes if with_codes else None)
        loop = ActiveLoop(store, pool, strategy=strategy, batch_size=10, seed=0)
        loop.tell(seed, oracle.label(seed))
        asked = []
        for _ in range(8):
            batch = loop.ask()
            asked.append(batch.rows)
            loop.tell(batch, oracle.label(batch.rows))
        return asked

    exact, approximate = run(False), run(True)
    # The pools grow from the labels, so once one batch differs the runs diverge: compare round by round.
    overlap = [np.intersect1d(a, b).size / a.size for a, b in zip(exact, approximate, strict=True)]
    assert min(overlap) >= 0.9 and np.mean(overlap) >= 0.99, overlap
