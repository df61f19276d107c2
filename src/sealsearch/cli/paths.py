"""The one rule every output flag of every command goes through: nothing a command reads is
written over, and nothing already on disk is replaced by surprise.

A command declares its outputs (`Output`: the flag, the path, what it is) and the paths it reads,
and calls `check_outputs` before any work starts. An output is refused, with one line naming the
flag, the path and the fix, when it:
- resolves (symlinks followed, hard links by inode) to a file the command reads, or lies inside a
  directory it reads, or inside any dataset or project directory (one holding dataset.json or
  project.sqlite: their -wal/-shm, embeddings.npy, items.parquet, index files...), read or not —
  `--force` does not lift this;
- already exists, unless `--force` (or the command resumes it: `Output.exists_ok`);
- is a directory where a file is written, a file where a directory is, a dangling symbolic link,
  or lies under a file (a parent that does not exist is created, as the README's examples expect);
- has a suffix other than its format's (`--format parquet --out x.csv`).

Why one place: the first hostile pass found `seals export P --output P/project.sqlite` replacing
every label with CSV; a per-command patch would miss the next command that grows an output flag.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sealsearch.errors import InvalidParameterError

STORE_MARKERS = ("dataset.json", "project.sqlite")
"""Files that make a directory a dataset or a project: nothing is written inside one."""
INODE_SCAN_DEPTH = 2
"""How deep under a read directory hard links are looked for (dataset files and index/ files)."""


@dataclass(frozen=True)
class Output:
    """One path a command writes.

    flag: how the user named it (`--out`, `--model`, `OUT_DIR`), for the message.
    is_dir: a directory the command creates or fills (else a file).
    suffixes: the file endings its format allows (empty: any).
    exists_ok: the command resumes or has its own rule for an existing one (builders, experiment).
    """

    flag: str
    path: Path | None
    is_dir: bool = False
    suffixes: tuple[str, ...] = ()
    exists_ok: bool = False


class OutputError(InvalidParameterError):
    """An output path that would overwrite an input, an existing file or is unusable."""


def check_outputs(*outputs: Output, reads: Iterable[Path | str | None] = (), force: bool = False) -> None:
    """Refuse any output that breaks the rule above; returns silently when all may be written.

    `reads`: the files and directories the command reads (a directory protects all it holds);
    paths that do not exist (a glob) are ignored."""
    read_paths = [Path(p) for p in reads if p is not None]
    read_dirs = [p.resolve() for p in read_paths if p.is_dir()]
    read_files = [p for p in read_paths if not p.is_dir()]
    inodes = _inodes(read_paths)
    for output in outputs:
        if output.path is None:
            continue
        path = Path(output.path)
        where = f"{output.flag} {path}"
        target = path.resolve()  # first what it would overwrite: the most important thing to say
        _check_not_read(target, where, read_dirs, read_files, inodes)
        _check_not_in_store(target, where)
        _check_shape(output, path, where)
        if path.exists() and not output.is_dir and not output.exists_ok and not force:
            raise OutputError(f"{where}: already exists; pass --force to replace it, or pick another path")


def _check_shape(output: Output, path: Path, where: str) -> None:
    """A dangling link, a file/directory mix-up, a missing parent or a wrong suffix."""
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{where}: a dangling symbolic link (to {os.readlink(path)}); remove it or pick another path")
    if output.is_dir:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{where}: is a file, not a directory; pick a directory path")
        _check_parents(path, where)
        return
    if path.is_dir():
        raise OutputError(f"{where}: is a directory; give a file path, e.g. {path / ('out' + _first(output))}")
    _check_parents(path, where)
    if output.suffixes and path.suffix.lower() not in output.suffixes:
        raise OutputError(
            f"{where}: must end in {' or '.join(output.suffixes)}, e.g. {path.with_suffix(_first(output))}"
        )


def files_in(flag: str, directory: Path, *names: str) -> list[Output]:
    """The files a command writes under its output directory, each checked like a file output."""
    return [Output(flag, directory / name) for name in names]


def _first(output: Output) -> str:
    return output.suffixes[0] if output.suffixes else ""


def _check_parents(path: Path, where: str) -> None:
    """A file where a parent directory should be (NotADirectoryError later)."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{where}: {parent} is a file, not a directory; pick another path")
            return


def _check_not_read(
    target: Path, where: str, read_dirs: list[Path], read_files: list[Path], inodes: dict[tuple[int, int], Path]
) -> None:
    for directory in read_dirs:
        if target == directory or target.is_relative_to(directory):
            raise OutputError(
                f"{where}: lies inside {directory}, which this command reads (a dataset or project keeps its files "
                "there); write it elsewhere"
            )
    for file in read_files:
        if target == file.resolve():
            raise OutputError(f"{where}: is {file}, an input of this command; write it elsewhere")
    if target.exists():
        stat = target.stat()
        source = inodes.get((stat.st_dev, stat.st_ino))
        if source is not None:
            raise OutputError(f"{where}: is the same file as {source} (a hard link), an input; write it elsewhere")


def _check_not_in_store(target: Path, where: str) -> None:
    """Refuse a path under a dataset or project directory, whether this command reads it or not."""
    for parent in target.parents:
        marker = next((name for name in STORE_MARKERS if (parent / name).is_file()), None)
        if marker is not None:
            kind = "dataset" if marker == "dataset.json" else "project"
            raise OutputError(f"{where}: lies inside {kind} directory {parent}; write it elsewhere")


def _inodes(paths: list[Path]) -> dict[tuple[int, int], Path]:
    """(device, inode) of every read file, and of the files up to INODE_SCAN_DEPTH under read dirs."""
    found: dict[tuple[int, int], Path] = {}

    def add(path: Path, depth: int) -> None:
        try:
            if path.is_dir():
                if depth < INODE_SCAN_DEPTH:
                    for child in path.iterdir():
                        add(child, depth + 1)
            elif path.exists():
                stat = path.stat()
                found.setdefault((stat.st_dev, stat.st_ino), path)
        except OSError:  # an unreadable corner of an input cannot be written through by us either
            return

    for path in paths:
        add(path, 0)
    return found
