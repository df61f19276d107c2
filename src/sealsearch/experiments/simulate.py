"""Simulated active learning / search on labeled data: the paper's protocol.

`run` drives an `ActiveLoop` with an oracle until the labeling budget is spent and records one
row per round (labels, positives, recall, test AP, pool size, time split). It is only a loop
around ask/tell; progress reporting goes through a callback so the library never draws bars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from sealsearch._util import atomic_write, single_threaded_blas
from sealsearch.active.estimate import check_method
from sealsearch.active.knn import check_knn, open_codes, open_knn
from sealsearch.active.learner import positive_proba
from sealsearch.active.loop import ActiveLoop
from sealsearch.active.metrics import average_precision
from sealsearch.active.pools import make_pool, pools_using_k
from sealsearch.active.stopping import StoppingRule, parse_rule
from sealsearch.active.strategies import DEFAULT_STRATEGY, check_strategy
from sealsearch.data.codes import PoolCodes, check_codes_mode
from sealsearch.data.dataset import Dataset
from sealsearch.data.shards import Scanner
from sealsearch.errors import InvalidParameterError
from sealsearch.experiments.estimate import (
    ESTIMATE_COLUMNS,
    RoundEstimator,
    empty_estimate,
    make_estimator,
    stop_inputs,
)
from sealsearch.index import KnnIndex

NUMERIC_ROUND_COLUMNS = [
    "round", "n_labeled", "n_positive", "recall", "ap",
    "pool_size", "pool_frac", "t_select", "t_knn", "t_train",
]  # fmt: skip
ROUND_COLUMNS = [*NUMERIC_ROUND_COLUMNS, "knn", *ESTIMATE_COLUMNS]
"""Columns of a run table; other tools and scripts read these names. `knn` is where the pool's
neighbours came from: "graph", "index", or "none" for pools without neighbours. The estimate
columns (`experiments.estimate`) hold the recall a user would be told (NaN without
`--estimate`) and the audit labels that cost."""
KNN_UNRECORDED = "unrecorded"
"""The `knn` value given to rows of tables written before the column existed."""


def with_knn_column(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with a `knn` column and the estimate columns: tables written before they existed
    get KNN_UNRECORDED, NaN estimates and 0 audit labels, so old results stay readable."""
    table = table if "knn" in table.columns else table.assign(knn=KNN_UNRECORDED)
    missing = {c: v for c, v in empty_estimate().items() if c not in table.columns}
    return table.assign(**missing) if missing else table


class Oracle(Protocol):
    """Whoever answers: ground truth in simulations, a person in real use."""

    def label(self, rows: np.ndarray) -> np.ndarray: ...


class GroundTruthOracle:
    """Labels rows 1 when they belong to a known set of positive rows."""

    def __init__(self, positive_rows: np.ndarray):
        self.positive_rows = np.unique(np.asarray(positive_rows, dtype=np.int64))

    def label(self, rows: np.ndarray) -> np.ndarray:
        return np.isin(rows, self.positive_rows, assume_unique=False).astype(np.int8)


def seed_set(
    pool_positives: np.ndarray, pool_rows: np.ndarray, n_pos: int, neg_ratio: int, rng: np.random.Generator
) -> np.ndarray:
    """The paper's seed: n_pos random positives and neg_ratio × n_pos random negatives, all drawn
    from `pool_rows`; `pool_positives` are the concept's rows within them. Counts are checked
    first: the rejection sampling below would never finish on a pool with too few negatives."""
    positives = np.unique(np.asarray(pool_positives, dtype=np.int64))
    negatives_needed = n_pos * neg_ratio
    negatives_available = np.asarray(pool_rows).size - positives.size
    if positives.size < n_pos or negatives_available < negatives_needed:
        raise InvalidParameterError(
            f"the seed set needs {n_pos} positives and {negatives_needed} negatives ({n_pos} × neg_ratio "
            f"{neg_ratio}) but the pool split has {positives.size} positives and {negatives_available} "
            "negatives; lower seed_pos or neg_ratio",
            params=["seed_pos", "neg_ratio"],
        )
    picked_pos = rng.choice(positives, size=n_pos, replace=False)
    # Rejection sampling keeps this O(seed size) for huge pools where negatives are almost everything.
    picked_neg = np.empty(0, dtype=np.int64)
    while picked_neg.size < negatives_needed:
        draw = rng.choice(pool_rows, size=2 * (negatives_needed - picked_neg.size) + 16)
        draw = draw[~np.isin(draw, positives)]
        picked_neg = np.concatenate([picked_neg, draw])
        picked_neg = picked_neg[np.sort(np.unique(picked_neg, return_index=True)[1])]
    return np.concatenate([picked_pos, picked_neg[:negatives_needed]]).astype(np.int64)


@dataclass
class RunConfig:
    """Everything that determines a simulated run (the CLI flags of `seals run`)."""

    concept: str
    strategy: str = DEFAULT_STRATEGY
    pool: str = "seals"
    k: int = 100
    budget: int = 2000
    batch_size: int = 100
    seed_pos: int = 5
    neg_ratio: int = 19
    seed: int = 0
    factory: str = "auto"
    randpool_fraction: float = 0.1
    dedup: float | None = None
    repeat: int = 0
    knn: str = "auto"
    """Where the seals pool finds neighbours: "auto" (a stored kNN graph when one with k >= `k`
    exists, else the index), "graph" (refused without one) or "index" (never a graph)."""
    estimate: str | None = None
    """Recall estimate per round: "audit", "model" or None (the est_* columns stay NaN)."""
    audit: int | None = None
    """Audit labels drawn per round by the audit estimate (None: `default_audit(batch_size)`)."""
    stop: str | None = None
    """A stopping rule (`active.stopping.parse_rule`); the run ends at the first round it fires."""
    codes: str = "auto"
    """Codes for the seals pool (`data.codes.CODES_MODES`): "sq8" scores candidates on SQ8 codes
    held in RAM and re-ranks the best exactly, "index" does the same on the kNN index's own codes
    (no second copy), "none" keeps the exact float32 buffer, "auto" takes the index's codes (when
    precise) or SQ8 codes when the embeddings file will not stay in the page cache
    (`data.codes.choose_codes`)."""

    def validate(self) -> None:
        check_strategy(self.strategy)
        if self.estimate is not None:
            check_method(self.estimate)
        if self.audit is not None and self.audit <= 0:
            raise InvalidParameterError(
                f"audit must be a positive count of labels per round, got {self.audit}", params=["audit"]
            )
        if self.stop is not None and parse_rule(self.stop).needs_estimate and self.estimate is None:
            raise InvalidParameterError(
                f"stop {self.stop} reads the recall estimate: set estimate to audit or model",
                params=["stop", "estimate"],
            )
        check_knn(self.knn)
        check_codes_mode(self.codes)
        for name in ("k", "budget", "batch_size", "seed_pos"):
            if getattr(self, name) <= 0:
                raise InvalidParameterError(f"{name} must be positive, got {getattr(self, name)}", params=[name])
        if self.dedup is not None and not 0 < self.dedup < 1:
            raise InvalidParameterError(f"dedup is a cosine threshold in (0, 1), got {self.dedup}", params=["dedup"])
        if self.neg_ratio < 0:
            raise InvalidParameterError(f"neg_ratio must be >= 0, got {self.neg_ratio}", params=["neg_ratio"])
        seed_size = self.seed_pos * (1 + self.neg_ratio)
        if self.budget < seed_size:
            raise InvalidParameterError(
                f"budget {self.budget} is smaller than the seed set ({self.seed_pos} positives × "
                f"(1 + neg_ratio {self.neg_ratio}) = {seed_size}); raise budget or lower seed_pos",
                params=["budget", "neg_ratio", "seed_pos"],
            )


@dataclass
class RunResult:
    """One row per round plus the full label log, in labeling order (round 0 = seed)."""

    config: RunConfig
    rounds: pd.DataFrame
    labels: pd.DataFrame = field(repr=False)
    stop_reason: str | None = None
    """Why the stopping rule ended the run (None without `config.stop` or when it never fired)."""

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write `path` (rounds) and `<stem>.labels.parquet` beside it."""
        path = Path(path)
        labels_path = path.with_name(f"{path.stem}.labels.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        for frame, target in ((self.rounds, path), (self.labels, labels_path)):
            with atomic_write(target) as tmp:  # a failed write leaves no half file
                frame.to_parquet(tmp, index=False)
        return path, labels_path


class HeldOutScorer:
    """AP of a model on the test split; the test vectors are read once and reused every round."""

    def __init__(self, dataset: Dataset, positive_rows: np.ndarray):
        self.rows = dataset.split_rows("test")
        self.truth = np.zeros(self.rows.size, dtype=np.int8)
        self.truth[np.searchsorted(self.rows, dataset.rows_in_split(positive_rows, "test"))] = 1
        self.vectors = dataset.embeddings.take(self.rows) if self.truth.any() else None

    def average_precision(self, loop: ActiveLoop) -> float:
        if self.vectors is None:
            return float("nan")
        model = loop.fit()
        with single_threaded_blas():
            return average_precision(self.truth, positive_proba(model, self.vectors))


RoundCallback = Callable[[dict], None]


def run(
    dataset: Dataset,
    config: RunConfig,
    *,
    index: KnnIndex | None = None,
    learner: BaseEstimator | None = None,
    oracle: Oracle | None = None,
    on_round: RoundCallback | None = None,
    scanner: Scanner | None = None,
    codes: PoolCodes | None = None,
) -> RunResult:
    """Simulate one concept: seed set, then rounds of {train, score, pick b, label, grow pool}
    until `config.budget` labels. The oracle defaults to the dataset's ground truth. `scanner`
    scores the all/randpool candidates (this machine's threads by default, or Ray tasks over shards
    of the file); the rows are the same either way. `codes` (opened once by a caller running many
    runs) replace what `config.codes` would open for a seals pool."""
    config.validate()
    positives = dataset.concept_rows(config.concept)
    pool_rows = dataset.split_rows("pool")
    pool_positives = dataset.rows_in_split(positives, "pool")
    _check_sizes(config, pool_positives.size, pool_rows.size)
    rng = np.random.default_rng(config.seed)
    # The seed set is drawn first, so every pool and strategy with the same seed starts from it.
    seed = seed_set(pool_positives, pool_rows, config.seed_pos, config.neg_ratio, rng)
    graph, source = None, "none"
    if config.pool in pools_using_k():
        index, graph, source = open_knn(dataset, config.factory, config.k, config.knn, knn_index=index)
        codes = open_codes(dataset, config.codes, knn_index=index) if codes is None else codes
    else:
        codes = None  # only a seals pool scores on codes
    config = replace(config, codes="none" if codes is None else codes.mode)  # the result says which were used
    pool = make_pool(
        config.pool, dataset.embeddings, pool_rows, index=index, graph=graph, k=config.k,
        fraction=config.randpool_fraction, rng=rng, scanner=scanner, codes=codes,
    )  # fmt: skip
    loop = ActiveLoop(
        dataset.embeddings, pool, strategy=config.strategy, learner=learner,
        batch_size=config.batch_size, seed=config.seed, dedup=config.dedup, eligible_rows=pool_rows,
    )  # fmt: skip
    oracle = oracle if oracle is not None else GroundTruthOracle(positives)
    rule = parse_rule(config.stop) if config.stop else None
    estimator = make_estimator(config.estimate, config.audit, config.batch_size, rule, pool_rows, oracle.label,
                               config.seed)  # fmt: skip
    rounds = _Rounds(loop, HeldOutScorer(dataset, positives), pool_positives.size, pool_rows.size, source,
                     estimator, on_round)  # fmt: skip
    _tell(loop, oracle, estimator, seed, config.budget)
    rounds.record()
    while loop.n_labeled < config.budget and pool.size > 0 and not rounds.stopped(rule):
        audit = estimator.audit if estimator is not None else 0
        room = config.budget - loop.n_labeled
        batch = loop.ask(max(min(config.batch_size, room - audit), min(room, 1)))
        _tell(loop, oracle, estimator, batch.rows, config.budget)
        rounds.record()
    label_log = pd.DataFrame({"round": loop.label_rounds, "row": loop.labeled_rows, "label": loop.labels})
    return RunResult(config, rounds.table(), label_log, rounds.stop_reason)


def _tell(loop: ActiveLoop, oracle: Oracle, estimator: RoundEstimator | None, rows: np.ndarray, budget: int) -> None:
    """Label `rows` and this round's audit (drawn outside them); both join the loop at once."""
    labels = oracle.label(rows)
    if estimator is not None:
        rows, labels = estimator.with_audit(loop, rows, labels, budget)
    loop.tell(rows, labels)


def _check_sizes(config: RunConfig, n_pool_positives: int, n_pool_rows: int) -> None:
    """Refuse a run the concept's pool positives or the pool split cannot hold, before any work."""
    if n_pool_positives < config.seed_pos:
        raise InvalidParameterError(
            f"concept {config.concept!r} has {n_pool_positives} positives in the pool split, fewer than "
            f"seed_pos {config.seed_pos}; choose another concept or lower seed_pos",
            params=["seed_pos"],
        )
    if n_pool_rows < config.seed_pos * (1 + config.neg_ratio):
        raise InvalidParameterError(f"the pool split has only {n_pool_rows} rows, fewer than the seed set")
    if config.budget > n_pool_rows:
        raise InvalidParameterError(
            f"budget {config.budget} exceeds the {n_pool_rows} rows of the pool split; lower budget",
            params=["budget"],
        )
    if config.pool in pools_using_k() and config.k > n_pool_rows:
        raise InvalidParameterError(
            f"k {config.k} exceeds the {n_pool_rows} rows of the pool split; lower k (the paper used 10-100)",
            params=["k"],
        )


class _Rounds:
    """The rows of a run's round table, recorded after each `tell`, and its stopping rule's verdict."""

    def __init__(
        self, loop: ActiveLoop, scorer: HeldOutScorer, n_pool_positives: int, n_pool_rows: int, source: str,
        estimator: RoundEstimator | None, on_round: RoundCallback | None,
    ):  # fmt: skip
        self.loop, self.scorer, self.source = loop, scorer, source
        self.n_pool_positives, self.n_pool_rows = n_pool_positives, n_pool_rows
        self.estimator, self.on_round = estimator, on_round
        self.rows: list[dict] = []
        self.stop_reason: str | None = None

    def record(self) -> None:
        loop, pool = self.loop, self.loop.pool
        labeled, labels = loop.labeled_rows, loop.labels
        found = int(labels.sum())
        row = {
            "round": loop.round - 1,
            "n_labeled": int(labeled.size),
            "n_positive": found,
            "recall": found / self.n_pool_positives,
            "ap": self.scorer.average_precision(loop),  # trains the model the next ask() would use anyway
            "pool_size": pool.size,
            "pool_frac": pool.size / self.n_pool_rows,
            "t_select": loop.timings.select,
            "t_knn": loop.timings.knn,
            "t_train": loop.timings.train,
            "knn": self.source,
            **(self.estimator.columns(loop) if self.estimator is not None else empty_estimate()),
        }
        self.rows.append(row)
        if self.on_round:
            self.on_round(row)

    def stopped(self, rule: StoppingRule | None) -> bool:
        if rule is None:
            return False
        decision = rule.check(
            np.array([r["n_labeled"] for r in self.rows]), np.array([r["n_positive"] for r in self.rows]),
            **stop_inputs(self.estimator), pool_size=self.n_pool_rows,
        )  # fmt: skip
        self.stop_reason = f"{decision.reason}; guarantee: {decision.guarantee}" if decision.stop else None
        return decision.stop

    def table(self) -> pd.DataFrame:
        table = pd.DataFrame(self.rows, columns=ROUND_COLUMNS)
        # Timings are cumulative inside the loop; a round's row holds that round's own seconds.
        for column in ("t_select", "t_knn", "t_train"):
            table[column] = table[column].diff().fillna(table[column])
        return table


def pick_concepts(dataset: Dataset, n: int, *, seed_pos: int, min_test: int = 5, seed: int = 0) -> list[str]:
    """A reproducible sample of n concepts with enough pool positives to seed a run and, when the
    dataset has a test split, enough test positives for a meaningful AP."""
    counts = dataset.concept_counts()
    if dataset.split_rows("test").size == 0:
        min_test = 0
    usable = counts.loc[(counts["pool"] >= seed_pos) & (counts["test"] >= min_test), "concept"].tolist()
    if len(usable) < n:
        raise InvalidParameterError(
            f"only {len(usable)} concepts have >= {seed_pos} pool and >= {min_test} test positives; asked for {n}"
        )
    return sorted(np.random.default_rng(seed).choice(usable, size=n, replace=False).tolist())


def rounds_per_run(config: RunConfig) -> int:
    """Rows a run produces when its pool never runs dry (seed round included)."""
    return 1 + -(-(config.budget - config.seed_pos * (1 + config.neg_ratio)) // config.batch_size)
