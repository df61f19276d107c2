"""SQ8 codes: the decode error bound, and SEALS selections on codes against the exact path."""

from __future__ import annotations

import numpy as np
import pytest

from codes_support import assert_codes_select_as_exact
from sealsearch.data.codes import Sq8Codes
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
    assert_codes_select_as_exact(store, pool_rows, index, small_dataset.concept_rows("rare"), strategy, codes)
