"""What the CLI draws: the two consoles, one-line errors, progress bars and result tables.

rich's progress and table modules, and pandas, load inside the functions that draw them, so
importing the CLI (and `seals --help`) stays cheap.
"""

from __future__ import annotations

import errno
import functools
import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from sealsearch.errors import SealsearchError

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

console = Console(stderr=True)
"""Errors and progress bars."""
out = Console(width=None if sys.stdout.isatty() else 140)  # pipes and logs get whole tables
"""Results."""
F = TypeVar("F", bound=Callable)


def error(message: str, exit_code: int) -> typer.Exit:
    """Print `error: message` as one line on stderr; raise the returned `typer.Exit`."""
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    return typer.Exit(exit_code)


OS_ERRORS = {
    errno.EROFS: "the file system is read-only; write to another directory",
    errno.EACCES: "permission denied; write to a directory you may write to",
    errno.EPERM: "not permitted; write to a directory you may write to",
    errno.ENOSPC: "no space left on the device; free some space or write to another disk",
    errno.EDQUOT: "disk quota exceeded; free some space or write to another disk",
    errno.EISDIR: "is a directory; give a file path",
    errno.ENOTDIR: "a part of the path is a file, not a directory; pick another path",
    errno.EEXIST: "already exists; pick another path or remove it",
    errno.ENOENT: "not found; check the path",
    errno.ELOOP: "too many symbolic links (a loop?); pick another path",
    errno.ENAMETOOLONG: "the name is too long; pick a shorter path",
}
"""What each OSError a write can meet means for the user, and what to do."""


def os_error_message(exc: OSError) -> str:
    """One line: the path(s) the OS refused, what happened and the fix."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None) or "a file"
    hint = OS_ERRORS.get(exc.errno or 0, f"{exc.strerror or exc}; check the path and the disk")
    return " ".join(f"{paths}: {hint}".split())


PARAM_FLAGS = {
    "batch_size": "--batch", "n_concepts": "--concepts", "out_dir": "--out", "source": "--from", "ks": "--k",
    "strategies": "--strategy", "pools": "--pool",
}  # fmt: skip
"""Library parameters whose flag is not `--` + the name with dashes (`seed_pos` -> `--seed-pos`)."""


def flag(param: str) -> str:
    return PARAM_FLAGS.get(param, "--" + param.replace("_", "-"))


def cli_message(exc: SealsearchError) -> str:
    """The library's message with every parameter it names (`exc.params`) spelled as its flag."""
    message = str(exc)
    for param in getattr(exc, "params", ()):
        message = re.sub(rf"(?<![\w-]){re.escape(param)}(?!\w)", flag(param), message)
    return message


def user_errors(command: F) -> F:
    """Turn library errors into one line and an exit code instead of a traceback; so is every
    OSError (read-only or full disk, a directory where a file goes...): exit 1, the path and the fix."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SealsearchError as exc:
            raise error(cli_message(exc), exc.exit_code) from None
        except OSError as exc:
            raise error(os_error_message(exc), 1) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bars(*descriptions: str, total: int | None = None) -> Iterator[list[Callable[[int, int], None]]]:
    """One `progress(done, total)` callback per description, drawn as bars of one live display
    (rich allows only one at a time), quiet when stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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
    "round_ms": ("ms/round", "{:.1f}"),
    "k": ("k", "{}"),
    "lc_frac": ("LC %", "{:.1%}"),
    "mean_path": ("path", "{:.2f}"),
    "method": ("method", "{}"),
    "speedup": ("speed-up", "{:.1f}×"),
}


def frame_table(frame: pd.DataFrame, title: str) -> Table:
    """A rich table of the known result columns; NaN (no test split) shows as a dash."""
    import pandas as pd
    from rich import box
    from rich.table import Table

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
