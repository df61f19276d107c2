"""Reading data and results: `seals analyze`, `seals report`, `seals predict`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sealsearch._util import atomic_write
from sealsearch.cli import options as opt
from sealsearch.cli.output import frame_table, out, progress_bar, user_errors
from sealsearch.cli.paths import Output, check_outputs, files_in
from sealsearch.errors import InvalidParameterError

if TYPE_CHECKING:
    import numpy as np

    from sealsearch.data.dataset import Dataset

app = opt.Typer()
REPORT_COLUMNS = [
    "strategy",
    "method",
    "ap",
    "recall",
    "pool_frac",
    "t_total",
    "t_select",
    "t_knn",
    "t_train",
    "speedup",
]


@app.command("analyze")
@user_errors
def analyze_command(
    dataset_dir: opt.DatasetArg,
    k: opt.Ks = None,
    concepts: opt.Concepts = "10",
    concept: opt.ConceptNames = None,
    seed: Annotated[int, typer.Option(min=0, max=opt.SEED_MAX, help="Random seed of the concept sample.")] = 0,
    factory: opt.Factory = "auto",
    out_dir: opt.OutDir = Path("analysis-out"),
    force: opt.Force = False,
) -> None:
    """Latent structure of concepts (paper §4.4): largest kNN component and its mean shortest path.

    Writes OUT/latent.parquet and OUT/latent_cdf.png; default k 10,100,1000.
    """
    from sealsearch.active.knn import open_or_build_index
    from sealsearch.data.dataset import Dataset
    from sealsearch.experiments.latent import check_ks, latent_structure, summarize_latent
    from sealsearch.reporting.plots import plot_latent_cdf

    ks = opt.numbers(k or ["10,100,1000"], "--k", low=1)
    check_outputs(
        Output("--out", out_dir, is_dir=True), *files_in("--out", out_dir, "latent.parquet", "latent_cdf.png"),
        reads=[dataset_dir], force=force,
    )  # fmt: skip
    dataset = Dataset.open(dataset_dir)
    check_ks(ks, dataset.split_rows("pool").size)
    names = opt.concepts(dataset, concepts, concept, seed_pos=1, seed=seed)
    with progress_bar(f"index ({factory})") as progress:
        index = open_or_build_index(dataset, factory, progress=progress)
    with progress_bar("concepts", total=len(names)) as progress:
        table = latent_structure(dataset, names, ks, index=index, progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / "latent.parquet") as tmp:
        table.to_parquet(tmp, index=False)
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
    k: Annotated[
        int | None,
        typer.Option(min=1, max=opt.COUNT_MAX, help="SEALS k of the per-concept AP scatter (default: largest)."),
    ] = None,
    force: opt.Force = False,
) -> None:
    """The SEALS paper's figures and tables for an experiment: report.md and figures/*.png."""
    from sealsearch.reporting.report import FIGURES, write_report
    from sealsearch.reporting.results import PRODUCERS

    target = results_dir if out_dir is None else out_dir
    check_outputs(
        Output("--out", target, is_dir=True),
        *files_in("--out", target, "report.md", *(f"figures/{name}" for name in FIGURES.values())),
        reads=[results_dir / name for name in PRODUCERS], force=force,
    )  # fmt: skip

    report = write_report(results_dir, out_dir, k=k)
    out.print(
        frame_table(report.table[REPORT_COLUMNS], "final round, mean over concepts and repeats (seconds per run)")
    )
    for note in report.notes:
        out.print(f"skipped: {note}", soft_wrap=True, highlight=False, markup=False)
    out.print(f"wrote {report.markdown_path}", *[f"wrote {path}" for path in report.figures], sep="\n")


def _project_labels(project_dir: Path, concept: str | None, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """A project concept's labels as (rows, labels) of `dataset`, which must be the project's."""
    from sealsearch.active.predict import known_from_events
    from sealsearch.sessions import Project

    with Project.open(project_dir) as project:
        if project.dataset.path.resolve() != dataset.path.resolve():
            raise InvalidParameterError(
                f"--project {project_dir} labels {project.dataset.path}, not {dataset.path}; give that dataset"
            )
        names = [c["name"] for c in project.concepts()]
        if concept is None and len(names) != 1:
            raise InvalidParameterError(f"--project needs --concept (the project has {len(names)} concepts)")
        return known_from_events(project.concept(concept or names[0]).effective())


@app.command("predict")
@user_errors
def predict_command(
    dataset_dir: opt.DatasetArg,
    labels: Annotated[
        Path | None, typer.Option(help="Labels file (round, row, label): RUN.labels.parquet of `seals run`.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Or a model from `seals export --model` (joblib: only files you trust).")
    ] = None,
    project_dir: Annotated[
        Path | None,
        typer.Option("--project", help="Or a labeling project: --concept's labels (trained on unless --model)."),
    ] = None,
    concept: Annotated[str | None, typer.Option(help="With --project: the concept (default: its only one).")] = None,
    unlabeled: Annotated[
        bool, typer.Option(help="Rank only items without a label (needs --labels or --project).")
    ] = False,
    out_path: opt.OutFile = None,
    top: Annotated[
        int, typer.Option(min=1, max=opt.COUNT_MAX, help="How many of the best-scored items to keep.")
    ] = 1000,
    executor: opt.LocalOrRay = "local",
    address: opt.Address = None,
    force: opt.Force = False,
) -> None:
    """Rank every item with a learner trained on labels (a file or a project's), or an exported
    model (scored in blocks, any N); labeled items are marked (label, labeled) or left out (--unlabeled)."""
    from sealsearch.active.predict import predict_top, predict_top_with_model, read_labels
    from sealsearch.data.dataset import Dataset
    from sealsearch.data.shards import Scanner

    if labels is not None and project_dir is not None:
        raise InvalidParameterError("give --labels FILE or --project DIR (the labels to use), not both")
    if labels is None and project_dir is None and model is None:
        raise InvalidParameterError(
            "give --labels RUN.labels.parquet, --project DIR --concept NAME, or --model M.joblib"
        )
    check_outputs(
        Output("--out", out_path, suffixes=(".parquet",)), reads=[dataset_dir, labels, model, project_dir], force=force
    )
    scanner = Scanner(executor, address)
    dataset = Dataset.open(dataset_dir)
    known = read_labels(labels, dataset.info.n) if labels is not None else None
    if project_dir is not None:
        known = _project_labels(project_dir, concept, dataset)
    with progress_bar("scoring every item") as progress:
        if model is not None:
            table = predict_top_with_model(
                dataset, model, top=top, progress=progress, scanner=scanner, known=known, unlabeled=unlabeled
            )
        else:
            table = predict_top(dataset, known=known, top=top, progress=progress, scanner=scanner, unlabeled=unlabeled)
    shown = table if out_path is None else table.head(20)  # with --out, the file holds them all
    out.print(shown.to_string(index=False), soft_wrap=True, highlight=False, markup=False)
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(out_path) as tmp:
            table.to_parquet(tmp, index=False)
        out.print(f"wrote {out_path}: the top {len(table)} of {dataset.info.n} items", highlight=False)
