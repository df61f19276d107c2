"""Small helpers every layer shares, kept in one copy: progress callbacks, name suggestions,
registries, positive-integer checks, atomic file writes and the BLAS-thread policy.

Keep BLAS threads from fighting Faiss's OpenMP threads for the cores: OpenBLAS threads keep
spinning for a while after each call; Faiss's OpenMP threads then wait for a core, and a SEALS
round's kNN searches ran several times slower right after a fit (measured: bench/RESULTS.md,
"One BLAS thread in the loop"). The loop's matrices (labels × d, candidate chunks × d) are too
small for threaded BLAS to pay off.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import TypeVar

import numpy as np

from sealsearch.errors import InvalidParameterError, UnknownNameError

T = TypeVar("T")
Progress = Callable[[int, int], None]
"""Called as progress(done, total) by long operations; the CLI turns it into a bar."""


def did_you_mean(name: str, choices: Iterable[str], n: int = 1) -> str:
    """ "; did you mean 'x'?" for the closest choices, or "" when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=n)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def check_name(name: str, choices: Iterable[str], what: str, param: str | None = None) -> str:
    """`name` when it is one of `choices`; otherwise an `UnknownNameError` listing them
    (`param`: the parameter that took `name`, when `what` names it)."""
    choices = list(choices)
    if name in choices:
        return name
    raise UnknownNameError(
        f"unknown {what} {name!r}: choose one of {', '.join(choices)}{did_you_mean(name, choices)}",
        params=() if param is None else (param,),
    )


def register(table: dict[str, T], name: str, entry: T, what: str) -> T:
    """Add `entry` to a registry under `name` (the one way every registry grows); another entry
    already under that name is refused, the same one again is a no-op."""
    if not isinstance(name, str) or not name or name != name.strip() or "," in name:
        raise InvalidParameterError(f"{what} names must be non-empty words without commas, got {name!r}")
    if table.get(name, entry) is not entry:
        raise InvalidParameterError(f"the {what} name {name!r} is already registered; choose another name")
    table[name] = entry
    return entry


def positive_int(value: object, name: str) -> int:
    """`value` as an int when it is a positive integer (bools refused); else an error naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise InvalidParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to write; on success it is fsynced and renamed over
    `path`, so a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb") as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)  # the rename itself survives a power cut
    except OSError as exc:
        if exc.filename is None or str(exc.filename) == str(tmp):  # name the file the caller asked for
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    finally:
        with suppress(OSError):  # a read-only directory: nothing was created to remove
            tmp.unlink(missing_ok=True)


def fsync_directory(path: str | Path) -> None:
    """Flush a directory's entries (renames, new files) to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(path: str | Path) -> None:
    """fsync every file under a directory, then the directories, before it is renamed into place."""
    path = Path(path)
    for file in sorted(path.rglob("*")):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
    for directory in sorted((d for d in path.rglob("*") if d.is_dir()), reverse=True):
        fsync_directory(directory)
    fsync_directory(path)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)


@functools.cache
def _controller():
    # Built once: scanning the loaded libraries costs ~3 ms, limiting with a controller ~20 µs.
    # By the time the loop runs, numpy, scipy (via sklearn) and faiss are all loaded.
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_threaded_blas() -> AbstractContextManager:
    """A context in which BLAS libraries run one thread; OpenMP (Faiss's search) is untouched."""
    return _controller().limit(limits=1, user_api="blas")
