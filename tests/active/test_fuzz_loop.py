"""Hypothesis fuzzes the loop's public API (construction, pools, tell/skip/ask/predict_proba with
any shapes, dtypes, parameters and label sequences): every call either works or raises our own
`SealsearchError`, never an IndexError/KeyError/ValueError/TypeError from inside numpy, and a
refused call changes nothing. After any sequence the pool invariant holds: no labeled or skipped
row is ever a candidate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_dataset
from sealsearch.active.knn import open_or_build_index
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import POOL_NAMES, make_pool
from sealsearch.active.strategies import STRATEGY_NAMES
from sealsearch.errors import SealsearchError

N = 300
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    dataset = make_dataset(tmp_path_factory.mktemp("fuzz") / "d", n=N, dim=8)
    index = open_or_build_index(dataset, "Flat")
    return dataset, index


def row_values():
    """Anything a caller might pass as rows."""
    ints = st.integers(min_value=-3, max_value=N + 3)
    return st.one_of(
        st.lists(ints, max_size=12),
        st.lists(ints, max_size=12).map(lambda v: np.asarray(v, dtype=np.int32)),
        st.lists(st.integers(0, N - 1), max_size=6).map(lambda v: np.asarray(v, dtype=np.uint64)),
        st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5),
        st.lists(st.floats(0, N - 1), min_size=1, max_size=5).map(np.asarray),
        st.lists(st.text(max_size=3), max_size=4),
        st.lists(st.booleans(), max_size=5),
        st.lists(st.lists(ints, min_size=2, max_size=2), max_size=4),
        st.just(np.zeros((2, 2, 2), dtype=np.int64)),
        st.just([1, "a", None]),
        st.integers(-2, N + 2),
        st.just(None),
        st.just(np.int64(10**19 % 2**63)),
    )


def label_values():
    return st.one_of(
        st.lists(st.sampled_from([0, 1]), max_size=12),
        st.lists(st.sampled_from([0, 1, 2, -1, 0.5, True, "1", None, float("nan")]), max_size=12),
        st.lists(st.booleans(), max_size=12).map(np.asarray),
        st.lists(st.integers(0, 1), max_size=12).map(lambda v: np.asarray(v, dtype=np.float16)),
        st.just("positive"),
        st.integers(-1, 2),
    )


def pool_rows(dataset):
    return dataset.split_rows("pool")


def call(function, *args, **kwargs):
    """Run one API call; our own errors are fine, anything else fails the test."""
    try:
        return function(*args, **kwargs), None
    except SealsearchError as exc:
        assert "\n" not in str(exc), str(exc)
        return None, exc


@FUZZ
@given(
    pool=st.one_of(st.sampled_from(POOL_NAMES), st.text(max_size=6)),
    k=st.one_of(st.integers(-2, 400), st.floats(-1, 5), st.just(True), st.just(None), st.just("20"), st.just(10**9)),
    strategy=st.one_of(st.sampled_from(STRATEGY_NAMES), st.text(max_size=6), st.just(None), st.integers()),
    batch_size=st.one_of(st.integers(-2, 400), st.floats(0, 3), st.just(True), st.just("10")),
    seed=st.one_of(st.integers(-2, 2**40), st.just(1.5), st.just(None)),
    dedup=st.one_of(st.none(), st.floats(-1, 2), st.just(float("nan"))),
)
def test_construction_with_any_parameters(data, pool, k, strategy, batch_size, seed, dedup):
    dataset, index = data
    rng = np.random.default_rng(0)
    built, error = call(make_pool, pool, dataset.embeddings, pool_rows(dataset), index=index, k=k, rng=rng)
    if error is not None:
        return
    loop, error = call(
        ActiveLoop, dataset.embeddings, built, strategy=strategy, batch_size=batch_size, seed=seed, dedup=dedup,
        eligible_rows=pool_rows(dataset),
    )  # fmt: skip
    if loop is not None:  # a seed set, then a batch: the parameters meet the data
        rows = pool_rows(dataset)[:12]
        call(loop.tell, rows, np.arange(12) % 2)
        call(loop.ask)


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("tell"), row_values(), label_values()),
        st.tuples(st.just("tell_valid"), st.lists(st.integers(0, N - 1), min_size=1, max_size=8), st.integers(0, 1)),
        st.tuples(st.just("skip"), row_values()),
        st.tuples(st.just("ask"), st.one_of(st.none(), st.integers(-1, 50), st.just(2.5), st.just(True))),
        st.tuples(st.just("tell_batch"), st.integers(0, 1)),
        st.tuples(st.just("predict"), row_values()),
    ),
    max_size=10,
)


@FUZZ
@given(strategy=st.sampled_from(STRATEGY_NAMES), pool=st.sampled_from(POOL_NAMES), ops=OPS)
def test_any_sequence_of_calls_runs_or_raises_our_error(data, strategy, pool, ops):
    dataset, index = data
    eligible = pool_rows(dataset)
    built = make_pool(pool, dataset.embeddings, eligible, index=index, k=5, rng=np.random.default_rng(0))
    loop = ActiveLoop(dataset.embeddings, built, strategy=strategy, batch_size=7, seed=0, eligible_rows=eligible)
    last_batch = None
    for op, *args in ops:
        before = (loop.n_labeled, loop.round, loop.skipped_rows.size)
        if op == "tell":
            _, error = call(loop.tell, *args)
        elif op == "tell_valid":
            rows = eligible[np.asarray(args[0]) % eligible.size]
            _, error = call(loop.tell, rows, np.full(rows.size, args[1]))
        elif op == "skip":
            _, error = call(loop.skip, *args)
        elif op == "ask":
            last_batch, error = call(loop.ask, *args)
        elif op == "tell_batch":
            if last_batch is None:
                continue
            _, error = call(loop.tell, last_batch, np.full(len(last_batch.rows), args[0]))
        else:
            _, error = call(loop.predict_proba, *args)
        if error is not None:  # a refused call records nothing
            assert (loop.n_labeled, loop.round, loop.skipped_rows.size) == before
    candidates = np.asarray(loop.pool.candidates()) if hasattr(loop.pool, "candidates") else np.empty(0)
    assert not np.isin(candidates, loop.labeled_rows).any()
    assert np.isin(loop.labeled_rows, eligible).all()
    if last_batch is not None and loop.n_labeled:
        batch, error = call(loop.ask)
        if error is None:
            assert not np.isin(batch.rows, loop.labeled_rows).any()
            assert not np.isin(batch.rows, loop.skipped_rows).any()
