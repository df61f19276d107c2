"""`seals experiment`: the paper's protocol over a grid of cells, streamed to disk and resumable.

A cell is one simulated run: (concept, strategy, pool, k, seed_pos, dedup, repeat). Cells finish in
any order (possibly in parallel processes); each finished cell is appended to `runs.parquet`,
rewritten atomically, so an interrupted experiment loses at most the cells in flight and rerunning
the same command skips everything already on disk.

The paper's protocol (§4.1): the seed set is p positives and neg_ratio·p random negatives from the
pool split, the batch size equals the seed size, and repeats differ only in the random seed. Every
strategy and pool of a (concept, seed_pos, repeat) starts from the same seed set.

Layout of RESULTS/:
- `runs.parquet`: one row per round per run, RUN_KEYS then ROUND_COLUMNS.
- `experiment.json`: the settings shared by every cell; a rerun must match them. Its "knn" maps
  each k to where the seals pools' neighbours came from ("graph" or "index"): a rerun that would
  take them from elsewhere (a graph built or removed since) is refused, never mixed in.
- `full_supervision.parquet`: (concept, ap) of the learner trained on every pool label, the
  reference line of the paper's figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._ray import check_executor
from sealsearch._util import Progress, atomic_write, single_threaded_blas
from sealsearch.active.knn import check_knn, open_codes, open_or_build_index, resolve_knn
from sealsearch.active.learner import default_learner, fit_learner, positive_proba
from sealsearch.active.metrics import average_precision
from sealsearch.active.pools import check_pool, pools_using_k
from sealsearch.active.strategies import check_strategy
from sealsearch.data.codes import PoolCodes, check_codes_mode, decide_codes
from sealsearch.data.dataset import Dataset
from sealsearch.errors import InvalidDataError, InvalidParameterError
from sealsearch.experiments.executors import Executor, InlineExecutor, LocalProcessExecutor
from sealsearch.experiments.recorded import SETTINGS_FILE as SETTINGS_FILE  # re-exported: its old home
from sealsearch.experiments.recorded import check_knn_sources, check_settings
from sealsearch.experiments.simulate import (
    NUMERIC_ROUND_COLUMNS,
    ROUND_COLUMNS,
    RunConfig,
    run,
    with_knn_column,
)
from sealsearch.index import KnnIndex
from sealsearch.index.milvus import is_local
from sealsearch.index.shared_codes import has_precise_codes

RUN_KEYS = ["concept", "strategy", "pool", "k", "seed_pos", "dedup", "repeat"]
"""Columns that identify a cell; `k` is 0 for pools without neighbours, `dedup` NaN when off."""
RUNS_FILE = "runs.parquet"
FULL_FILE = "full_supervision.parquet"


@dataclass
class ExperimentGrid:
    """The axes of an experiment; every combination is one cell."""

    concepts: list[str]
    strategies: list[str] = field(default_factory=lambda: ["random", "maxent", "mlp", "id"])
    pools: list[str] = field(default_factory=lambda: ["all", "seals"])
    ks: list[int] = field(default_factory=lambda: [100])
    seed_pos: list[int] = field(default_factory=lambda: [5])
    dedup: list[float | None] = field(default_factory=lambda: [None])
    repeats: int = 3
    budget: int = 2000
    neg_ratio: int = 19
    seed: int = 0
    factory: str = "auto"
    knn: str = "auto"
    """Where seals pools find neighbours (see `RunConfig.knn`); what each k resolved to is
    recorded in experiment.json and every run's `knn` column."""
    estimate: str | None = None
    audit: int | None = None
    stop: str | None = None
    """Recall estimate, audit labels per round and stopping rule of every cell (`RunConfig`)."""
    codes: str = "auto"
    """Codes for seals pools (`RunConfig.codes`); "auto" is resolved once per experiment by
    `data.codes.choose_codes`, and "sq8" or "index" (given or chosen) is recorded in
    experiment.json."""
    backend: str = "faiss"
    """Index backend ("faiss", or "milvus" at `uri`); recorded in experiment.json unless Faiss."""
    uri: str | None = None

    def validate(self) -> None:
        for name in ("concepts", "strategies", "pools", "ks", "seed_pos", "dedup"):
            if not getattr(self, name):
                raise InvalidParameterError(f"{name} is empty; give at least one value", params=[name])
        for strategy in self.strategies:
            check_strategy(strategy)
        check_knn(self.knn)
        check_codes_mode(self.codes)
        for pool in self.pools:
            check_pool(pool)
        if self.repeats <= 0:
            raise InvalidParameterError(f"repeats must be positive, got {self.repeats}", params=["repeats"])
        for threshold in self.dedup:
            if threshold is not None and not 0 < threshold < 1:
                raise InvalidParameterError(
                    f"dedup thresholds are cosines in (0, 1) or 'none', got {threshold}", params=["dedup"]
                )
        for config in self.configs():
            config.validate()

    def settings(self, dataset: Dataset, index: KnnIndex | None = None) -> dict:
        """What every cell shares: a rerun into the same RESULTS/ must agree on these. `index`
        (the experiment's kNN index) tells "auto" codes whether the index's own can be shared."""
        codes = self.codes_mode(dataset, index)
        return {
            "dataset": str(dataset.path.resolve()),
            "dataset_name": dataset.info.name,
            "embedder": dataset.info.embedder,
            "n_pool": int(dataset.split_rows("pool").size),
            "budget": self.budget,
            "neg_ratio": self.neg_ratio,
            "seed": self.seed,
            "factory": self.factory,
            # only when set, so experiments written before these existed still resume
            **{k: v for k, v in (("estimate", self.estimate), ("audit", self.audit), ("stop", self.stop)) if v},
            **({"backend": self.backend} if self.backend != "faiss" else {}),
            **({"codes": codes} if codes != "none" else {}),
        }

    def codes_mode(self, dataset: Dataset, index: KnnIndex | None = None) -> str:
        """ "sq8", "index" or "none": what the seals cells score on ("none" when no pool uses k)."""
        if not pools_using_k().intersection(self.pools):
            return "none"
        return decide_codes(self.codes, dataset.path / "embeddings.npy", index_codes=has_precise_codes(index))

    def configs(self) -> Iterator[RunConfig]:
        """One RunConfig per cell; k collapses to 0 for pools that ignore it."""
        seen = set()
        for concept, strategy, pool, k, seed_pos, dedup, repeat in product(
            self.concepts, self.strategies, self.pools, self.ks, self.seed_pos, self.dedup, range(self.repeats)
        ):
            k = k if pool in pools_using_k() else 0
            if (key := (concept, strategy, pool, k, seed_pos, dedup, repeat)) in seen:
                continue
            seen.add(key)
            seed_size = seed_pos * (1 + self.neg_ratio)
            yield RunConfig(
                concept=concept, strategy=strategy, pool=pool, k=max(k, 1), budget=self.budget,
                batch_size=seed_size, seed_pos=seed_pos, neg_ratio=self.neg_ratio, seed=self.seed + repeat,
                factory=self.factory, dedup=dedup, repeat=repeat, knn=self.knn, estimate=self.estimate,
                audit=self.audit, stop=self.stop, codes=self.codes,
            )  # fmt: skip


def cell_key(config: RunConfig) -> tuple:
    k = config.k if config.pool in pools_using_k() else 0
    dedup = float("nan") if config.dedup is None else float(config.dedup)
    return (config.concept, config.strategy, config.pool, k, config.seed_pos, dedup, config.repeat)


def _key_of_row(row: tuple) -> tuple:
    concept, strategy, pool, k, seed_pos, dedup, repeat = row
    return (concept, strategy, pool, int(k), int(seed_pos), float(dedup), int(repeat))


def _hashable(key: tuple) -> tuple:
    return tuple("off" if isinstance(v, float) and np.isnan(v) else v for v in key)


# -- worker side -----------------------------------------------------------------------------
_worker: dict = {}


def _init_worker(
    dataset_path: str, factory: str | None, single_thread: bool, backend: str = "faiss", uri: str | None = None
) -> None:
    """Open the dataset and index once per process, not once per cell."""
    if single_thread:
        import faiss

        faiss.omp_set_num_threads(1)  # `jobs` processes already use the cores
    dataset = Dataset.open(dataset_path, verify=False)
    _worker.pop("codes", None)
    _worker["dataset"] = dataset
    _worker["index"] = open_or_build_index(dataset, factory, backend=backend, uri=uri) if factory else None


def _run_task(task: tuple[str, object]) -> pd.DataFrame:
    """A task is ("run", RunConfig) or ("full", concept); one function, so any executor can run both."""
    kind, argument = task
    return _full_cell(argument) if kind == "full" else _run_cell(argument)  # type: ignore[arg-type]


def _run_cell(config: RunConfig) -> pd.DataFrame:
    result = run(_worker["dataset"], config, index=_worker["index"], codes=_cell_codes(config))
    keys = dict(zip(RUN_KEYS, cell_key(config), strict=True))
    return result.rounds.assign(**keys)[RUN_KEYS + ROUND_COLUMNS]


def full_supervision_ap(dataset: Dataset, concept: str) -> float:
    """Test AP of the default learner trained on every pool label: the ceiling the paper plots.

    Solved with Newton–Cholesky instead of lbfgs: with 0.1 % positives the mean log-loss gradient
    is tiny from the start, and lbfgs's tolerance stopped it after ~10 iterations at a near-random
    model (measured on WordNet: AP 0.002 vs 0.38 for the converged fit of the same objective).
    """
    pool_rows = dataset.split_rows("pool")
    test_rows = dataset.split_rows("test")
    positives = dataset.concept_rows(concept)
    learner = default_learner().set_params(solver="newton-cholesky")
    with single_threaded_blas():
        model = fit_learner(learner, dataset.embeddings.take(pool_rows), np.isin(pool_rows, positives).astype(np.int8))
        truth = np.isin(test_rows, positives)
        return average_precision(truth, positive_proba(model, dataset.embeddings.take(test_rows)))


def _full_cell(concept: str) -> pd.DataFrame:
    return pd.DataFrame({"concept": [concept], "ap": [full_supervision_ap(_worker["dataset"], concept)]})


# -- parent side -----------------------------------------------------------------------------
def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    with atomic_write(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _read_existing(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=columns)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise InvalidDataError(f"{path}: cannot be read ({exc}); move it away to start the experiment afresh") from None
    missing = set(columns) - set(frame.columns)
    if missing:
        raise InvalidDataError(f"{path}: missing columns {sorted(missing)}; it was not written by `seals experiment`")
    return frame


@dataclass
class GridRun:
    """What `run_experiment` did: the grid's cells, those already on disk, every run's rounds."""

    out_dir: Path
    cells_total: int
    cells_skipped: int
    runs: pd.DataFrame

    @property
    def runs_path(self) -> Path:
        return self.out_dir / RUNS_FILE


def run_experiment(
    dataset: Dataset,
    grid: ExperimentGrid,
    out_dir: str | Path,
    *,
    jobs: int = 1,
    full_supervision: bool = True,
    index: KnnIndex | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    address: str | None = None,
) -> GridRun:
    """Run every cell of `grid` not yet in `out_dir/runs.parquet`, `jobs` processes at a time
    (executor="local"; "process", its old name, still works), or as Ray tasks (executor="ray":
    a local Ray of `jobs` CPUs, or the cluster at `address`; see sealsearch/_ray.py)."""
    grid.validate()
    if jobs <= 0:
        raise InvalidParameterError(f"jobs must be positive, got {jobs}", params=["jobs"])
    executor = "local" if executor == "process" else executor  # "process": its name before issue 22
    check_executor(executor, address)
    for concept in grid.concepts:
        dataset.concept_rows(concept)  # an unknown concept fails before any work
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = _index_for_codes(dataset, grid, index)
    settings = grid.settings(dataset, index)
    check_settings(out_dir, settings)

    runs = with_knn_column(_read_existing(out_dir / RUNS_FILE, RUN_KEYS + NUMERIC_ROUND_COLUMNS))
    done = {_hashable(_key_of_row(row)) for row in runs[RUN_KEYS].drop_duplicates().itertuples(index=False)}
    configs = list(grid.configs())
    todo = [config for config in configs if _hashable(cell_key(config)) not in done]
    full = _read_existing(out_dir / FULL_FILE, ["concept", "ap"])
    full_todo = []
    if full_supervision and dataset.split_rows("test").size:
        full_todo = [c for c in grid.concepts if c not in set(full["concept"])]

    needs_index = any(config.pool in pools_using_k() for config in todo)
    if needs_index:
        index = _resolve_knn_sources(dataset, grid, todo, index, out_dir, runs)
        _resolve_codes(dataset, settings.get("codes", "none"), todo, index)
    tasks = [("full", c) for c in full_todo] + [("run", c) for c in todo]
    total = len(tasks)
    run_parts = [runs] if len(runs) else []
    full_parts = [full] if len(full) else []

    init = (str(dataset.path), grid.factory if needs_index else None, True, grid.backend, grid.uri)
    runner = _make_runner(executor, address, jobs if total > 1 else 1, init, dataset, index)
    if needs_index and not isinstance(runner, InlineExecutor):
        refuse_embedded_milvus(index)
    _collect(runner, tasks, out_dir, run_parts, full_parts, progress)
    all_runs = pd.concat(run_parts, ignore_index=True) if run_parts else pd.DataFrame(columns=RUN_KEYS + ROUND_COLUMNS)
    return GridRun(out_dir, len(configs), len(configs) - len(todo), all_runs)


def _index_for_codes(dataset: Dataset, grid: ExperimentGrid, index: KnnIndex | None) -> KnnIndex | None:
    """The index, opened before the settings are compared when the codes must ask what it holds."""
    if index is None and grid.codes in ("auto", "index") and pools_using_k().intersection(grid.pools):
        index = open_or_build_index(dataset, grid.factory, backend=grid.backend, uri=grid.uri)
    return index


def _make_runner(
    executor: str, address: str | None, jobs: int, init: tuple, dataset: Dataset, index: KnnIndex | None
) -> Executor:
    """Ray tasks, this process (one job, or one task), or `jobs` worker processes."""
    if executor == "ray":
        from sealsearch._ray import RayExecutor

        return RayExecutor(address, jobs if address is None else None, _init_worker, init)
    if jobs == 1:
        _init_worker_in_process(dataset, index)
        return InlineExecutor()
    return LocalProcessExecutor(jobs, _init_worker, init)


def _resolve_knn_sources(
    dataset: Dataset, grid: ExperimentGrid, todo: list[RunConfig], index: KnnIndex | None, out_dir: Path,
    runs: pd.DataFrame,
) -> KnnIndex:  # fmt: skip
    """The experiment's index (opened here, loaded again by workers), with each kNN cell's source
    (graph or index) resolved once and checked against the sources of the runs already written:
    a graph built while the experiment runs changes nothing."""
    if index is None:
        index = open_or_build_index(dataset, grid.factory, backend=grid.backend, uri=grid.uri)
    using_k = [config for config in todo if config.pool in pools_using_k()]
    sources = {config.k: resolve_knn(dataset, index.factory, config.k, grid.knn)[1] for config in using_k}
    check_knn_sources(out_dir, runs, sources)
    for config in using_k:
        config.knn = sources[config.k]
    return index


def _resolve_codes(dataset: Dataset, mode: str, todo: list[RunConfig], index: KnnIndex) -> None:
    """Every cell's codes as the experiment resolved them (`codes_mode`), opened here once: SQ8
    codes are built when missing (workers then only read the file), and an index without codes
    to share fails before any cell runs."""
    if mode != "none":
        _ = open_codes(dataset, mode, knn_index=index)
    for config in todo:
        config.codes = mode


def _collect(
    runner: Executor, tasks: list[tuple[str, object]], out_dir: Path, run_parts: list[pd.DataFrame],
    full_parts: list[pd.DataFrame], progress: Progress | None,
) -> None:  # fmt: skip
    """Run the tasks, rewriting runs.parquet / full_supervision.parquet (atomically) as each one ends."""
    total = len(tasks)
    if progress:
        progress(0, total)
    for count, ((kind, _), frame) in enumerate(runner.map_unordered(_run_task, tasks), start=1):
        if kind == "full":
            full_parts.append(frame)
            _write_atomic(pd.concat(full_parts, ignore_index=True), out_dir / FULL_FILE)
        else:
            run_parts.append(frame)
            _write_atomic(pd.concat(run_parts, ignore_index=True), out_dir / RUNS_FILE)
        if progress:
            progress(count, total)


def refuse_embedded_milvus(index: KnnIndex | None) -> None:
    """milvus-lite serves one process per .db: workers in other processes cannot open it."""
    uri = getattr(getattr(index, "base", index), "uri", None)
    if uri is not None and is_local(uri):
        raise InvalidParameterError(
            f"the index is in milvus-lite ({uri}), which one process holds; run with jobs 1 and executor local, "
            "or serve it (`milvus-lite server --data-dir DIR`, or a Milvus server) and pass uri http://HOST:19530",
            params=["jobs", "executor", "uri"],
        )


def _init_worker_in_process(dataset: Dataset, index: KnnIndex | None) -> None:
    _worker.pop("codes", None)
    _worker["dataset"] = dataset
    _worker["index"] = index


def _cell_codes(config: RunConfig) -> PoolCodes | None:
    """The worker's codes for a seals cell that scores on them ("sq8" or "index", one per
    experiment), opened once per process."""
    if config.codes not in ("sq8", "index") or config.pool not in pools_using_k():
        return None
    if "codes" not in _worker:
        _worker["codes"] = open_codes(_worker["dataset"], config.codes, knn_index=_worker.get("index"))
    return _worker["codes"]
