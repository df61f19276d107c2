"""`seals export`: a project's final labels as csv / jsonl / parquet / label-studio, and a concept's
model (joblib).

Both files are written atomically (`sealsearch._util.atomic_write`): a reader sees the old file
or the whole new one, never half of one. Neither may be a file of the project or its dataset,
nor an existing file without `--force` (`cli/paths.py`). `--output` is the old name of `--out`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealsearch._util import atomic_write, check_name
from sealsearch.cli import options as opt
from sealsearch.cli.output import out, user_errors
from sealsearch.cli.paths import Output, check_outputs
from sealsearch.errors import InvalidParameterError

app = opt.Typer()

FORMATS = ("csv", "jsonl", "parquet", "label-studio")
SUFFIXES = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet", "json": "label-studio"}
"""The format an --out suffix names when --format is left out (.json: Label Studio tasks)."""
FORMAT_SUFFIX = {format_: f".{suffix}" for suffix, format_ in SUFFIXES.items()}
"""The file ending each format's output must have (label-studio: .json)."""


def export_format(format_: str | None, output: Path) -> str:
    """The format asked for, or the one the output's suffix names."""
    if format_ is None:
        suffix = output.suffix.lstrip(".").lower()
        if suffix not in SUFFIXES:
            raise InvalidParameterError(
                f"--format: give one of {', '.join(FORMATS)} (cannot tell from --out {output.name!r})"
            )
        return SUFFIXES[suffix]
    return check_name(format_.lower(), FORMATS, "--format")


def count_rows(path: Path, format_: str) -> int:
    if format_ == "label-studio":
        import json

        return sum(len(task["annotations"]) for task in json.loads(path.read_text()))
    if format_ == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with open(path, "rb") as file:
        lines = sum(1 for line in file if line.strip())
    return lines - 1 if format_ == "csv" else lines


@app.command("export")
@user_errors
def export_command(
    project_dir: opt.ProjectDir,
    concept: Annotated[str | None, typer.Option(help="Only this concept (default: all).")] = None,
    format_: Annotated[
        str | None,
        typer.Option("--format", help="csv | jsonl | parquet | label-studio (default: from --out's suffix, "
                                      ".json: label-studio).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--out", help="Labels file to write: id, text, uri, concept, "
                                                "label, labeler, time (the final label per item).")] = None,
    model: Annotated[Path | None, typer.Option(help="Also write --concept's trained classifier here (joblib), "
                                                     "for `seals predict DATASET --model`.")] = None,
    force: opt.Force = False,
) -> None:  # fmt: skip
    """Export final labels (csv, jsonl, parquet) and a concept's classifier (joblib)."""
    from sealsearch.sessions import Project

    if output is None and model is None:
        raise InvalidParameterError("give --out FILE (labels), --model M.joblib (classifier), or both")
    format_name = export_format(format_, output) if output is not None else None
    project = Project.open(project_dir)
    try:
        check_outputs(
            Output("--out", output, suffixes=(FORMAT_SUFFIX[format_name],) if format_name else ()),
            Output("--model", model, suffixes=(".joblib",)),
            reads=[project_dir, project.dataset.path], force=force,
        )  # fmt: skip
        if model is not None:
            names = [c["name"] for c in project.concepts()]
            if concept is None and len(names) != 1:
                raise InvalidParameterError(f"--model needs --concept (the project has {len(names)} concepts)")
            session = project.concept(concept or names[0])
            data = session.model_bytes()
        if output is not None:
            if concept is not None:
                project.concept(concept)  # an unknown name fails with a suggestion before anything is written
            project.export(output, format=format_name, concept=concept)  # atomic (sealsearch._util.atomic_write)
            which = f"concept {concept!r}" if concept else "all concepts"
            out.print(f"wrote {output}: {count_rows(output, format_name)} labels of {which} ({format_name})",
                      highlight=False, markup=False, soft_wrap=True)  # fmt: skip
        if model is not None:
            model.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(model) as tmp:
                tmp.write_bytes(data)
            out.print(f"wrote {model}: the classifier of concept {session.name!r}; "
                      f"rank a dataset with: seals predict DATASET --model {model}",
                      highlight=False, markup=False, soft_wrap=True)  # fmt: skip
    finally:
        project.close()
