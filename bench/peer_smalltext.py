"""small-text 1.4.1's two subsampling query strategies, as bench/peers.py runs them.

- `SEALS(LeastConfidence(), k)`: the candidates are the k nearest unlabeled neighbours of every
  labeled row (hnswlib over the L2-normalised embeddings, built in the first query of a run).
- `AnchorSubsampling(LeastConfidence(), subsample_size, num_anchors, k)`: AnchorAL (Lesci &
  Vlachos, NAACL 2024). Each query draws up to `num_anchors` labeled rows per class by k-means++
  (the anchors), retrieves the k nearest unlabeled rows of each from the same kind of hnswlib
  index, and keeps the `subsample_size` of highest mean similarity to the anchors; the base
  strategy picks the batch from that subpool. Its defaults (500, 10, 50) are small-text's; the
  authors' own configuration (github.com/pietrolesci/anchoral, conf/strategy) also uses 10
  anchors and 50 neighbours, so at most 2·10·50 = 1,000 rows reach its 10,000-row subpool.

Both run in small-text's `PoolBasedActiveLearner` with sealsearch's default learner in
`SklearnClassifier`; small-text asks the classifier for embeddings (`clf.embed`), which only its
PyTorch classifiers have, so a subclass returns the features themselves. The strategies are
subclassed only to time their kNN part and index build, and to record what each query saw for
`check` (never while timing a measured run).
"""

from __future__ import annotations

import time

import numpy as np
from peer_common import Clock, Outcome, Problem  # bench/peer_common.py (the script's folder is on sys.path)
from sklearn.base import clone
from small_text import LeastConfidence, PoolBasedActiveLearner, SklearnClassifier, SklearnDataset
from small_text.base import LABEL_UNLABELED
from small_text.classifiers.factories import SklearnClassifierFactory
from small_text.query_strategies import SEALS, AnchorSubsampling

from sealsearch.active.learner import default_learner

CHECK_ROWS, CHECK_ROUNDS = 5_000, 3  # the check's problem: pool rows (at least), queries


class EmbeddingClassifier(SklearnClassifier):
    """small-text's subsampling strategies ask the classifier for embeddings; ours are the features."""

    def embed(self, data_set, pbar=None):
        return data_set.x


class EmbeddingClassifierFactory(SklearnClassifierFactory):
    def new(self):
        return EmbeddingClassifier(clone(self.base_estimator), self.num_classes, **self.kwargs)


class Timed:
    """Mixin over a small-text subsampling strategy: the kNN part of each query is timed as "knn",
    the one-off hnswlib build (inside the first query's kNN part) as "index"; with `seen` set to a
    dict, the subset (and AnchorAL's anchors) of the current query are written into it."""

    def timed(self, clock: Clock) -> Timed:
        self.clock, self.seen = clock, None
        return self

    def subset(self, method, *args, **kwargs) -> np.ndarray:
        subset = self.clock.time("knn", method, *args, **kwargs)
        if self.seen is not None:
            self.seen["subset"] = np.asarray(subset)
        return subset

    def initialize_index(self, embeddings, indices_unlabeled, hnsw_kwargs):
        return self.clock.time("index", super().initialize_index, embeddings, indices_unlabeled, hnsw_kwargs)


class TimedSEALS(Timed, SEALS):
    def get_subset_indices(self, *args, **kwargs):
        return self.subset(super().get_subset_indices, *args, **kwargs)


class TimedAnchorAL(Timed, AnchorSubsampling):
    def _get_subset_indices(self, *args, **kwargs):
        return self.subset(super()._get_subset_indices, *args, **kwargs)

    def _get_anchors(self, *args, **kwargs):
        anchors = super()._get_anchors(*args, **kwargs)
        if self.seen is not None:
            self.seen["anchors"] = np.asarray(anchors)
        return anchors


def make_strategy(method: str, clock: Clock, k: int, hnsw_kwargs: dict, anchoral_kwargs: dict) -> Timed:
    """The query strategy of `method` ("smalltext-seals" or "smalltext-anchoral"), timed on `clock`."""
    if method == "smalltext-seals":
        return TimedSEALS(LeastConfidence(), k=k, hnsw_kwargs=hnsw_kwargs).timed(clock)
    return TimedAnchorAL(LeastConfidence(), hnsw_kwargs=hnsw_kwargs, **anchoral_kwargs).timed(clock)


def describe_anchoral(anchoral_kwargs: dict) -> str:
    """AnchorAL's parameters as they will run (small-text's __str__ leaves out subsample_size)."""
    strategy = AnchorSubsampling(LeastConfidence(), **anchoral_kwargs)
    return f"subsample_size={strategy.subsample_size},num_anchors={strategy.num_anchors},k={strategy.k}"


def run_smalltext(
    problem: Problem, method: str, hnsw_kwargs: dict, anchoral_kwargs: dict, trace: list | None = None
) -> Outcome:
    """One run of `method`; with `trace` (a list), one dict per query is appended to it: the
    positions labeled before it, their labels, the subset (and anchors) it saw and what it picked."""
    clock = Clock()
    strategy = make_strategy(method, clock, problem.k, hnsw_kwargs, anchoral_kwargs)
    start = time.perf_counter()
    train = SklearnDataset(problem.X, np.full(len(problem.X), LABEL_UNLABELED), target_labels=np.array([0, 1]))
    learner = PoolBasedActiveLearner(EmbeddingClassifierFactory(default_learner(), num_classes=2), strategy, train)
    seed = problem.positions(problem.seed_rows)
    clock.time("train", learner.initialize_data, seed, problem.label(seed))
    while (n_labeled := len(learner.indices_labeled)) < problem.budget:
        if trace is not None:
            strategy.seen = {"labeled": learner.indices_labeled.copy(), "y": np.asarray(learner.y).copy()}
        picked = clock.time("select", learner.query, num_samples=problem.next_size(n_labeled))
        if trace is not None:
            trace.append({**strategy.seen, "picked": np.asarray(picked)})
        clock.time("train", learner.update, problem.label(picked))
    total = time.perf_counter() - start
    s = clock.seconds
    knn = s["knn"] - s["index"]  # the first kNN call builds the index
    return Outcome(
        problem.pool_rows[learner.indices_labeled], learner.classifier.model,
        s["select"] - s["knn"], knn, s["train"], total - s["index"], s["index"],
    )  # fmt: skip


def require(ok: bool, message: str) -> None:
    """An assert that `python -O` keeps."""
    if not ok:
        raise AssertionError(message)


def check(problem: Problem, method: str, hnsw_kwargs: dict, anchoral_kwargs: dict) -> str:
    """Run `method` for CHECK_ROUNDS queries on a few thousand rows of `problem` (`Problem.shrunk`;
    more than twice AnchorAL's subpool, or it would score the whole pool) and verify that it did
    what its paper describes: every batch was picked from the query's subset, never from labeled
    rows, and, for AnchorAL, the subset held at most subsample_size unlabeled rows retrieved for
    anchors that are labeled rows, min(class count, num_anchors) of each class. Raises
    AssertionError naming the first breach."""
    params = AnchorSubsampling(LeastConfidence(), **anchoral_kwargs)  # AnchorAL's parameters as they run
    problem = problem.shrunk(max(CHECK_ROWS, 2 * params.subsample_size), CHECK_ROUNDS)
    trace: list[dict] = []
    outcome = run_smalltext(problem, method, hnsw_kwargs, anchoral_kwargs, trace)
    rows = outcome.labeled_rows
    require(
        rows.size == problem.budget == np.unique(rows).size, f"{method}: {rows.size} labels, {problem.budget} asked"
    )
    require(len(trace) == problem.rounds(rows.size), f"{method}: {len(trace)} queries for {rows.size} labels")
    sizes = []
    for n, seen in enumerate(trace, 1):
        require("subset" in seen, f"{method} query {n}: no subset (it scored the whole pool)")
        subset, picked, labeled = seen["subset"], seen["picked"], seen["labeled"]
        require(np.isin(picked, subset).all(), f"{method} query {n}: batch outside its subset")
        require(not np.isin(subset, labeled).any(), f"{method} query {n}: labeled rows in the subset")
        sizes.append(subset.size)
        if method == "smalltext-anchoral":
            require(subset.size <= params.subsample_size, f"query {n}: subpool of {subset.size}")
            label_of = np.full(len(problem.X), -1)
            label_of[labeled] = seen["y"]
            anchors_y = label_of[seen["anchors"]]
            require((anchors_y >= 0).all(), f"query {n}: an anchor is not a labeled row")
            for c in (0, 1):
                want = min((seen["y"] == c).sum(), params.num_anchors)
                require((anchors_y == c).sum() == want, f"query {n}: {(anchors_y == c).sum()} anchors of class {c}")
    subsets = f"subsets of {min(sizes)}–{max(sizes)} rows"
    return f"{problem.pool_rows.size} rows, {len(trace)} queries, {subsets}, every batch inside its subset: ok"
