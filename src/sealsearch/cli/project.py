"""`seals project init|concepts`: create a labeling project over a dataset, list its concepts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from sealsearch.cli import options as opt
from sealsearch.cli.output import out, progress_bar, user_errors
from sealsearch.cli.paths import Output, check_outputs

project_app = opt.Typer(help="Labeling projects: one SQLite file of label events over a dataset.", no_args_is_help=True)
app = opt.Typer()
app.add_typer(project_app, name="project")

CONCEPT_COLUMNS = (
    "name",
    "labels",
    "positives",
    "negatives",
    "skipped",
    "strategy",
    "pool",
    "k",
    "batch_size",
    "created",
)


def _cell(value: object, column: str) -> str:
    if value is None:
        return "—"
    if column == "created" and isinstance(value, int | float):  # seconds since the epoch
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


@project_app.command("init")
@user_errors
def project_init(
    project_dir: opt.ProjectDir,
    dataset: Annotated[Path, typer.Option(help="Dataset directory the project labels (see `seals dataset`).")],
    knn: opt.Knn = "auto",
    codes: opt.Codes = "auto",
    factory: opt.Factory = "auto",
    backend: opt.Backend = "faiss",
    uri: opt.Uri = None,
    index_type: opt.IndexType = None,
) -> None:
    """Create a project: PROJECT/project.sqlite, tied to the dataset by a fingerprint."""
    from sealsearch.sessions import Project

    factory = opt.index_factory(factory, index_type, backend)
    # an existing directory is Project.init's rule (refused when it holds a project); a file is refused here
    check_outputs(Output("PROJECT", project_dir, is_dir=True, exists_ok=True), reads=[dataset])
    with progress_bar("item ids") as progress:
        project = Project.init(
            project_dir, dataset=dataset, knn=opt.knn(knn), factory=factory, backend=backend, uri=uri,
            codes=opt.codes(codes), progress=progress,
        )  # fmt: skip
    project.close()
    out.print(
        f"created project {project_dir} on {dataset}. Next: label in a browser with `seals serve {project_dir}`, "
        f"or in the terminal with `seals label {project_dir} --concept NAME --query TEXT`",
        highlight=False, markup=False, soft_wrap=True,
    )  # fmt: skip


@project_app.command("concepts")
@user_errors
def project_concepts(project_dir: opt.ProjectDir) -> None:
    """List the project's concepts with their label counts."""
    from sealsearch.sessions import Project

    project = Project.open(project_dir)
    try:
        concepts = project.concepts()
    finally:
        project.close()
    if not concepts:
        out.print(f"no concepts yet; start one with: seals label {project_dir} --concept NAME --query TEXT",
                  highlight=False, markup=False)  # fmt: skip
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in CONCEPT_COLUMNS:
        table.add_column(
            column, justify="right" if column in ("labels", "positives", "negatives", "skipped", "k") else "left"
        )
    for concept in concepts:
        table.add_row(*[_cell(concept.get(column), column) for column in CONCEPT_COLUMNS])
    out.print(table)
