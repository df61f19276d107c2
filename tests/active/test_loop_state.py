"""The loop's state is its label log: replay, skipped rows, stale batches, explicit training and
the rows a loop may be told."""

from __future__ import annotations

import numpy as np
import pytest

from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool
from sealsearch.active.strategies import STRATEGIES, STRATEGY_NAMES
from sealsearch.errors import InvalidParameterError
from sealsearch.experiments.simulate import GroundTruthOracle
from sealsearch.index import build_index


@pytest.fixture(scope="module")
def flat_index(small_dataset):
    return build_index(small_dataset.embeddings, small_dataset.split_rows("pool"), "Flat")


def seed_rows(dataset) -> np.ndarray:
    pool_rows = dataset.split_rows("pool")
    rare = np.intersect1d(dataset.concept_rows("rare"), pool_rows)
    return np.concatenate([rare[:3], np.setdiff1d(pool_rows, rare)[::37][:30]])


def assert_same_state(live: ActiveLoop, replayed: ActiveLoop) -> None:
    np.testing.assert_array_equal(replayed.labeled_rows, live.labeled_rows)
    np.testing.assert_array_equal(replayed.labels, live.labels)
    np.testing.assert_array_equal(replayed.label_rounds, live.label_rounds)
    np.testing.assert_array_equal(replayed.skipped_rows, live.skipped_rows)
    np.testing.assert_array_equal(replayed.pool.candidates(), live.pool.candidates())
    assert replayed.round == live.round


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
@pytest.mark.parametrize("pool_name", ["seals", "all"])
def test_replay_after_every_round_equals_the_live_loop(small_dataset, flat_index, strategy, pool_name):
    store, pool_rows = small_dataset.embeddings, small_dataset.split_rows("pool")
    settings = {"strategy": strategy, "batch_size": 12, "seed": 3, "eligible_rows": pool_rows}

    def fresh_pool():
        return make_pool(pool_name, store, pool_rows, index=flat_index, k=8)

    oracle = GroundTruthOracle(small_dataset.concept_rows("rare"))
    live = ActiveLoop(store, fresh_pool(), **settings)
    seed = seed_rows(small_dataset)
    calls = [(seed, oracle.label(seed))]
    live.tell(*calls[0])
    for _ in range(4):
        live.ask(5)  # asking more often, or for another size, draws nothing from the next batch's numbers
        batch = live.ask()
        for log in (calls, live.label_log):
            replayed = ActiveLoop.replay(store, fresh_pool(), log, **settings)
            assert_same_state(live, replayed)
            again = replayed.ask()
            np.testing.assert_array_equal(again.rows, batch.rows)
            np.testing.assert_array_equal(again.scores, batch.scores)
            assert again.round == batch.round
        labels = oracle.label(batch.rows)
        live.tell(batch, labels)
        calls.append((batch.rows, labels))


@pytest.mark.parametrize("strategy", ["mlp", "random", "kcenter"])
def test_skipped_rows_are_never_proposed_and_are_not_labels(small_dataset, flat_index, strategy):
    store, pool_rows = small_dataset.embeddings, small_dataset.split_rows("pool")
    settings = {"strategy": strategy, "batch_size": 10, "seed": 1, "eligible_rows": pool_rows}
    loop = ActiveLoop(store, make_pool("seals", store, pool_rows, index=flat_index, k=8), **settings)
    seed = seed_rows(small_dataset)
    loop.tell(seed, np.isin(seed, small_dataset.concept_rows("rare")).astype(int))
    first = loop.ask()
    assert loop.skip(first.rows[:3]) == 3 and loop.skip(first.rows[:3]) == 0
    assert loop.skip(seed[:2]) == 0  # labeled rows are not skipped
    assert loop.n_labeled == seed.size and loop.round == 1  # skipping trains nothing, ends no round
    np.testing.assert_array_equal(loop.skipped_rows, np.sort(first.rows[:3]))
    second = loop.ask()
    assert not np.isin(second.rows, first.rows[:3]).any()
    if STRATEGIES[strategy].kind == "scorer":  # same model and numbers: the ranking just closes up
        np.testing.assert_array_equal(second.rows[:7], first.rows[3:])
    loop.tell(second, np.zeros(second.rows.size, dtype=int))
    for _ in range(3):
        batch = loop.ask()
        assert not np.isin(batch.rows, loop.skipped_rows).any()
        loop.tell(batch, np.zeros(batch.rows.size, dtype=int))
    replayed = ActiveLoop.replay(
        store,
        make_pool("seals", store, pool_rows, index=flat_index, k=8),
        loop.label_log,
        skipped=loop.skipped_rows,
        **settings,
    )
    assert_same_state(loop, replayed)
    np.testing.assert_array_equal(replayed.ask().rows, loop.ask().rows)
    # A person may still label a skipped row later: it becomes a label and stops being skipped.
    loop.tell(first.rows[:1], [0])
    assert first.rows[0] in loop.labeled_rows and first.rows[0] not in loop.skipped_rows


def test_a_stale_batch_is_refused_but_a_repeated_one_is_harmless(small_dataset):
    store, pool_rows = small_dataset.embeddings, small_dataset.split_rows("pool")
    loop = ActiveLoop(store, make_pool("all", store, pool_rows), strategy="mlp", batch_size=10)
    loop.tell(pool_rows[:30], (np.arange(30) % 3 == 0).astype(int))
    first = loop.ask()
    assert loop.tell(first, np.zeros(10, dtype=int)) == 10
    assert loop.tell(first, np.zeros(10, dtype=int)) == 0  # a double-submitted form
    second = loop.ask()
    loop.tell(pool_rows[-5:], np.zeros(5, dtype=int))  # someone else labeled meanwhile
    with pytest.raises(InvalidParameterError, match="proposed in round 2 but the loop is at round 3"):
        loop.tell(second, np.zeros(10, dtype=int))
    assert not np.isin(second.rows, loop.labeled_rows).any()
    assert loop.tell(second.rows, np.zeros(10, dtype=int)) == 10  # raw rows stay accepted


def test_reading_the_model_never_trains(small_dataset):
    store, pool_rows = small_dataset.embeddings, small_dataset.split_rows("pool")
    loop = ActiveLoop(store, make_pool("all", store, pool_rows), strategy="maxent", batch_size=10)
    with pytest.raises(InvalidParameterError, match="not trained yet: call fit"):
        _ = loop.model
    loop.tell(pool_rows[:30], (np.arange(30) % 3 == 0).astype(int))
    with pytest.raises(InvalidParameterError, match="not trained yet"):
        _ = loop.model
    assert loop.timings.train == 0
    model = loop.fit()
    assert loop.model is model and loop.fit() is model  # unchanged labels: no second training
    loop.tell(pool_rows[30:40], np.zeros(10, dtype=int))
    assert loop.model is model  # still the last fit; reading it trained nothing
    loop.ask()
    assert loop.model is not model  # ask trains on the new labels
    before = loop.model
    loop.tell(pool_rows[40:50], np.zeros(10, dtype=int))
    loop.predict_proba(pool_rows[:5])
    assert loop.model is not before  # predict_proba trains on the new labels first


def test_rows_outside_the_eligible_rows_are_refused(small_dataset):
    store, pool_rows = small_dataset.embeddings, small_dataset.split_rows("pool")
    test_rows = small_dataset.split_rows("test")
    loop = ActiveLoop(store, make_pool("all", store, pool_rows), eligible_rows=pool_rows)
    with pytest.raises(InvalidParameterError, match=f"rows {test_rows[0]}, {test_rows[1]}, .*outside .*eligible"):
        loop.tell(np.concatenate([pool_rows[:3], test_rows[:7]]), np.zeros(10, dtype=int))
    assert loop.n_labeled == 0
    with pytest.raises(InvalidParameterError, match=f"rows {test_rows[0]} are outside"):
        loop.skip(test_rows[:1])
    assert loop.tell(pool_rows[:3], [1, 0, 0]) == 3


def test_a_users_scorer_is_a_strategy(small_dataset):
    store, pool_rows = small_dataset.embeddings, small_dataset.split_rows("pool")
    labels = (np.arange(40) % 4 == 0).astype(int)

    def closest_to_half(proba: np.ndarray, context) -> np.ndarray:
        return -np.abs(proba - 0.5)  # least confident first: the same order as max entropy

    mine = ActiveLoop(store, make_pool("all", store, pool_rows), strategy=closest_to_half, batch_size=20)
    named = ActiveLoop(store, make_pool("all", store, pool_rows), strategy="maxent", batch_size=20)
    for loop in (mine, named):
        loop.tell(pool_rows[:40], labels)
    assert mine.strategy.name == "closest_to_half" and mine.strategy.uses_model
    np.testing.assert_array_equal(mine.ask().rows, named.ask().rows)

    first_axis = ActiveLoop(
        store, make_pool("all", store, pool_rows), strategy=lambda p, ctx: ctx.candidate_vectors[:, 0]
    )
    first_axis.tell(pool_rows[:40], labels)
    candidates = np.setdiff1d(pool_rows, pool_rows[:40])
    expected = candidates[np.argsort(-store.take(candidates)[:, 0], kind="stable")[:100]]
    np.testing.assert_array_equal(first_axis.ask().rows, expected)

    broken = ActiveLoop(store, make_pool("all", store, pool_rows), strategy=lambda p, ctx: np.zeros(3))
    broken.tell(pool_rows[:40], labels)
    with pytest.raises(InvalidParameterError, match="returned scores of shape \\(3,\\)"):
        broken.ask()
    with pytest.raises(InvalidParameterError, match="strategy must be a name"):
        ActiveLoop(store, make_pool("all", store, pool_rows), strategy=3)
