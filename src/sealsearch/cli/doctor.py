"""`seals doctor DATASET|PROJECT`: check a dataset or project and say what to do.

A thin layer over `sealsearch.sessions.doctor.doctor`: the findings become a table (check,
status, what was found, what to do) on stdout, and the exit code is 1 when any check failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealsearch.cli import options as opt
from sealsearch.cli.output import error, out, progress_bar, user_errors

app = opt.Typer()
STATUS_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


@app.command("doctor")
@user_errors
def doctor_command(
    path: Annotated[Path, typer.Argument(help="A dataset directory or a project directory.", show_default=False)],
) -> None:
    """Check a dataset or project: dataset.json, every embedding row (NaN, zero, unit length),
    ids, splits, concepts, media, indexes and graphs against the current rows, and a project's
    schema and dataset. Exits 1 when something is wrong."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from sealsearch.sessions.doctor import doctor

    with progress_bar(f"checking {path}") as progress:
        findings = doctor(path, progress=progress)
    table = Table(title=f"seals doctor {path}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("check", "status", "found", "what to do"):
        table.add_column(column, overflow="fold")
    for found in findings:
        style = STATUS_STYLE.get(found.status, "")
        table.add_row(escape(found.check), f"[{style}]{found.status}[/]", escape(found.found), escape(found.fix))
    out.print(table)
    failed = [found.check for found in findings if found.status == "fail"]
    if failed:
        raise error(f"{len(failed)} of {len(findings)} checks failed ({', '.join(failed)}); see the table", 1)
