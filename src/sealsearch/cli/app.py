"""`seals`: a thin command line over the library.

Each command opens library objects and calls one function; `SealsearchError`s become a one-line
`error: ...` on stderr and a non-zero exit code; progress callbacks become rich progress bars.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sealsearch.active.pools import POOLS_USING_K
from sealsearch.errors import InvalidParameterError, SealsearchError

app = typer.Typer(
    help="SEALS: find and learn rare concepts in huge unlabeled pools.", no_args_is_help=True, add_completion=False
)
dataset_app = typer.Typer(help="Build the embedded demo datasets.", no_args_is_help=True)
index_app = typer.Typer(help="Build kNN indexes (reused by every concept).", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")
app.add_typer(index_app, name="index")

console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 140)  # pipes and logs get whole tables
F = TypeVar("F", bound=Callable)


def user_errors(command: F) -> F:
    """Turn library errors into one line and an exit code instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SealsearchError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bars(*descriptions: str, total: int | None = None) -> Iterator[list[Callable[[int, int], None]]]:
    """One `progress(done, total)` callback per description, drawn as bars of one live display
    (rich allows only one at a time), quiet when stderr is not a terminal."""
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=True, disable=not sys.stderr.isatty()) as bar:

        def updater(task) -> Callable[[int, int], None]:
            return lambda done, new_total: bar.update(task, completed=done, total=new_total)

        yield [updater(bar.add_task(description, total=total)) for description in descriptions]


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[[int, int], None]]:
    """A single `progress(done, total)` bar."""
    with progress_bars(description, total=total) as (update,):
        yield update


# How result columns are shown: (header, format); times are seconds. Short headers keep the
# tables within an 80-column terminal.
COLUMN_DISPLAY = {
    "strategy": ("strategy", "{}"),
    "pool": ("pool", "{}"),
    "round": ("round", "{}"),
    "n_labeled": ("labels", "{:.0f}"),
    "n_positive": ("pos", "{:.0f}"),
    "ap": ("AP", "{:.3f}"),
    "recall": ("recall", "{:.1%}"),
    "pool_size": ("pool", "{:,}"),
    "pool_frac": ("pool %", "{:.1%}"),
    "t_select": ("select", "{:.3f}"),
    "t_knn": ("kNN", "{:.3f}"),
    "t_train": ("train", "{:.3f}"),
    "t_total": ("total", "{:.3f}"),
    "k": ("k", "{}"),
    "lc_frac": ("LC %", "{:.1%}"),
    "mean_path": ("path", "{:.2f}"),
    "method": ("method", "{}"),
    "speedup": ("speed-up", "{:.1f}×"),
}


def frame_table(frame: pd.DataFrame, title: str) -> Table:
    """A rich table of the known result columns; NaN (no test split) shows as a dash."""
    columns = [c for c in frame.columns if c in COLUMN_DISPLAY]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(COLUMN_DISPLAY[column][0], justify="right" if numeric else "left")
    for values in frame[columns].itertuples(index=False):
        table.add_row(*[
            "—" if isinstance(v, float) and math.isnan(v) else COLUMN_DISPLAY[c][1].format(v)
            for c, v in zip(columns, values, strict=True)
        ])  # fmt: skip
    return table


DatasetArg = Annotated[Path, typer.Argument(help="Dataset directory (see README: dataset layout).")]


@dataset_app.command("wordnet")
@user_errors
def dataset_wordnet(
    out_dir: Annotated[Path, typer.Argument(help="Directory to create.")],
    wordnet_dir: Annotated[Path, typer.Option(help="WordNet 3.0 dict directory (Debian: wordnet-base).")] = Path(
        "/usr/share/wordnet"
    ),
    embedder: Annotated[
        str, typer.Option(help="glove: mean GloVe-50d, seconds. minilm: all-MiniLM-L6-v2 384-d, minutes (text extra).")
    ] = "glove",
) -> None:
    """WordNet 3.0 nouns as items; concepts = synsets with 40–1,000 hyponyms."""
    from sealsearch.datasets.wordnet import build_wordnet_dataset

    with progress_bars(f"embedding ({embedder})", "writing embeddings") as (embed_progress, progress):
        dataset = build_wordnet_dataset(
            out_dir, wordnet_dir=wordnet_dir, embedder=embedder, progress=progress, embed_progress=embed_progress
        )
    out.print(f"wrote {dataset.path}: {dataset.info.n} items, {len(dataset.concept_names())} concepts")


@index_app.command("build")
@user_errors
def index_build(
    dataset_dir: DatasetArg,
    factory: Annotated[
        str,
        typer.Option(
            help='Faiss index_factory string ("Flat", "HNSW32", "IVF4096,SQ8", "LSH"), optionally with an exact '
            're-ranking suffix ("IVF4096,PQ32,Rerank4"), or "auto".'
        ),
    ] = "auto",
) -> None:
    """Build (or reuse) the kNN index over the dataset's pool split and report its recall."""
    from sealsearch.data.dataset import Dataset
    from sealsearch.index import RECALL_K, RECALL_QUERIES, index_recall, open_or_build_index

    dataset = Dataset.open(dataset_dir)
    with progress_bar(f"indexing ({factory})") as progress:
        index = open_or_build_index(dataset, factory, progress=progress)
    out.print(f"index {index.factory}: {index.ntotal} vectors of dim {index.dim} under {dataset.index_dir}")
    with progress_bar("exact search for recall") as progress:
        recall = index_recall(dataset, index, progress=progress)
    out.print(f"recall@{RECALL_K} vs exact search on {min(RECALL_QUERIES, index.ntotal)} pool rows: {recall:.3f}")


@app.command("concepts")
@user_errors
def concepts_command(dataset_dir: DatasetArg) -> None:
    """List the ground-truth concepts with their positives per split."""
    from sealsearch.data.dataset import Dataset

    out.print(Dataset.open(dataset_dir).concept_counts().to_string(index=False))


@app.command("run")
@user_errors
def run_command(
    dataset_dir: DatasetArg,
    concept: Annotated[str, typer.Option(help="Concept to find (see `seals concepts`).")],
    strategy: Annotated[str, typer.Option(help="random | maxent | mlp | id | kcenter")] = "maxent",
    pool: Annotated[str, typer.Option(help="seals | adaptive | all | randpool")] = "seals",
    k: Annotated[int, typer.Option(help="Neighbours added per labeled item (SEALS).")] = 100,
    budget: Annotated[int, typer.Option(help="Total labels, seed set included.")] = 2000,
    batch: Annotated[int, typer.Option(help="Labels per round.")] = 100,
    seed_pos: Annotated[int, typer.Option(help="Positives in the seed set.")] = 5,
    neg_ratio: Annotated[int, typer.Option(help="Seed negatives per seed positive.")] = 19,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same run).")] = 0,
    factory: Annotated[str, typer.Option(help="Index for the seals pool (built on first use).")] = "auto",
    randpool_fraction: Annotated[float, typer.Option(help="Pool share kept by randpool.")] = 0.1,
    dedup: Annotated[
        float | None, typer.Option(help="Skip a candidate whose cosine to one already in the batch exceeds this.")
    ] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write rounds here (.parquet) and <stem>.labels.parquet beside it.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the run's curves (AP, recall, pool %) to this PNG.")
    ] = None,
) -> None:
    """Simulate active learning / search for one concept with the dataset's ground truth."""
    from sealsearch.data.dataset import Dataset
    from sealsearch.experiments.simulate import RunConfig, rounds_per_run, run
    from sealsearch.index import open_or_build_index

    config = RunConfig(
        concept=concept, strategy=strategy, pool=pool, k=k, budget=budget, batch_size=batch, seed_pos=seed_pos,
        neg_ratio=neg_ratio, seed=seed, factory=factory, randpool_fraction=randpool_fraction, dedup=dedup,
    )  # fmt: skip
    config.validate()
    if out_path is not None and out_path.suffix != ".parquet":
        raise InvalidParameterError(f"--out {out_path}: must end in .parquet")
    if plot is not None and plot.suffix != ".png":
        raise InvalidParameterError(f"--plot {plot}: must end in .png")
    dataset = Dataset.open(dataset_dir)
    dataset.concept_rows(concept)  # unknown concept fails before any index is built
    index = None
    if pool in POOLS_USING_K:
        with progress_bar(f"index ({factory})") as progress:
            index = open_or_build_index(dataset, factory, progress=progress)
    with progress_bar(f"{strategy}-{pool} {concept}", total=rounds_per_run(config)) as progress:
        result = run(
            dataset, config, index=index, on_round=lambda row: progress(row["round"] + 1, rounds_per_run(config))
        )
    out.print(frame_table(result.rounds, f"{strategy}-{pool} on {concept!r} (times in seconds)"))
    if out_path is not None:
        rounds_path, labels_path = result.save(out_path)
        out.print(f"wrote {rounds_path} and {labels_path}")
    if plot is not None:
        from sealsearch.reporting.plots import plot_curves

        curves = result.rounds.assign(strategy=strategy, pool=pool, concept=concept)
        out.print(f"wrote {plot_curves(curves, plot, title=f'{concept}: {strategy}-{pool}, k={k}')}")


def _compare_with_progress(dataset, out_dir: Path, names: list[str], config, strategies, pools, name: str) -> None:
    """Shared by `demo` and `compare`: one bar over every round of every run, then the summary."""
    from sealsearch.experiments.simulate import rounds_per_run
    from sealsearch.reporting.report import compare_and_report

    for concept_name in names:
        dataset.concept_rows(concept_name)  # an unknown concept fails before any work
    total = len(names) * len(strategies) * len(pools) * rounds_per_run(config)
    done = 0
    with progress_bar("active learning runs", total=total) as progress:

        def advance(_row: dict) -> None:
            nonlocal done
            done += 1
            progress(done, max(total, done))

        report = compare_and_report(
            dataset, out_dir, names, config, strategies=tuple(strategies), pools=tuple(pools), name=name,
            on_round=advance,
        )  # fmt: skip
    out.print(f"concepts: {', '.join(report.concepts)}")
    title = f"{dataset.info.name}: mean over {len(names)} concepts, {config.budget} labels, seconds per run"
    out.print(frame_table(report.summary.drop(columns="n_labeled"), title))  # the title says it
    out.print(f"wrote {report.table_path} and {report.plot_path}")


@app.command("compare")
@user_errors
def compare_command(
    dataset_dir: DatasetArg,
    concept: Annotated[list[str] | None, typer.Option(help="Concepts to run (repeatable); default: a sample.")] = None,
    concepts: Annotated[int, typer.Option(help="How many concepts to sample when --concept is not given.")] = 10,
    strategy: Annotated[list[str] | None, typer.Option(help="Strategies (repeatable), default maxent and mlp.")] = None,
    pool: Annotated[list[str] | None, typer.Option(help="Pools (repeatable), default all and seals.")] = None,
    k: Annotated[int, typer.Option(help="Neighbours added per labeled item (SEALS).")] = 100,
    budget: Annotated[int, typer.Option(help="Total labels per run, seed set included.")] = 2000,
    batch: Annotated[int, typer.Option(help="Labels per round.")] = 100,
    seed_pos: Annotated[int, typer.Option(help="Positives in the seed set.")] = 5,
    neg_ratio: Annotated[int, typer.Option(help="Seed negatives per seed positive.")] = 19,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same runs).")] = 0,
    factory: Annotated[str, typer.Option(help="Index for the seals pool (built on first use).")] = "auto",
    out_dir: Annotated[Path, typer.Option("--out", help="Where compare.parquet and compare.png go.")] = Path(
        "compare-out"
    ),
) -> None:
    """The paper's protocol on your labeled data: every strategy × pool on the same concepts and seeds."""
    from sealsearch.active.strategies import check_strategy
    from sealsearch.data.dataset import Dataset
    from sealsearch.experiments.simulate import RunConfig, pick_concepts
    from sealsearch.index import open_or_build_index

    config = RunConfig(
        concept="", k=k, budget=budget, batch_size=batch, seed_pos=seed_pos, neg_ratio=neg_ratio, seed=seed,
        factory=factory,
    )  # fmt: skip
    config.validate()
    strategies = [check_strategy(name) for name in strategy or ["maxent", "mlp"]]
    pools = pool or ["all", "seals"]
    dataset = Dataset.open(dataset_dir)
    names = concept or pick_concepts(dataset, concepts, seed_pos=seed_pos, seed=seed)
    if POOLS_USING_K.intersection(pools):
        with progress_bar(f"index ({factory})") as progress:
            open_or_build_index(dataset, factory, progress=progress)
    _compare_with_progress(dataset, out_dir, names, config, strategies, pools, "compare")


@app.command("demo")
@user_errors
def demo_command(
    data_dir: Annotated[
        Path, typer.Option(help="Where datasets live (the WordNet one is built here if missing).")
    ] = Path("seals-data"),
    out_dir: Annotated[Path, typer.Option("--out", help="Where demo.parquet and demo.png go.")] = Path("demo-out"),
    concepts: Annotated[int, typer.Option(help="How many concepts to sample.")] = 6,
    concept: Annotated[
        list[str] | None, typer.Option(help="Run these concepts instead of a sample (repeatable).")
    ] = None,
    k: Annotated[int, typer.Option(help="Neighbours per labeled item.")] = 20,
    budget: Annotated[int, typer.Option(help="Labels per run.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """MaxEnt/MLP × All/SEALS on WordNet nouns (real data, built locally in seconds)."""
    from sealsearch.experiments.demo import DEMO_CONFIG, open_or_build_demo_dataset
    from sealsearch.experiments.simulate import RunConfig, pick_concepts

    config = RunConfig(**{**DEMO_CONFIG.__dict__, "k": k, "budget": budget, "seed": seed})
    config.validate()
    with progress_bar("building WordNet dataset") as progress:
        dataset = open_or_build_demo_dataset(data_dir, progress=progress)
    names = concept or pick_concepts(dataset, concepts, seed_pos=config.seed_pos, seed=seed)
    _compare_with_progress(dataset, out_dir, names, config, ["maxent", "mlp"], ["all", "seals"], "demo")


@app.command("analyze")
@user_errors
def analyze_command(
    dataset_dir: DatasetArg,
    k: Annotated[str, typer.Option(help="Neighbour counts to analyse, comma-separated.")] = "10,100,1000",
    concept: Annotated[
        list[str] | None, typer.Option(help="Concepts to analyse (repeatable); default: a sample.")
    ] = None,
    concepts: Annotated[int, typer.Option(help="How many concepts to sample when --concept is not given.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed of the concept sample.")] = 0,
    factory: Annotated[str, typer.Option(help="Index to take neighbours from (built on first use).")] = "auto",
    out_dir: Annotated[Path, typer.Option("--out", help="Where latent.parquet and latent_cdf.png go.")] = Path(
        "analysis-out"
    ),
) -> None:
    """Latent structure of concepts (paper §4.4): largest kNN component and its mean shortest path."""
    from sealsearch.data.dataset import Dataset
    from sealsearch.experiments.latent import check_ks, latent_structure, summarize_latent
    from sealsearch.experiments.simulate import pick_concepts
    from sealsearch.index import open_or_build_index
    from sealsearch.reporting.plots import plot_latent_cdf

    ks = _split_list(k, "--k", int)
    dataset = Dataset.open(dataset_dir)
    check_ks(ks, dataset.split_rows("pool").size)
    names = concept or pick_concepts(dataset, concepts, seed_pos=1, seed=seed)
    for name in names:
        dataset.concept_rows(name)  # an unknown concept fails before any index is built
    with progress_bar(f"index ({factory})") as progress:
        index = open_or_build_index(dataset, factory, progress=progress)
    with progress_bar("concepts", total=len(names)) as progress:
        table = latent_structure(dataset, names, ks, index=index, progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out_dir / "latent.parquet", index=False)
    plot = plot_latent_cdf(table, out_dir / "latent_cdf.png", title=f"{dataset.info.name}: {len(names)} concepts")
    out.print(frame_table(summarize_latent(table), f"medians of {len(names)} concepts"))
    out.print(f"wrote {out_dir / 'latent.parquet'} and {plot}")


@app.command("report")
@user_errors
def report_command(
    results_dir: Annotated[Path, typer.Argument(help="Results directory written by `seals experiment`.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where report.md and figures/ go (default: RESULTS).")
    ] = None,
    k: Annotated[int | None, typer.Option(help="SEALS k of the per-concept AP scatter (default: largest).")] = None,
) -> None:
    """The SEALS paper's figures and tables for an experiment: report.md and figures/*.png."""
    from sealsearch.reporting.report import write_report

    report = write_report(results_dir, out_dir, k=k)
    columns = ["strategy", "method", "ap", "recall", "pool_frac", "t_total", "t_select", "t_knn", "t_train", "speedup"]
    out.print(frame_table(report.table[columns], "final round, mean over concepts and repeats (seconds per run)"))
    for note in report.notes:
        out.print(f"skipped: {note}", soft_wrap=True, highlight=False, markup=False)
    out.print(f"wrote {report.markdown_path}", *[f"wrote {path}" for path in report.figures], sep="\n")


@dataset_app.command("synthetic")
@user_errors
def dataset_synthetic(
    out_dir: Annotated[Path, typer.Argument(help="Directory to create (must not exist).")],
    n: Annotated[int, typer.Option(help="Number of items (10^7 × 256 is 10 GB on disk).")],
    dim: Annotated[int, typer.Option(help="Embedding dimension.")] = 256,
    concepts: Annotated[int, typer.Option(help="Number of rare concepts.")] = 100,
    prevalence: Annotated[str, typer.Option(help="Concept prevalence range LO..HI, or one value.")] = "0.0002..0.002",
    test_frac: Annotated[float, typer.Option(help="Share of items in the test split.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed; same arguments, same bytes.")] = 0,
) -> None:
    """Clustered embeddings with rare (some fragmented) concepts, for scale benchmarks."""
    from sealsearch.datasets.synthetic import build_synthetic_dataset, parse_prevalence

    bounds = parse_prevalence(prevalence)
    with progress_bar("generating embeddings") as progress:
        dataset = build_synthetic_dataset(
            out_dir, n=n, dim=dim, n_concepts=concepts, prevalence=bounds, test_frac=test_frac, seed=seed,
            progress=progress,
        )  # fmt: skip
    out.print(f"wrote {dataset.path}: {dataset.info.n} × {dataset.info.dim}, {len(dataset.concept_names())} concepts")


@index_app.command("graph")
@user_errors
def index_graph(
    dataset_dir: DatasetArg,
    k: Annotated[int, typer.Option(help="Neighbours stored per pool row; runs with k up to this use the graph.")] = 100,
    factory: Annotated[str, typer.Option(help='Index to search with (built on first use), or "auto".')] = "auto",
    chunk: Annotated[
        int, typer.Option(help="Pool rows per chunk of the search method; progress is saved after each.")
    ] = 65536,
    method: Annotated[
        str, typer.Option(help='"ivf-lists" (IVF only), "search", or "auto": ivf-lists when it can.')
    ] = "auto",
    probe: Annotated[int, typer.Option(help="ivf-lists: neighbours come from this many lists nearest each row's.")] = 8,
) -> None:
    """Find every pool row's k neighbours once (resumable), so SEALS rounds look them up instead."""
    from sealsearch.data.dataset import Dataset
    from sealsearch.index import RECALL_QUERIES, open_or_build_index
    from sealsearch.index.graph import build_knn_graph, graph_recall

    if k <= 0 or chunk <= 0:
        raise InvalidParameterError(f"--k and --chunk must be positive, got --k {k} --chunk {chunk}")
    dataset = Dataset.open(dataset_dir)
    with progress_bar(f"indexing ({factory})") as progress:
        index = open_or_build_index(dataset, factory, progress=progress)
    starts: list[int] = []  # rows done at each progress call; the first is where this build began
    started = time.perf_counter()
    with progress_bar(f"kNN graph ({index.factory}, k={k})") as bar:

        def progress(done: int, total: int) -> None:
            starts.append(done)
            bar(done, total)

        graph = build_knn_graph(dataset, index, k, method=method, probe=probe, chunk_rows=chunk, progress=progress)
    built, seconds = graph.rows.size - starts[0], time.perf_counter() - started
    how = graph.method + (f", probe {graph.probe}" if graph.probe else "")
    out.print(f"kNN graph {graph.factory}, k={graph.k} ({how}): {graph.rows.size:,} pool rows in {graph.path}")
    out.print(
        f"built {built:,} rows in {seconds:.1f} s ({built / seconds:,.0f} rows/s)" if built else "reused as built"
    )
    with progress_bar("recall vs exact") as progress:
        recall = graph_recall(dataset, graph, progress=progress)
    sample = min(RECALL_QUERIES, graph.rows.size)
    out.print(f"recall@{graph.k} vs exact neighbours on {sample} pool rows: {recall:.3f}")


def _split_list(value: str, option: str, convert: Callable = str) -> list:
    try:
        return [convert(part.strip()) for part in value.split(",") if part.strip()]
    except ValueError:
        raise InvalidParameterError(f"{option} {value!r}: give comma-separated values, e.g. 10,100") from None


def _threshold(value: str) -> float | None:
    return None if value.lower() in ("none", "off") else float(value)


@app.command("experiment")
@user_errors
def experiment_command(
    dataset_dir: DatasetArg,
    strategies: Annotated[str, typer.Option(help="Comma-separated: random, maxent, mlp, id, kcenter.")] = "maxent,mlp",
    pools: Annotated[str, typer.Option(help="Comma-separated: all, seals, adaptive, randpool.")] = "all,seals",
    k: Annotated[str, typer.Option(help="Neighbours per labeled item, comma-separated (seals, adaptive).")] = "100",
    seed_pos: Annotated[str, typer.Option(help="Seed positives, comma-separated; batch = seed size.")] = "5",
    neg_ratio: Annotated[int, typer.Option(help="Seed negatives per seed positive.")] = 19,
    budget: Annotated[int, typer.Option(help="Total labels per run, seed set included.")] = 2000,
    repeats: Annotated[int, typer.Option(help="Runs per cell with different random seeds.")] = 3,
    concepts: Annotated[str, typer.Option(help="A count to sample (seeded) or comma-separated names.")] = "10",
    dedup: Annotated[str, typer.Option(help="Near-duplicate cosine thresholds, comma-separated; none = off.")] = "none",
    seed: Annotated[int, typer.Option(help="Base random seed (repeat r uses seed + r).")] = 0,
    factory: Annotated[str, typer.Option(help="Index for seals/adaptive pools (built on first use).")] = "auto",
    jobs: Annotated[int, typer.Option(help="Processes running cells in parallel.")] = 1,
    out_dir: Annotated[Path, typer.Option("--out", help="RESULTS directory; rerunning resumes it.")] = Path(
        "experiment-out"
    ),
) -> None:
    """The paper's protocol over a grid of concepts × strategies × pools × k × seed sizes × repeats.

    Every finished run is appended to RESULTS/runs.parquet; rerunning the same command skips it.
    """
    from sealsearch.data.dataset import Dataset
    from sealsearch.experiments.grid import ExperimentGrid, parse_concepts, run_experiment
    from sealsearch.index import open_or_build_index

    grid = ExperimentGrid(
        concepts=[], strategies=_split_list(strategies, "--strategies"), pools=_split_list(pools, "--pools"),
        ks=_split_list(k, "--k", int), seed_pos=_split_list(seed_pos, "--seed-pos", int),
        dedup=_split_list(dedup, "--dedup", _threshold), repeats=repeats, budget=budget, neg_ratio=neg_ratio,
        seed=seed, factory=factory,
    )  # fmt: skip
    dataset = Dataset.open(dataset_dir)
    grid.concepts = parse_concepts(dataset, concepts, seed_pos=max(grid.seed_pos or [1]), seed=seed)
    grid.validate()
    index = None
    if POOLS_USING_K.intersection(grid.pools):
        with progress_bar(f"index ({factory})") as progress:
            index = open_or_build_index(dataset, factory, progress=progress)
    with progress_bar("experiment cells") as progress:
        result = run_experiment(dataset, grid, out_dir, jobs=jobs, index=index, progress=progress)
    out.print(
        f"{result.cells_total} cells ({result.cells_skipped} already done), {len(grid.concepts)} concepts; "
        f"wrote {result.runs_path}. Next: seals report {out_dir}"
    )


@app.command("predict")
@user_errors
def predict_command(
    dataset_dir: DatasetArg,
    labels: Annotated[
        Path | None, typer.Option(help="Labels file (round, row, label): RUN.labels.parquet of `seals run`.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Or a model from `seals export --model` (joblib: only files you trust).")
    ] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Write the top rows here (.parquet).")] = None,
    top: Annotated[int, typer.Option(help="How many of the best-scored items to keep.")] = 1000,
) -> None:
    """Rank every item with a learner trained on a labels file, or an exported model (scored in blocks, any N)."""
    from sealsearch.active.predict import predict_top, predict_top_with_model
    from sealsearch.data.dataset import Dataset

    if (labels is None) == (model is None):
        raise InvalidParameterError("give exactly one of --labels RUN.labels.parquet or --model M.joblib")
    if out_path is not None and out_path.suffix != ".parquet":
        raise InvalidParameterError(f"--out {out_path}: must end in .parquet")
    dataset = Dataset.open(dataset_dir)
    with progress_bar("scoring every item") as progress:
        if model is not None:
            table = predict_top_with_model(dataset, model, top=top, progress=progress)
        else:
            table = predict_top(dataset, labels, top=top, progress=progress)
    shown = table if out_path is None else table.head(20)  # with --out, the file holds them all
    out.print(shown.to_string(index=False), soft_wrap=True, highlight=False, markup=False)
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(out_path, index=False)
        out.print(f"wrote {out_path}: the top {len(table)} of {dataset.info.n} items", highlight=False)


from sealsearch.cli import datasets_digits, export, importing, label, project  # noqa: E402, F401  (each registers its commands)
