"""Every CLI write that the disk refuses is one line and exit code 1, never a traceback, on real
filesystems (a small tmpfs mounted for the test, remounted read-only or filled up; needs root,
skipped otherwise): a read-only directory (EROFS) and a full disk (ENOSPC), at every command that
writes. Nothing is left behind (no partial or temporary file) and an existing file asked to be
replaced (`--force`) keeps its old bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cli_support
import pytest
from cli_support import SMALL_RUN, seals

from sessions.test_disk_errors import fill, remount, small_filesystem

world = cli_support.world  # the shared fixture

WRITES: dict[str, Callable[[Path, Path], list]] = {
    "export --out": lambda w, fs: ["export", w / "project", "--out", fs / "labels.csv"],
    "export --out --force over a file": lambda w, fs: ["export", w / "project", "--out", fs / "old.csv", "--force"],
    "run --out": lambda w, fs: ["run", w / "ds", *SMALL_RUN, "--pool", "all", "--out", fs / "run.parquet"],
    "run --plot": lambda w, fs: ["run", w / "ds", *SMALL_RUN, "--pool", "all", "--plot", fs / "run.png"],
    "predict --out": lambda w, fs: ["predict", w / "ds", "--labels", w / "run.labels.parquet",
                                    "--out", fs / "t.parquet"],
    "compare --out": lambda w, fs: ["compare", w / "ds", "--concept", "rare", *SMALL_RUN[2:], "--strategy", "maxent",
                                    "--pool", "all", "--out", fs / "cmp"],
    "analyze --out": lambda w, fs: ["analyze", w / "ds", "--k", "5", "--concept", "rare", "--factory", "Flat",
                                    "--out", fs / "latent"],
    "project init": lambda w, fs: ["project", "init", fs / "project", "--dataset", w / "ds", "--factory", "Flat"],
    "import": lambda w, fs: ["import", fs / "imported", "--embeddings", w / "X.npy"],
    "dataset synthetic": lambda w, fs: ["dataset", "synthetic", fs / "synthetic", "--n", "2000", "--dim", "64",
                                        "--concepts", "2", "--prevalence", "0.01"],
}  # fmt: skip


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_one_line(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    assert fragment in message.lower(), message
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", list(WRITES))
def test_a_read_only_directory_is_one_line(world, tmp_path, name):
    with small_filesystem(tmp_path / "fs") as fs:
        (fs / "old.csv").write_text("old")
        remount(fs, "ro")
        before = files(fs)
        result = seals(*WRITES[name](world, fs))
        assert_one_line(result, "read-only")
        assert files(fs) == before


@pytest.mark.parametrize("name", list(WRITES))
def test_a_full_disk_is_one_line_and_leaves_no_partial_file(world, tmp_path, name):
    with small_filesystem(tmp_path / "fs", size="1m") as fs:
        (fs / "old.csv").write_text("old")
        filler = fill(fs)
        before = files(fs)
        result = seals(*WRITES[name](world, fs))
        assert_one_line(result, "space")
        filler.unlink()
        after = files(fs)
        del before["filler"]
        assert after == before, sorted(after)  # no partial file, no temporary, the old file intact


REAL_ERRORS: dict[str, tuple[Callable[[Path], object], str]] = {
    "IsADirectoryError": (lambda tmp: open(tmp, "w"), "is a directory"),  # noqa: SIM115
    "NotADirectoryError": (lambda tmp: open(tmp / "file" / "x", "w"), "not a directory"),  # noqa: SIM115
    "FileExistsError": (lambda tmp: (tmp / "file").mkdir(), "already exists"),
    "FileNotFoundError": (lambda tmp: open(tmp / "missing" / "x", "w"), "not found"),  # noqa: SIM115
    "a dangling symlink opened for reading": (lambda tmp: (tmp / "dangling").read_bytes(), "not found"),
}


@pytest.mark.parametrize("name", list(REAL_ERRORS))
def test_every_os_error_family_is_one_line_naming_the_path(tmp_path, name, capsys):
    """What `user_errors` (around every command) makes of OSErrors the system really raises."""
    import typer

    from sealsearch.cli.output import user_errors

    (tmp_path / "file").write_text("mine")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    call, fragment = REAL_ERRORS[name]
    with pytest.raises(typer.Exit) as exited:
        user_errors(lambda: call(tmp_path))()
    assert exited.value.exit_code == 1
    message = capsys.readouterr().err.strip()
    assert message.startswith("error: ") and "\n" not in message and fragment in message, message
    assert str(tmp_path) in message
