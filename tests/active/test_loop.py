"""The ask/tell core and the simulated run built on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from conftest import clustered_vectors
from sealsearch.active.learner import DEFAULT_C, SimilarityModel, positive_proba
from sealsearch.active.loop import ActiveLoop, Batch
from sealsearch.active.pools import AllPool
from sealsearch.data.writer import write_dataset
from sealsearch.errors import InvalidParameterError, LabelConflictError, UnknownNameError
from sealsearch.experiments.simulate import ROUND_COLUMNS, GroundTruthOracle, RunConfig, run, seed_set


@pytest.fixture
def loop(small_dataset):
    pool_rows = small_dataset.split_rows("pool")
    return ActiveLoop(
        small_dataset.embeddings, AllPool(small_dataset.embeddings, pool_rows), strategy="mlp", batch_size=10
    )


def test_tell_is_idempotent_and_atomic(loop):
    assert loop.tell([1, 2, 3], [1, 0, 0]) == 3
    assert loop.round == 1
    assert loop.tell([1, 2, 3], [1, 0, 0]) == 0  # a double-submitted form changes nothing
    assert loop.round == 1
    with pytest.raises(LabelConflictError, match="row 2 is already labeled 0"):
        loop.tell([4, 2], [1, 1])
    assert loop.n_labeled == 3 and 4 not in loop.labeled_rows  # nothing from the refused call
    assert loop.tell([4, 4, 5], [1, 1, 0]) == 2
    np.testing.assert_array_equal(loop.labeled_rows, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(loop.label_rounds, [0, 0, 0, 1, 1])


def test_tell_rejects_bad_labels_and_rows(loop):
    with pytest.raises(InvalidParameterError, match="0 \\(negative\\) or 1"):
        loop.tell([1], [2])
    with pytest.raises(InvalidParameterError, match="rows must lie in"):
        loop.tell([10**9], [1])
    with pytest.raises(InvalidParameterError, match="2 rows but 1 labels"):
        loop.tell([1, 2], [1])
    with pytest.raises(InvalidParameterError, match="no labels yet"):
        loop.ask()


def test_ask_repeats_until_told_and_never_proposes_labeled_rows(loop, small_dataset):
    rows = small_dataset.split_rows("pool")[:20]
    loop.tell(rows, (np.arange(20) < 4).astype(int))
    first = loop.ask()
    assert isinstance(first, Batch) and first.round == 1
    assert loop.ask() is first
    loop.tell(first, np.zeros(first.rows.size, dtype=int))
    second = loop.ask()
    assert second.round == 2
    assert not np.isin(second.rows, loop.labeled_rows).any()


def test_cold_start_with_one_class_ranks_by_similarity(small_dataset):
    store = small_dataset.embeddings
    pool_rows = small_dataset.split_rows("pool")
    rare = np.intersect1d(small_dataset.concept_rows("rare"), pool_rows)
    loop = ActiveLoop(store, AllPool(store, pool_rows), strategy="mlp", batch_size=10)
    loop.tell(rare[:3], [1, 1, 1])
    assert isinstance(loop.fit(), SimilarityModel)
    batch = loop.ask()
    # the tight rare group is what lies closest to its own positives
    assert np.isin(batch.rows, rare).mean() >= 0.8
    centre = store.take(rare[:3]).mean(axis=0)
    sims = store.take(batch.rows) @ (centre / np.linalg.norm(centre))
    assert np.all(np.diff(sims) <= 1e-6)


def test_any_sklearn_classifier_can_be_the_learner(small_dataset):
    store = small_dataset.embeddings
    pool_rows = small_dataset.split_rows("pool")
    forest = RandomForestClassifier(n_estimators=10, random_state=0)
    loop = ActiveLoop(store, AllPool(store, pool_rows), strategy="maxent", learner=forest)
    loop.tell(pool_rows[:30], (np.arange(30) % 3 == 0).astype(int))
    assert isinstance(loop.fit(), RandomForestClassifier)
    assert loop.model is not forest  # the template is cloned, never fitted in place
    assert loop.ask().rows.size == 100


def test_predict_proba_scores_any_rows_in_chunks(loop, small_dataset, monkeypatch):
    import sealsearch.data.scan

    rows = small_dataset.split_rows("pool")
    loop.tell(rows[:30], (np.arange(30) % 3 == 0).astype(int))
    whole = loop.predict_proba(rows)
    monkeypatch.setattr(sealsearch.data.scan, "BLOCK_BYTES", 7 * 4 * small_dataset.embeddings.dim)  # 7-row blocks
    np.testing.assert_allclose(loop.predict_proba(rows), whole, rtol=1e-5)  # float32 sums by chunk
    np.testing.assert_allclose(whole, positive_proba(loop.model, small_dataset.embeddings.take(rows)), rtol=1e-5)
    assert whole.shape == rows.shape and ((whole >= 0) & (whole <= 1)).all()


def test_seed_set_has_the_papers_shape():
    rng = np.random.default_rng(0)
    positives = np.arange(0, 1000, 50)
    seed = seed_set(positives, np.arange(1000), 5, 19, rng)
    assert seed.size == 100 and np.unique(seed).size == 100
    assert np.isin(seed, positives).sum() == 5


class CountingRng:
    """A generator that fails a test instead of letting a sampling loop spin forever."""

    def __init__(self, seed: int, limit: int = 100):
        self.rng, self.calls, self.limit = np.random.default_rng(seed), 0, limit

    def choice(self, *args, **kwargs):
        self.calls += 1
        assert self.calls <= self.limit, "seed_set kept drawing: the pool has too few negatives"
        return self.rng.choice(*args, **kwargs)


def test_seed_set_refuses_a_pool_with_too_few_negatives():
    pool_rows = np.arange(120)
    positives = pool_rows[:110]  # 10 negatives, but 5 positives × neg-ratio 19 need 95
    with pytest.raises(InvalidParameterError, match="95 negatives .* 110 positives and 10 negatives"):
        seed_set(positives, pool_rows, 5, 19, CountingRng(0))
    with pytest.raises(InvalidParameterError, match="needs 5 positives"):
        seed_set(positives[:3], pool_rows, 5, 1, CountingRng(0))
    assert seed_set(positives, pool_rows, 2, 5, CountingRng(0)).size == 12  # exactly the 10 negatives


def small_config(**overrides) -> RunConfig:
    return RunConfig(
        **{"concept": "rare", "k": 10, "budget": 120, "batch_size": 20, "seed_pos": 2, "neg_ratio": 9, **overrides}
    )


@pytest.mark.parametrize("pool", ["seals", "all", "randpool"])
def test_same_seed_gives_identical_run(small_dataset, pool):
    a = run(small_dataset, small_config(pool=pool))
    b = run(small_dataset, small_config(pool=pool))
    timing = ["t_select", "t_knn", "t_train"]
    pd.testing.assert_frame_equal(a.rounds.drop(columns=timing), b.rounds.drop(columns=timing))
    pd.testing.assert_frame_equal(a.labels, b.labels)
    c = run(small_dataset, small_config(pool=pool, seed=1))
    assert not a.labels["row"].equals(c.labels["row"])


def test_run_rows_and_label_log_are_consistent(small_dataset, tmp_path):
    result = run(small_dataset, small_config(pool="all", strategy="mlp"))
    rounds, labels = result.rounds, result.labels
    assert list(rounds.columns) == ROUND_COLUMNS
    assert rounds["n_labeled"].tolist() == [20, 40, 60, 80, 100, 120]
    pool_rows = small_dataset.split_rows("pool")
    # the baseline pool is every unlabeled pool row
    assert (rounds["pool_size"] == pool_rows.size - rounds["n_labeled"]).all()
    positives = np.intersect1d(small_dataset.concept_rows("rare"), pool_rows)
    recount = labels.groupby("round")["label"].sum().cumsum()
    assert rounds["n_positive"].tolist() == recount.tolist()
    np.testing.assert_allclose(rounds["recall"], rounds["n_positive"] / positives.size)
    assert rounds["ap"].between(0, 1).all()
    assert labels["row"].is_unique and np.isin(labels["row"], pool_rows).all()
    oracle = GroundTruthOracle(small_dataset.concept_rows("rare"))
    np.testing.assert_array_equal(labels["label"], oracle.label(labels["row"].to_numpy()))
    # MLP on a tight rare cluster finds nearly everything with this budget
    assert rounds["recall"].iloc[-1] >= 0.9
    rounds_path, labels_path = result.save(tmp_path / "run.parquet")
    assert labels_path.name == "run.labels.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(rounds_path), rounds)


@pytest.fixture(scope="module")
def overlapping_dataset(tmp_path_factory):
    """Clusters that overlap, so test AP is far from 1 and changes from round to round (on the
    shared small dataset every round's AP is 1.0, which no wrong `ap` column could contradict)."""
    rng = np.random.default_rng(0)
    vectors, assignment = clustered_vectors(1200, 8, 6, rng, spread=1.0)
    items = pd.DataFrame(
        {"id": [f"i{i}" for i in range(1200)], "split": np.where(rng.random(1200) < 0.3, "test", "pool")}
    )
    concepts = pd.DataFrame({"row": np.flatnonzero(assignment == 0), "concept": "overlapping"})
    return write_dataset(tmp_path_factory.mktemp("overlap") / "d", vectors, items=items, concepts=concepts)


@pytest.mark.parametrize(("pool", "strategy"), [("all", "maxent"), ("seals", "mlp")])
def test_ap_column_matches_an_independent_recomputation_from_the_saved_labels(
    overlapping_dataset, tmp_path, pool, strategy
):
    """Each round's `ap`: a fresh default learner fitted on the saved labels up to that round, scored
    with sklearn on the test split read straight from the dataset's files."""
    dataset = overlapping_dataset
    result = run(dataset, small_config(concept="overlapping", pool=pool, strategy=strategy))
    rounds_path, labels_path = result.save(tmp_path / "run.parquet")
    rounds, labels = pd.read_parquet(rounds_path), pd.read_parquet(labels_path)
    vectors = np.load(dataset.path / "embeddings.npy")
    items = pd.read_parquet(dataset.path / "items.parquet")
    concepts = pd.read_parquet(dataset.path / "concepts.parquet")
    test_rows = np.flatnonzero(items["split"].to_numpy() == "test")
    truth = np.isin(test_rows, concepts.loc[concepts["concept"] == "overlapping", "row"])
    recomputed = []
    for round_number in rounds["round"]:
        upto = labels[labels["round"] <= round_number]  # labeling order, as the loop fits them
        model = LogisticRegression(C=DEFAULT_C, max_iter=1000).fit(vectors[upto["row"]], upto["label"])
        recomputed.append(average_precision_score(truth, model.predict_proba(vectors[test_rows])[:, 1]))
    np.testing.assert_allclose(rounds["ap"], recomputed, rtol=0, atol=1e-6)
    # the rounds differ, so a stale, shifted or train-split `ap` column would not match
    assert len(set(np.round(recomputed, 4))) == len(recomputed) and max(recomputed) < 0.9


def test_seals_pool_stays_small_and_recall_matches_all(small_dataset):
    seals = run(small_dataset, small_config(pool="seals", strategy="mlp")).rounds
    everything = run(small_dataset, small_config(pool="all", strategy="mlp")).rounds
    assert seals["pool_frac"].max() < 0.5
    assert seals["recall"].iloc[-1] >= everything["recall"].iloc[-1] - 0.1


def test_run_rejects_bad_parameters_before_doing_work(small_dataset):
    with pytest.raises(InvalidParameterError, match="budget 15 is smaller than the seed set"):
        run(small_dataset, small_config(budget=15))
    with pytest.raises(InvalidParameterError, match="^k must be positive"):
        run(small_dataset, small_config(k=0))
    with pytest.raises(UnknownNameError, match="unknown concept 'rar' in .*concepts.parquet; did you mean 'rare'"):
        run(small_dataset, small_config(concept="rar"))
    with pytest.raises(InvalidParameterError, match="'tiny' has .* positives in the pool split"):
        run(small_dataset, small_config(concept="tiny", seed_pos=5))


def test_ap_is_null_without_a_test_split(tmp_path):
    vectors, assignment = clustered_vectors(300, 8, 5, np.random.default_rng(0))
    concepts = pd.DataFrame({"row": np.flatnonzero(assignment == 1), "concept": "one"})
    dataset = write_dataset(tmp_path / "d", vectors, concepts=concepts)
    result = run(dataset, RunConfig(concept="one", k=5, budget=60, batch_size=20, seed_pos=2, neg_ratio=4))
    result.save(tmp_path / "r.parquet")
    assert pd.read_parquet(tmp_path / "r.parquet")["ap"].isna().all()
    assert pq.read_table(tmp_path / "r.parquet").column("ap").null_count == len(result.rounds)
