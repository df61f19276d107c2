"""sealsearch against peer active-learning libraries: same pool, strategy, learner, seed set and budget.

    /work/venv-bench/bin/python bench/peers.py --n 100000 --dim 64 --concepts 3 --seed 0 1 --budget 1000

Needs the peers of bench/requirements.txt (a separate venv; they are never sealsearch dependencies).
Methods (--methods picks a subset):

- `ours-all`    sealsearch ActiveLoop, pool "all", strategy "maxent" (every unlabeled pool row scored)
- `ours-seals`  the same with pool "seals" (kNN neighbourhoods of the labeled rows; index built once,
                its kNN graph used when one exists and --knn allows, as the product does)
- `modal`       modAL's uncertainty_sampling over the whole unlabeled set (see run_modal: no ActiveLearner)
- `skactiveml`  scikit-activeml UncertaintySampling(method="entropy") + SklearnClassifier, candidates = all unlabeled
- `smalltext-seals`     small-text PoolBasedActiveLearner with SEALS(LeastConfidence(), k) (hnswlib inside)
- `smalltext-anchoral`  the same with AnchorSubsampling(LeastConfidence(), ...): AnchorAL (bench/peer_smalltext.py)

Every method gets sealsearch's default learner (LogisticRegression, C = DEFAULT_C), the seed set of
`sealsearch.experiments.simulate.run` (same rng, same `seed_set`; one run per concept per --seed),
batches of --batch until --budget labels, and the ground-truth oracle. For two classes least
confidence, entropy and MaxEnt rank alike. Peers work on the pool split's vectors loaded into
memory (their APIs take arrays); ours reads the memory-mapped store. Times are wall-clock seconds of
each run's loop; a kNN index (or graph) built before the loop (ours, reused by every run) or inside
the first query (small-text, per run) is reported apart as `t_index`. Final AP is on the test split,
recall over the pool's positives; `same` is the share of labeled rows that the method has in common
with the sealsearch run of the same pool kind. The summary gives medians over concepts × seeds and,
per run, each peer's time per round (selection incl. kNN, and whole round) ÷ ours with its AP and
recall gap, median [min–max]; for the small-text strategies against ours-seals it prints whether
ours is >= 10x faster per round at equal (within 0.01) or better AP and recall. Before measuring,
each small-text method runs once on a 5,000-row problem with its queries checked
(peer_smalltext.check).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
from cold_rounds import spread  # bench/cold_rounds.py (the script's folder is on sys.path)
from peer_common import Clock, Outcome, Problem  # bench/peer_common.py
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import average_precision_score
from threadpoolctl import threadpool_limits

from sealsearch.active.knn import KNN_SOURCES, build_knn_graph, open_or_build_index, resolve_knn
from sealsearch.active.learner import default_learner, positive_proba
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.pools import make_pool
from sealsearch.data.dataset import Dataset
from sealsearch.datasets.synthetic import build_synthetic_dataset
from sealsearch.experiments.simulate import GroundTruthOracle, pick_concepts, seed_set
from sealsearch.index import KnnIndex
from sealsearch.index.graph import KnnGraph

SEED_POS, NEG_RATIO = 5, 19  # RunConfig's defaults: the paper's 5 positives + 95 negatives


def run_ours(problem: Problem, pool_name: str, index: KnnIndex | None, graph: KnnGraph | None) -> Outcome:
    start = time.perf_counter()
    dataset = problem.dataset
    pool = make_pool(pool_name, dataset.embeddings, problem.pool_rows, index=index, graph=graph, k=problem.k)
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


METHODS = ("ours-all", "ours-seals", "modal", "skactiveml", "smalltext-seals", "smalltext-anchoral")
BASELINE = {"ours-all": "ours-all", "modal": "ours-all", "skactiveml": "ours-all"}  # else ours-seals
SMALLTEXT = ("smalltext-seals", "smalltext-anchoral")
GOAL_X, QUALITY_TOLERANCE = 10.0, 0.01  # issue 10, goal 5: ours-seals >= 10x faster per round at equal quality


def make_problem(dataset: Dataset, concept: str, seed: int, args: argparse.Namespace, X: np.ndarray) -> Problem:
    positives = dataset.concept_rows(concept)
    pool_rows = dataset.split_rows("pool")
    pool_positives = dataset.rows_in_split(positives, "pool")
    rng = np.random.default_rng(seed)  # as experiment.run draws it
    seeds = seed_set(pool_positives, pool_rows, SEED_POS, NEG_RATIO, rng)
    test_rows = dataset.split_rows("test")
    truth = np.isin(test_rows, positives).astype(np.int8)
    return Problem(
        dataset, concept, seed, pool_rows, X, pool_positives, seeds, GroundTruthOracle(positives),
        dataset.embeddings.take(test_rows), truth, args.budget, args.batch, args.k,
    )  # fmt: skip


def open_dataset(args: argparse.Namespace) -> Dataset:
    if args.dataset is not None:
        return Dataset.open(args.dataset)
    path = args.work / f"synth-{args.n}x{args.dim}-c{args.synthetic_concepts}"
    if (path / "dataset.json").is_file():
        return Dataset.open(path)
    return build_synthetic_dataset(
        path, n=args.n, dim=args.dim, n_concepts=args.synthetic_concepts, seed=args.seed[0]
    )  # fmt: skip


def open_ours(dataset: Dataset, args: argparse.Namespace) -> tuple[KnnIndex, KnnGraph | None, str, float]:
    """ours-seals' index and, as --knn resolves it, its kNN graph (built first with --build-graph);
    with the seconds it took to open or build them."""
    start = time.perf_counter()
    index = open_or_build_index(dataset, args.factory)
    if args.build_graph and args.knn != "index" and resolve_knn(dataset, index.factory, args.k)[0] is None:
        build_knn_graph(dataset, index, args.k)
    graph, mode = resolve_knn(dataset, index.factory, args.k, args.knn)
    return index, graph, mode, time.perf_counter() - start


def parse_kwargs(text: str) -> dict[str, int]:
    """Parses `--hnsw`/`--anchoral`: "M=32,ef_construction=40" -> {"M": 32, "ef_construction": 40}."""
    items = [item.partition("=") for item in text.split(",") if item]
    if not all(sep and value.strip().isdigit() for _, sep, value in items):
        raise ValueError(f"{text!r} is not key=integer pairs separated by commas, e.g. 'M=32,ef_construction=40'")
    return {key.strip(): int(value) for key, _, value in items}


def run_peer(method: str, problem: Problem, args: argparse.Namespace) -> Outcome:
    with threadpool_limits(1, "blas") if args.peers_one_blas_thread else contextlib.nullcontext():
        if method == "modal":
            return run_modal(problem)
        if method == "skactiveml":
            return run_skactiveml(problem)
        from peer_smalltext import run_smalltext

        return run_smalltext(problem, method, parse_kwargs(args.hnsw), parse_kwargs(args.anchoral))


def record(problem: Problem, method: str, outcome: Outcome, baseline: Outcome | None) -> dict:
    found = np.isin(outcome.labeled_rows, problem.pool_positives).sum()
    ap = average_precision_score(problem.test_truth, positive_proba(outcome.model, problem.test_X))
    same = np.isin(outcome.labeled_rows, baseline.labeled_rows).mean() if baseline else np.nan
    rounds = problem.rounds(outcome.labeled_rows.size)
    return {
        "concept": problem.concept, "seed": problem.seed, "method": method,
        "n_labeled": outcome.labeled_rows.size, "rounds": rounds,
        "ap": ap, "recall": found / problem.pool_positives.size, "same": same,
        "t_select": outcome.t_select, "t_knn": outcome.t_knn, "t_train": outcome.t_train,
        "t_total": outcome.t_total, "t_index": outcome.t_index,
        "ms_pick": 1e3 * (outcome.t_select + outcome.t_knn) / rounds, "ms_round": 1e3 * outcome.t_total / rounds,
    }  # fmt: skip


def report(table: pd.DataFrame) -> None:
    """Medians per method; per run, each method's time per round ÷ its baseline's and quality gaps."""
    pd.set_option("display.width", 200)
    cells = table.groupby("method", sort=False)
    summary = cells.median(numeric_only=True).drop(columns="seed")
    summary.insert(0, "runs", cells.size())
    print("\nmedian over concepts × seeds (t_* seconds per run; ms_pick = selection incl. kNN, ms_round = whole")
    print("round, both per round; t_index = index build, apart):")
    print(summary.round(3).to_string())
    print("\nper run (concept × seed), method ÷ its baseline, median [min–max]:")
    runs = table.set_index(["concept", "seed", "method"])
    for method in table["method"].unique():
        base = BASELINE.get(method, "ours-seals")
        if base == method or base not in table["method"].values:
            continue
        peer = runs.xs(method, level="method")
        ours = runs.xs(base, level="method").reindex(peer.index)
        pick, whole = peer["ms_pick"] / ours["ms_pick"], peer["ms_round"] / ours["ms_round"]
        d_ap, d_recall = ours["ap"] - peer["ap"], ours["recall"] - peer["recall"]
        print(
            f"  {method} ÷ {base}: selection {spread(pick)}×, whole round {spread(whole)}×; "
            f"{base} minus {method}: AP {spread(d_ap)}, recall {spread(d_recall)} ({len(peer)} runs)"
        )
        if method in SMALLTEXT:
            quality = d_ap.median() >= -QUALITY_TOLERANCE and d_recall.median() >= -QUALITY_TOLERANCE
            for what, ratio in (("selection", pick), ("whole round", whole)):
                met = ratio.median() >= GOAL_X and quality
                print(
                    f"    {'MET   ' if met else 'MISSED'} {base} >= {GOAL_X:g}x faster per round than {method} "
                    f"({what}: {ratio.median():.1f}x) at equal or better AP and recall "
                    f"(median gaps {d_ap.median():+.3f}, {d_recall.median():+.3f}; equal = within {QUALITY_TOLERANCE})"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None, help="an existing dataset instead of a synthetic one")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--synthetic-concepts", type=int, default=20)
    parser.add_argument("--concepts", type=int, default=3, help="concepts to run (picked reproducibly)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--factory", default="auto", help="sealsearch's index for ours-seals")
    parser.add_argument("--knn", choices=KNN_SOURCES, default="auto", help="ours-seals' neighbours (as `seals run`)")
    parser.add_argument("--build-graph", action="store_true", help="build ours-seals' kNN graph first when absent")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--seed", type=int, nargs="+", default=[0],
        help="seed sets, one run per concept per seed; the first also picks the concepts and the synthetic data",
    )  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path("seals-data/bench"))
    parser.add_argument(
        "--hnsw", default="", help='small-text hnswlib settings, e.g. "M=32,ef_construction=40" (default: its own)'
    )
    parser.add_argument(
        "--anchoral",
        default="",
        help='AnchorAL settings, e.g. "subsample_size=500,num_anchors=10,k=50" (default: its own)',
    )
    parser.add_argument(
        "--peers-one-blas-thread", action="store_true", help="run the peers with one BLAS thread, as ActiveLoop runs"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the per-run rows to this CSV")
    args = parser.parse_args()
    anchoral = "-"
    try:
        parse_kwargs(args.hnsw)
        if "smalltext-anchoral" in args.methods:
            from peer_smalltext import describe_anchoral

            anchoral = describe_anchoral(parse_kwargs(args.anchoral))
    except (ValueError, TypeError) as error:
        parser.error(f"--hnsw/--anchoral: {error}")

    dataset = open_dataset(args)
    concepts = pick_concepts(dataset, args.concepts, seed_pos=SEED_POS, seed=args.seed[0])
    X = np.ascontiguousarray(dataset.embeddings.take(dataset.split_rows("pool")))
    index, graph, knn, t_index = None, None, "-", 0.0
    if "ours-seals" in args.methods:
        index, graph, knn, t_index = open_ours(dataset, args)
    print(
        f"{dataset.path.name}: n={dataset.info.n} dim={dataset.info.dim} pool={X.shape[0]} k={args.k} "
        f"T={args.budget} b={args.batch} concepts={concepts} seeds={args.seed} "
        f"index={index.factory if index else '-'} knn={knn} ({t_index:.1f} s to open/build) "
        f"hnsw={args.hnsw or 'small-text default'} anchoral={anchoral} "
        f"peer BLAS threads={'1' if args.peers_one_blas_thread else 'default'}"
    )
    first = make_problem(dataset, concepts[0], args.seed[0], args, X)
    for method in (m for m in args.methods if m in SMALLTEXT):
        from peer_smalltext import check

        done = check(first, method, parse_kwargs(args.hnsw), parse_kwargs(args.anchoral))
        print(f"  check {method}: {done}", flush=True)
    records = []
    for seed in args.seed:
        for concept in concepts:
            problem = make_problem(dataset, concept, seed, args, X)
            runs: dict[str, Outcome] = {}
            for method in args.methods:
                if method == "ours-all":
                    runs[method] = run_ours(problem, "all", None, None)
                elif method == "ours-seals":
                    runs[method] = run_ours(problem, "seals", index, graph)
                    runs[method].t_index = t_index
                else:
                    runs[method] = run_peer(method, problem, args)
            for method, outcome in runs.items():
                records.append(record(problem, method, outcome, runs.get(BASELINE.get(method, "ours-seals"))))
            print(
                f"  {concept} seed {seed}: " + ", ".join(f"{m} {r.t_total:.2f} s" for m, r in runs.items()), flush=True
            )
            if args.out:  # after every run, so a long run interrupted keeps what it measured
                pd.DataFrame(records).to_csv(args.out, index=False)
    report(pd.DataFrame(records))


if __name__ == "__main__":
    main()
