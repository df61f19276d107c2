"""The byte-map membership and append-only buffer against brute force (a Python set)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sealsearch.active.members import MemberBuffer, rescore_top
from sealsearch.active.pools import SealsPool
from sealsearch.active.strategies import select_top
from sealsearch.index import build_index


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.lists(st.integers(0, 199), max_size=30)), max_size=25))
def test_member_buffer_equals_a_set_model(operations):
    n, dim = 200, 3
    values = np.arange(n * dim, dtype=np.float32).reshape(n, dim)  # each row's values name the row
    buffer = MemberBuffer(n, dim, np.float32)
    members: list[int] = []
    labeled: set[int] = set()
    for is_label, rows in operations:
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if is_label:
            rows = rows[[r not in labeled for r in rows.tolist()]]
            leaving = buffer.label(rows)
            assert leaving.tolist() == [r in members for r in rows.tolist()]
            labeled |= set(rows.tolist())
            members = [m for m in members if m not in labeled]
        else:
            joining = buffer.outside(rows)
            assert joining.tolist() == [r for r in rows.tolist() if r not in labeled and r not in members]
            buffer.join(joining, values[joining])
            members += joining.tolist()
        assert buffer.members().tolist() == members  # joining order, dead entries dropped
        assert buffer.size == len(members)
        np.testing.assert_array_equal(buffer.member_values(), values[members])
        rows_in_use, _ = buffer.entries()
        assert 4 * (rows_in_use.size - len(members)) <= max(rows_in_use.size, 0) or not members


def test_rescore_top_puts_exact_scores_first():
    rng = np.random.default_rng(0)
    exact = rng.random(1000)
    approx = exact + rng.normal(scale=0.01, size=1000)
    rows = rng.permutation(5000)[:1000]
    asked = []

    def exact_of(r):
        asked.append(r)
        return exact[np.argsort(rows)[np.searchsorted(np.sort(rows), r)]]

    scores = approx.copy()
    rescore_top(scores, rows, 40, exact_of)
    assert np.all(np.diff(asked[0]) > 0)  # one ascending read
    assert set(select_top(scores, 10)) == set(select_top(exact, 10))
    top = select_top(approx, 40)
    np.testing.assert_array_equal(scores[top], exact[top])
    others = np.setdiff1d(np.arange(1000), top)
    assert scores[others].max() < scores[top].min()


def test_handing_vectors_to_the_pool_changes_nothing(small_dataset):
    store = small_dataset.embeddings
    pool_rows = small_dataset.split_rows("pool")
    index = build_index(store, pool_rows, "Flat")
    rng = np.random.default_rng(3)
    given_vectors, read_itself = SealsPool(store, index, k=6), SealsPool(store, index, k=6)
    for _ in range(8):
        source = given_vectors.candidates() if given_vectors.size else pool_rows
        rows = rng.choice(source, size=min(9, source.size), replace=False)
        rows = np.r_[rows, rows[:2]]  # a repeat, as update may see one
        given_vectors.update(rows, vectors=store.take(rows))
        read_itself.update(rows)
        np.testing.assert_array_equal(given_vectors.candidates(), read_itself.candidates())
        np.testing.assert_allclose(given_vectors.mean_vector(), read_itself.mean_vector(), atol=1e-12)
