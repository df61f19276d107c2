"""sealsearch against peer active-learning libraries: same pool, strategy, learner, seed set and budget.

    /work/venv-bench/bin/python bench/peers.py --n 100000 --dim 64 --concepts 3 --budget 1000

Needs the peers of bench/requirements.txt (a separate venv; they are never sealsearch dependencies).
Methods (--methods picks a subset):

- `ours-all`    sealsearch ActiveLoop, pool "all", strategy "maxent" (every unlabeled pool row scored)
- `ours-seals`  the same with pool "seals" (kNN neighbourhoods of the labeled rows, index built once)
- `modal`       modAL's uncertainty_sampling over the whole unlabeled set (see run_modal: no ActiveLearner)
- `skactiveml`  scikit-activeml UncertaintySampling(method="entropy") + SklearnClassifier, candidates = all unlabeled
- `smalltext-seals`  small-text PoolBasedActiveLearner with SEALS(LeastConfidence(), k) (hnswlib inside)

Every method gets sealsearch's default learner (LogisticRegression, C = DEFAULT_C), the seed set of
`sealsearch.experiments.simulate.run` (same rng, same `seed_set`), batches of --batch until --budget labels,
and the ground-truth oracle. For two classes least confidence, entropy and MaxEnt rank alike.
Peers work on the pool split's vectors loaded into memory (their APIs take arrays); ours reads the
memory-mapped store. Times are wall-clock seconds of each run's loop; a kNN index built before the
loop (ours, reused by every concept) or inside the first query (small-text, per run) is reported
apart as `t_index`. Final AP is on the test split, recall over the pool's positives; `same` is the
share of labeled rows that the method has in common with the sealsearch run of the same pool kind.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import average_precision_score
from threadpoolctl import threadpool_limits

from sealsearch.active.knn import open_or_build_index
from sealsearch.active.learner import default_learner, positive_proba
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool
from sealsearch.data.dataset import Dataset
from sealsearch.datasets.synthetic import build_synthetic_dataset
from sealsearch.experiments.simulate import GroundTruthOracle, pick_concepts, seed_set
from sealsearch.index import KnnIndex

SEED_POS, NEG_RATIO = 5, 19  # RunConfig's defaults: the paper's 5 positives + 95 negatives


@dataclass
class Problem:
    """One concept on one dataset, as every method sees it."""

    dataset: Dataset
    concept: str
    pool_rows: np.ndarray  # sorted dataset rows of the pool split; peers index X by position in it
    X: np.ndarray  # the pool split's vectors in memory (peers' APIs take arrays)
    pool_positives: np.ndarray
    seed_rows: np.ndarray
    oracle: GroundTruthOracle
    test_X: np.ndarray
    test_truth: np.ndarray
    budget: int
    batch: int
    k: int

    def positions(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.pool_rows, rows)

    def label(self, positions: np.ndarray) -> np.ndarray:
        return self.oracle.label(self.pool_rows[positions]).astype(np.int64)

    def next_size(self, n_labeled: int) -> int:
        return min(self.batch, self.budget - n_labeled)


@dataclass
class Outcome:
    labeled_rows: np.ndarray
    model: BaseEstimator  # the final fitted sklearn estimator
    t_select: float
    t_knn: float
    t_train: float
    t_total: float
    t_index: float = 0.0


class Clock:
    """Accumulates seconds per part."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"select": 0.0, "knn": 0.0, "train": 0.0, "index": 0.0}

    def time(self, part: str, call: Callable, *args, **kwargs):
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self.seconds[part] += time.perf_counter() - start


def run_ours(problem: Problem, pool_name: str, index: KnnIndex | None) -> Outcome:
    start = time.perf_counter()
    dataset = problem.dataset
    pool = make_pool(pool_name, dataset.embeddings, problem.pool_rows, index=index, k=problem.k)
    loop = ActiveLoop(dataset.embeddings, pool, strategy="maxent", batch_size=problem.batch, seed=0)
    loop.tell(problem.seed_rows, problem.oracle.label(problem.seed_rows))
    while loop.n_labeled < problem.budget and pool.size > 0:
        batch = loop.ask(problem.next_size(loop.n_labeled))
        loop.tell(batch, problem.oracle.label(batch.rows))
    model = loop.fit()  # the model on every label, as the peers' last update trains it
    total = time.perf_counter() - start
    t = loop.timings
    return Outcome(loop.labeled_rows, model, t.select, t.knn, t.train, total)


def modal_query(estimator: BaseEstimator, X: np.ndarray, unlabeled: np.ndarray, n: int) -> np.ndarray:
    """Pool positions of the next batch; modAL scores the array it is given, the unlabeled pool."""
    from modAL.uncertainty import uncertainty_sampling

    candidates = np.flatnonzero(unlabeled)
    picked, _ = uncertainty_sampling(estimator, X[candidates], n_instances=n)
    return candidates[picked]


def run_modal(problem: Problem) -> Outcome:
    """modAL's query strategy function on a plain sklearn estimator. modAL 0.4.2.1's ActiveLearner
    cannot learn on scikit-learn >= 1.8: its teach() and fit() pass `force_all_finite` to
    check_X_y, which sklearn renamed to `ensure_all_finite` (TypeError). Retraining therefore does
    what teach() does — stack every label seen so far and fit the estimator on them — without it."""
    clock, start = Clock(), time.perf_counter()
    labeled = problem.positions(problem.seed_rows)
    y = problem.label(labeled)
    estimator = clock.time("train", clone(default_learner()).fit, problem.X[labeled], y)
    unlabeled = np.ones(len(problem.X), dtype=bool)
    unlabeled[labeled] = False
    while labeled.size < problem.budget:
        picked = clock.time("select", modal_query, estimator, problem.X, unlabeled, problem.next_size(labeled.size))
        unlabeled[picked] = False
        labeled, y = np.concatenate([labeled, picked]), np.concatenate([y, problem.label(picked)])
        estimator = clock.time("train", clone(default_learner()).fit, problem.X[labeled], y)
    total = time.perf_counter() - start
    return Outcome(problem.pool_rows[labeled], estimator, clock.seconds["select"], 0.0, clock.seconds["train"], total)


def run_skactiveml(problem: Problem) -> Outcome:
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import UncertaintySampling
    from skactiveml.utils import MISSING_LABEL

    clock, start = Clock(), time.perf_counter()
    seed = problem.positions(problem.seed_rows)
    y = np.full(len(problem.X), MISSING_LABEL)
    y[seed] = problem.label(seed)
    clf = SklearnClassifier(default_learner(), classes=[0, 1], random_state=0)
    strategy = UncertaintySampling(method="entropy", random_state=0)
    clock.time("train", clf.fit, problem.X, y)
    order = [seed]
    while (n_labeled := sum(map(len, order))) < problem.budget:
        # fit_clf=False: the classifier was fitted on (X, y) just before; the default refits a clone.
        picked = clock.time(
            "select", strategy.query, X=problem.X, y=y, clf=clf, fit_clf=False, batch_size=problem.next_size(n_labeled)
        )
        y[picked] = problem.label(picked)
        order.append(picked)
        clock.time("train", clf.fit, problem.X, y)
    total = time.perf_counter() - start
    rows = problem.pool_rows[np.concatenate(order)]
    return Outcome(rows, clf.estimator_, clock.seconds["select"], 0.0, clock.seconds["train"], total)


def run_smalltext_seals(problem: Problem, hnsw_kwargs: dict) -> Outcome:
    from small_text import LeastConfidence, PoolBasedActiveLearner, SklearnClassifier, SklearnDataset
    from small_text.base import LABEL_UNLABELED
    from small_text.classifiers.factories import SklearnClassifierFactory
    from small_text.query_strategies import SEALS

    clock = Clock()

    class EmbeddingClassifier(SklearnClassifier):
        """small-text's SEALS asks the classifier for embeddings; ours are the features themselves."""

        def embed(self, data_set, pbar=None):
            return data_set.x

    class EmbeddingClassifierFactory(SklearnClassifierFactory):
        def new(self):
            return EmbeddingClassifier(clone(self.base_estimator), self.num_classes, **self.kwargs)

    class TimedSEALS(SEALS):
        """SEALS unchanged; only the kNN part of a query and the one-off index build are timed."""

        def get_subset_indices(self, *args, **kwargs):
            return clock.time("knn", super().get_subset_indices, *args, **kwargs)

        def initialize_index(self, embeddings, indices_unlabeled, hnsw_kwargs):
            return clock.time("index", SEALS.initialize_index, embeddings, indices_unlabeled, hnsw_kwargs)

    start = time.perf_counter()
    train = SklearnDataset(problem.X, np.full(len(problem.X), LABEL_UNLABELED), target_labels=np.array([0, 1]))
    factory = EmbeddingClassifierFactory(default_learner(), num_classes=2)
    learner = PoolBasedActiveLearner(
        factory, TimedSEALS(LeastConfidence(), k=problem.k, hnsw_kwargs=hnsw_kwargs), train
    )
    seed = problem.positions(problem.seed_rows)
    clock.time("train", learner.initialize_data, seed, problem.label(seed))
    while (n_labeled := len(learner.indices_labeled)) < problem.budget:
        picked = clock.time("select", learner.query, num_samples=problem.next_size(n_labeled))
        clock.time("train", learner.update, problem.label(picked))
    total = time.perf_counter() - start
    s = clock.seconds
    knn = s["knn"] - s["index"]  # the first kNN call builds the index
    return Outcome(
        problem.pool_rows[learner.indices_labeled], learner.classifier.model,
        s["select"] - s["knn"], knn, s["train"], total - s["index"], s["index"],
    )  # fmt: skip


METHODS = ("ours-all", "ours-seals", "modal", "skactiveml", "smalltext-seals")
BASELINE = {"ours-all": "ours-all", "modal": "ours-all", "skactiveml": "ours-all"}  # else ours-seals


def make_problem(dataset: Dataset, concept: str, args: argparse.Namespace, X: np.ndarray) -> Problem:
    positives = dataset.concept_rows(concept)
    pool_rows = dataset.split_rows("pool")
    pool_positives = dataset.rows_in_split(positives, "pool")
    rng = np.random.default_rng(args.seed)  # as experiment.run draws it
    seed = seed_set(pool_positives, pool_rows, SEED_POS, NEG_RATIO, rng)
    test_rows = dataset.split_rows("test")
    truth = np.isin(test_rows, positives).astype(np.int8)
    return Problem(
        dataset, concept, pool_rows, X, pool_positives, seed, GroundTruthOracle(positives),
        dataset.embeddings.take(test_rows), truth, args.budget, args.batch, args.k,
    )  # fmt: skip


def open_dataset(args: argparse.Namespace) -> Dataset:
    if args.dataset is not None:
        return Dataset.open(args.dataset)
    path = args.work / f"synth-{args.n}x{args.dim}-c{args.synthetic_concepts}"
    if (path / "dataset.json").is_file():
        return Dataset.open(path)
    return build_synthetic_dataset(path, n=args.n, dim=args.dim, n_concepts=args.synthetic_concepts, seed=args.seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None, help="an existing dataset instead of a synthetic one")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--synthetic-concepts", type=int, default=20)
    parser.add_argument("--concepts", type=int, default=3, help="concepts to run (picked reproducibly)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--factory", default="auto", help="sealsearch's index for ours-seals")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("seals-data/bench"))
    parser.add_argument(
        "--hnsw",
        default="",
        help='small-text SEALS hnswlib settings, e.g. "M=32,ef_construction=40" (default: its own)',
    )
    parser.add_argument(
        "--peers-one-blas-thread", action="store_true", help="run the peers with one BLAS thread, as ActiveLoop runs"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the per-concept rows to this CSV")
    args = parser.parse_args()

    hnsw_kwargs = {key: int(value) for key, value in (item.split("=") for item in args.hnsw.split(",") if item)}
    dataset = open_dataset(args)
    concepts = pick_concepts(dataset, args.concepts, seed_pos=SEED_POS, seed=args.seed)
    X = np.ascontiguousarray(dataset.embeddings.take(dataset.split_rows("pool")))
    index, t_index = None, 0.0
    if "ours-seals" in args.methods:
        start = time.perf_counter()
        index = open_or_build_index(dataset, args.factory)
        t_index = time.perf_counter() - start  # a build, or only a load when an earlier run built it
    print(
        f"{dataset.path.name}: n={dataset.info.n} dim={dataset.info.dim} pool={X.shape[0]} k={args.k} "
        f"T={args.budget} b={args.batch} concepts={concepts} index={index.factory if index else '-'} "
        f"({t_index:.1f} s to open/build) hnsw={hnsw_kwargs or 'small-text default'} "
        f"peer BLAS threads={'1' if args.peers_one_blas_thread else 'default'}"
    )
    records = []
    for concept in concepts:
        problem = make_problem(dataset, concept, args, X)
        runs: dict[str, Outcome] = {}
        for method in args.methods:
            if method == "ours-all":
                runs[method] = run_ours(problem, "all", None)
            elif method == "ours-seals":
                runs[method] = run_ours(problem, "seals", index)
                runs[method].t_index = t_index
            else:
                with threadpool_limits(1, "blas") if args.peers_one_blas_thread else contextlib.nullcontext():
                    if method == "modal":
                        runs[method] = run_modal(problem)
                    elif method == "skactiveml":
                        runs[method] = run_skactiveml(problem)
                    else:
                        runs[method] = run_smalltext_seals(problem, hnsw_kwargs)
        for method, outcome in runs.items():
            baseline = runs.get(BASELINE.get(method, "ours-seals"))
            found = np.isin(outcome.labeled_rows, problem.pool_positives).sum()
            ap = average_precision_score(problem.test_truth, positive_proba(outcome.model, problem.test_X))
            same = np.isin(outcome.labeled_rows, baseline.labeled_rows).mean() if baseline else np.nan
            records.append(
                {
                    "concept": concept, "method": method, "n_labeled": outcome.labeled_rows.size,
                    "ap": ap, "recall": found / problem.pool_positives.size, "same": same,
                    "t_select": outcome.t_select, "t_knn": outcome.t_knn, "t_train": outcome.t_train,
                    "t_total": outcome.t_total, "t_index": outcome.t_index,
                }
            )  # fmt: skip
        print(f"  {concept}: " + ", ".join(f"{m} {r.t_total:.1f} s" for m, r in runs.items()), flush=True)
    table = pd.DataFrame(records)
    if args.out:
        table.to_csv(args.out, index=False)
    summary = table.groupby("method", sort=False).mean(numeric_only=True)
    for method in summary.index:
        base = BASELINE.get(method, "ours-seals")
        if base in summary.index:
            picking = summary[["t_select", "t_knn"]].sum(axis=1)  # selection including kNN upkeep
            summary.loc[method, "select_x"] = picking[method] / picking[base]
            summary.loc[method, "total_x"] = summary.loc[method, "t_total"] / summary.loc[base, "t_total"]
    pd.set_option("display.width", 200)
    print("\nmean over concepts (seconds per run; *_x = time / the sealsearch run of the same pool kind):")
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
