"""Simulations with the dataset's ground truth: `seals run`, `compare`, `demo`, `experiment`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from sealsearch.active.strategies import DEFAULT_STRATEGY
from sealsearch.cli import options as opt
from sealsearch.cli.output import frame_table, out, progress_bar, progress_bars, user_errors
from sealsearch.cli.paths import Output, check_outputs, files_in

app = opt.Typer()
SUMMARY_COLUMNS = ["strategy", "pool", "ap", "recall", "pool_frac", "t_total", "t_select", "t_knn", "t_train"]
"""What `compare` and `demo` print of `summary_table` (one k and seed size: the pool names the method)."""


def _index_if_needed(dataset, pools: list[str], factory: str, backend: str = "faiss", uri: str | None = None):
    """The shared kNN index when a pool needs one, built under a progress bar; else None."""
    from sealsearch.active.knn import open_or_build_index
    from sealsearch.active.pools import pools_using_k

    if not pools_using_k().intersection(pools):
        return None
    with progress_bar(f"index ({factory})") as progress:
        return open_or_build_index(dataset, factory, backend=backend, uri=uri, progress=progress)


NO_TEST_POSITIVES = (
    "has no positives in the test split, so AP is undefined (the ap column stays empty); recall is still measured"
)
RandpoolFraction = Annotated[float, typer.Option(min=0, max=1, help="Pool share kept by randpool.")]
Dedup = Annotated[
    float | None,
    typer.Option(min=0, max=1, help="Skip a candidate whose cosine to one already in the batch exceeds this."),
]
RoundsOut = Annotated[
    Path | None, typer.Option("--out", help="Write rounds here (.parquet) and <stem>.labels.parquet beside it.")
]
RunPlot = Annotated[Path | None, typer.Option(help="Also draw the run's curves (AP, recall, pool %) to this PNG.")]


@app.command("run")
@user_errors
def run_command(
    dataset_dir: opt.DatasetArg,
    concept: opt.Concept,
    strategy: opt.Strategy = DEFAULT_STRATEGY,
    pool: opt.Pool = "seals",
    k: opt.K = 100,
    budget: opt.Budget = 2000,
    batch: opt.Batch = 100,
    seed_pos: opt.SeedPos = 5,
    neg_ratio: opt.NegRatio = 19,
    seed: opt.Seed = 0,
    factory: opt.Factory = "auto",
    knn: opt.Knn = "auto",
    codes: opt.Codes = "auto",
    backend: opt.Backend = "faiss",
    uri: opt.Uri = None,
    index_type: opt.IndexType = None,
    randpool_fraction: RandpoolFraction = 0.1,
    dedup: Dedup = None,
    out_path: RoundsOut = None,
    plot: RunPlot = None,
    estimate: opt.Estimate = None,
    audit: opt.Audit = None,
    stop: opt.Stop = None,
    executor: opt.ScanExecutor = "local",
    address: opt.Address = None,
    force: opt.Force = False,
) -> None:
    """Simulate active learning / search for one concept with the dataset's ground truth."""
    from sealsearch._ray import ray_session
    from sealsearch.data.dataset import Dataset
    from sealsearch.data.shards import Scanner
    from sealsearch.experiments.simulate import RunConfig, rounds_per_run, run

    (strategy,) = opt.names(strategy, "--strategy", "strategy")
    (pool,) = opt.names(pool, "--pool", "pool")
    factory = opt.index_factory(factory, index_type, backend)
    config = RunConfig(
        concept=concept, strategy=strategy, pool=pool, k=k, budget=budget, batch_size=batch, seed_pos=seed_pos,
        neg_ratio=neg_ratio, seed=seed, factory=factory, randpool_fraction=randpool_fraction, dedup=dedup,
        knn=opt.knn(knn), codes=opt.codes(codes), estimate=estimate, audit=audit, stop=stop,
    )  # fmt: skip
    config.validate()
    scanner = Scanner(executor, address)
    _check_run_outputs(dataset_dir, out_path, plot, force)
    dataset = Dataset.open(dataset_dir)
    positives = dataset.concept_rows(concept)  # unknown concept fails before any index is built
    index = _index_if_needed(dataset, [pool], factory, backend, uri)
    # One Ray for every round (a scan would otherwise start and stop its own each round).
    ray = ray_session(address) if executor == "ray" else contextlib.nullcontext()
    with ray, progress_bar(f"{strategy}-{pool} {concept}", total=rounds_per_run(config)) as progress:
        result = run(
            dataset, config, index=index, scanner=scanner,
            on_round=lambda row: progress(row["round"] + 1, rounds_per_run(config)),
        )  # fmt: skip
    if not dataset.rows_in_split(positives, "test").size:
        typer.echo(f"note: concept {concept!r} {NO_TEST_POSITIVES}", err=True)
    _report_run(result, config, out_path, plot)


def _check_run_outputs(dataset_dir: Path, out_path: Path | None, plot: Path | None, force: bool) -> None:
    """Refuse, before any work, outputs that would overwrite an input or an existing file."""
    labels_path = None if out_path is None else out_path.with_name(f"{out_path.stem}.labels.parquet")
    check_outputs(
        Output("--out", out_path, suffixes=(".parquet",)), Output("--out", labels_path),
        Output("--plot", plot, suffixes=(".png",)), reads=[dataset_dir], force=force,
    )  # fmt: skip


def _report_run(result, config, out_path: Path | None, plot: Path | None) -> None:
    """`run`'s table, its stop reason, and the files it was asked to write."""
    name = f"{config.strategy}-{config.pool}"
    out.print(frame_table(result.rounds, f"{name} on {config.concept!r} (times in seconds)"))
    out.print(f"kNN source: {_knn_used(result.rounds)}; codes: {result.config.codes}")
    if config.stop is not None:
        out.print(f"stopped: {result.stop_reason}" if result.stop_reason else f"--stop {config.stop} never fired")
    if out_path is not None:
        rounds_path, labels_path = result.save(out_path)
        out.print(f"wrote {rounds_path} and {labels_path}")
    if plot is not None:
        from sealsearch.reporting.plots import plot_curves

        curves = result.rounds.assign(strategy=config.strategy, pool=config.pool, concept=config.concept)
        out.print(f"wrote {plot_curves(curves, plot, title=f'{config.concept}: {name}, k={config.k}')}")


def _knn_used(rounds) -> str:
    """Where a run's pool found neighbours, as its `knn` column records it ("none": no kNN pool)."""
    used = sorted(set(rounds["knn"])) if len(rounds) else []
    return ", ".join(used) or "none"


def _compare(
    dataset, out_dir: Path, names: list[str], config, strategies, pools, name: str, backend="faiss", uri=None
) -> None:
    """`compare`: one bar over every round of every run, then the files and
    the summary."""
    from sealsearch.experiments.compare import compare
    from sealsearch.experiments.simulate import rounds_per_run
    from sealsearch.reporting.report import write_comparison
    from sealsearch.reporting.results import summary_table

    index = _index_if_needed(dataset, pools, config.factory, backend, uri)
    total = len(names) * len(strategies) * len(pools) * rounds_per_run(config)
    done = 0
    with progress_bar("active learning runs", total=total) as progress:

        def advance(_row: dict) -> None:
            nonlocal done
            done += 1
            progress(done, max(total, done))

        rounds = compare(dataset, names, config, strategies=strategies, pools=pools, index=index, on_round=advance)
    title = f"{dataset.info.name}: {len(names)} concepts, k={config.k}, b={config.batch_size}"
    table_path, plot_path = write_comparison(rounds, out_dir, name, title=title)
    out.print(f"concepts: {', '.join(names)}")
    title = f"{dataset.info.name}: mean over {len(names)} concepts, {config.budget} labels, seconds per run"
    out.print(frame_table(summary_table(rounds)[SUMMARY_COLUMNS], title))
    out.print(f"wrote {table_path} and {plot_path}")


@app.command("compare")
@user_errors
def compare_command(
    dataset_dir: opt.DatasetArg,
    concepts: opt.Concepts = "10",
    concept: opt.ConceptNames = None,
    strategy: opt.Strategies = None,
    pool: opt.Pools = None,
    k: opt.K = 100,
    budget: opt.Budget = 2000,
    batch: opt.Batch = 100,
    seed_pos: opt.SeedPos = 5,
    neg_ratio: opt.NegRatio = 19,
    seed: opt.Seed = 0,
    factory: opt.Factory = "auto",
    knn: opt.Knn = "auto",
    out_dir: opt.OutDir = Path("compare-out"),
    backend: opt.Backend = "faiss",
    uri: opt.Uri = None,
    index_type: opt.IndexType = None,
    force: opt.Force = False,
) -> None:
    """The paper's protocol on your labeled data: every strategy × pool on the same concepts and seeds.

    Writes OUT/compare.parquet (every round of every run) and OUT/compare.png; default strategies
    maxent,mlp and pools all,seals.
    """
    from sealsearch.data.dataset import Dataset
    from sealsearch.experiments.simulate import RunConfig

    config = RunConfig(
        concept="", k=k, budget=budget, batch_size=batch, seed_pos=seed_pos, neg_ratio=neg_ratio, seed=seed,
        factory=opt.index_factory(factory, index_type, backend), knn=opt.knn(knn),
    )  # fmt: skip
    config.validate()
    strategies = opt.names(strategy or ["maxent", "mlp"], "--strategy", "strategy")
    pools = opt.names(pool or ["all", "seals"], "--pool", "pool")
    check_outputs(
        Output("--out", out_dir, is_dir=True), *files_in("--out", out_dir, "compare.parquet", "compare.png"),
        reads=[dataset_dir], force=force,
    )  # fmt: skip
    dataset = Dataset.open(dataset_dir)
    names = opt.concepts(dataset, concepts, concept, seed_pos=seed_pos, seed=seed)
    _compare(dataset, out_dir, names, config, strategies, pools, "compare", backend, uri)


@app.command("demo")
@user_errors
def demo_command(
    data_dir: Annotated[
        Path, typer.Option(help="Where datasets live (the WordNet one is built here if missing).")
    ] = Path("seals-data"),
    out_dir: opt.OutDir = Path("demo-out"),
    concepts: opt.Concepts = "6",
    concept: opt.ConceptNames = None,
    k: opt.K = 25,
    budget: opt.Budget = 1000,
    seed: opt.Seed = 0,
    force: opt.Force = False,
) -> None:
    """MaxEnt/MLP × All/SEALS/adaptive on WordNet nouns (real data, built locally in seconds).

    Writes OUT/demo.parquet and OUT/demo.png.
    """
    from dataclasses import replace

    from sealsearch.experiments.demo import DEMO_CONFIG, open_or_build_demo_dataset, run_demo
    from sealsearch.reporting.demo import goals, round_summary
    from sealsearch.reporting.plots import plot_curves

    config = replace(DEMO_CONFIG, k=k, budget=budget, seed=seed)
    config.validate()
    outputs = [Output("--out", out_dir, is_dir=True), *files_in("--out", out_dir, "demo.parquet", "demo.png")]
    check_outputs(*outputs, force=force)
    with progress_bar("building WordNet dataset") as progress:
        dataset = open_or_build_demo_dataset(data_dir, progress=progress)
    check_outputs(*outputs, reads=[dataset.path], force=force)
    names = opt.concepts(dataset, concepts, concept, seed_pos=config.seed_pos, seed=seed)
    TIMES = ["t_select", "t_knn", "t_train", "t_total"]
    with progress_bars("kNN graph", "active learning runs") as (graph_bar, runs_bar):
        result = run_demo(dataset, names, config, graph_progress=graph_bar, run_progress=runs_bar)
    out.print("\n".join(result.header()))
    title = f"{dataset.info.name}: mean over {len(names)} concepts, {config.budget} labels, seconds per run"
    summary = round_summary(result.rounds)
    out.print(frame_table(summary[["strategy", "pool", "ap", "recall", "pool_frac", *TIMES, "round_ms"]], title))
    out.print("\n".join(goals(summary)))
    plot = plot_curves(result.rounds, out_dir / "demo.png", title=f"{dataset.info.name}: {len(names)} concepts, k={k}")
    out.print(f"wrote {result.save(out_dir)} and {plot}")


Repeats = Annotated[int, typer.Option(min=1, max=opt.COUNT_MAX, help="Runs per cell with different random seeds.")]
DedupList = Annotated[
    list[str] | None, typer.Option(help="Near-duplicate cosine thresholds, repeated or comma-separated; none = off.")
]
BaseSeed = Annotated[int, typer.Option(min=0, max=opt.SEED_MAX, help="Base random seed (repeat r uses seed + r).")]
ExperimentOut = Annotated[Path, typer.Option("--out", help="RESULTS directory; rerunning resumes it.")]


@app.command("experiment")
@user_errors
def experiment_command(
    dataset_dir: opt.DatasetArg,
    strategy: opt.Strategies = None,
    pool: opt.Pools = None,
    k: opt.Ks = None,
    seed_pos: opt.SeedPosList = None,
    neg_ratio: opt.NegRatio = 19,
    budget: opt.Budget = 2000,
    repeats: Repeats = 3,
    concepts: opt.Concepts = "10",
    concept: opt.ConceptNames = None,
    dedup: DedupList = None,
    seed: BaseSeed = 0,
    factory: opt.Factory = "auto",
    knn: opt.Knn = "auto",
    codes: opt.Codes = "auto",
    estimate: opt.Estimate = None,
    audit: opt.Audit = None,
    stop: opt.Stop = None,
    jobs: opt.Jobs = 1,
    out_dir: ExperimentOut = Path("experiment-out"),
    backend: opt.Backend = "faiss",
    uri: opt.Uri = None,
    index_type: opt.IndexType = None,
    executor: opt.ExecutorName = "local",
    address: opt.Address = None,
) -> None:
    """The paper's protocol over a grid of concepts × strategies × pools × k × seed sizes × repeats.

    Every finished run is appended to RESULTS/runs.parquet; rerunning the same command skips it.
    Defaults: strategies maxent,mlp, pools all,seals, k 100, seed-pos 5, dedup none.
    """
    from sealsearch.data.dataset import Dataset
    from sealsearch.experiments.grid import ExperimentGrid, run_experiment

    grid = ExperimentGrid(
        concepts=[], strategies=opt.names(strategy or ["maxent", "mlp"], "--strategy", "strategy"),
        pools=opt.names(pool or ["all", "seals"], "--pool", "pool"), ks=opt.numbers(k or ["100"], "--k", low=1),
        seed_pos=opt.numbers(seed_pos or ["5"], "--seed-pos", low=1),
        dedup=opt.numbers(dedup or ["none"], "--dedup", opt.threshold), repeats=repeats, budget=budget,
        neg_ratio=neg_ratio, seed=seed, factory=opt.index_factory(factory, index_type, backend), knn=opt.knn(knn),
        backend=backend, uri=uri, estimate=estimate, audit=audit, stop=stop, codes=opt.codes(codes),
    )  # fmt: skip
    # runs.parquet of an earlier run is resumed, so an existing --out is not refused (no --force)
    check_outputs(Output("--out", out_dir, is_dir=True, exists_ok=True), reads=[dataset_dir])
    dataset = Dataset.open(dataset_dir)
    grid.concepts = opt.concepts(dataset, concepts, concept, seed_pos=max(grid.seed_pos), seed=seed)
    grid.validate()
    index = _index_if_needed(dataset, grid.pools, grid.factory, backend, uri)
    with progress_bar("experiment cells") as progress:
        result = run_experiment(
            dataset, grid, out_dir, jobs=jobs, index=index, progress=progress, executor=executor, address=address
        )
    out.print(
        f"{result.cells_total} cells ({result.cells_skipped} already done), {len(grid.concepts)} concepts; "
        f"wrote {result.runs_path}. Next: seals report {out_dir}"
    )
