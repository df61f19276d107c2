"""No command writes over an input, a project file or a dataset file (docs/guarantees.md, "Files
the commands write"): every output flag of every command, against every kind of bad target, is a
one-line refusal that leaves every file as it was. `test_every_path_flag_is_classified` fails when
a command grows a path flag this table does not list, so a new output cannot slip past the rule.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import cli_support
import pytest
import typer
import typer.main
from cli_support import seals

from sealsearch.cli import app
from sealsearch.sessions import Project

world = cli_support.world  # the shared fixture

# -- every output: (command line with OUT for the output, the suffix its format takes) -------------
FILE_OUTPUTS: dict[str, tuple[Callable[[Path], list], str]] = {
    "export --out": (lambda w: ["export", w / "project", "--out", "OUT"], ".csv"),
    "export --model": (lambda w: ["export", w / "project", "--concept", "c", "--model", "OUT"], ".joblib"),
    "run --out": (lambda w: ["run", w / "ds", "--concept", "rare", "--budget", "200", "--out", "OUT"], ".parquet"),
    "run --plot": (lambda w: ["run", w / "ds", "--concept", "rare", "--budget", "200", "--plot", "OUT"], ".png"),
    "predict --out": (
        lambda w: ["predict", w / "ds", "--labels", w / "run.labels.parquet", "--out", "OUT"],
        ".parquet",
    ),
}
DIR_OUTPUTS: dict[str, Callable[[Path], list]] = {
    "compare --out": lambda w: ["compare", w / "ds", "--concept", "rare", "--out", "OUT"],
    "analyze --out": lambda w: ["analyze", w / "ds", "--k", "5", "--concept", "rare", "--out", "OUT"],
    "demo --out": lambda w: ["demo", "--data-dir", w / "no-data", "--out", "OUT"],
    "experiment --out": lambda w: ["experiment", w / "ds", "--concepts", "rare", "--out", "OUT"],
    "report --out": lambda w: ["report", w / "results", "--out", "OUT"],
    "dataset wordnet OUT_DIR": lambda w: ["dataset", "wordnet", "OUT"],
    "dataset synthetic OUT_DIR": lambda w: ["dataset", "synthetic", "OUT", "--n", "100"],
    "dataset digits OUT_DIR": lambda w: ["dataset", "digits", "OUT"],
    "import OUT_DIR": lambda w: ["import", "OUT", "--embeddings", w / "X.npy"],
    "embed OUT_DIR": lambda w: ["embed", "OUT", "--from", w / "texts.csv"],
    "project init PROJECT_DIR": lambda w: ["project", "init", "OUT", "--dataset", w / "ds"],
}
READ_ONLY = {
    "concepts dataset_dir", "dataset wordnet --wordnet-dir", "import --embeddings", "import --items", "import --labels",
    "import --media-root", "embed --from", "index build dataset_dir", "index graph dataset_dir", "run dataset_dir",
    "compare dataset_dir", "experiment dataset_dir", "analyze dataset_dir", "report results_dir",
    "predict dataset_dir", "predict --labels", "predict --model", "project init --dataset",
    "project concepts project_dir", "serve project_dir", "serve --media-root", "label project_dir",
    "export project_dir", "doctor path", "predict --project",
    "import --weights", "embed --weights", "dataset digits --weights",  # a model checkpoint directory, loaded
    "demo --data-dir",  # where demo datasets are cached (built once under it, then reused)
    "dataset regroup dataset",  # rewrites the dataset's own items.parquet, atomically, as `index build` adds to it
}  # fmt: skip
"""Path flags a command only reads (or, for a project, labels through its own store)."""
OWN_NAMES = {name.rsplit(" ", 1)[0] + " " + name.rsplit(" ", 1)[1].lower(): name for name in DIR_OUTPUTS}
"""Positional outputs are named by their parameter ("import out_dir"); the tables say OUT_DIR."""


# -- the bad targets: name -> make(world, tmp, suffix) returning the path to give ------------------
def symlink_to(relative: str):
    def make(w: Path, tmp: Path, suffix: str) -> Path:
        (tmp / f"link{suffix}").symlink_to(w / relative)
        return tmp / f"link{suffix}"

    return make


def hard_link(w: Path, tmp: Path, suffix: str) -> Path:
    os.link(w / "ds" / "embeddings.npy", tmp / f"hard{suffix}")
    return tmp / f"hard{suffix}"


def existing(w: Path, tmp: Path, suffix: str) -> Path:
    (tmp / f"mine{suffix}").write_text("mine")
    return tmp / f"mine{suffix}"


def directory(w: Path, tmp: Path, suffix: str) -> Path:
    (tmp / f"dir{suffix}").mkdir()
    return tmp / f"dir{suffix}"


def dangling(w: Path, tmp: Path, suffix: str) -> Path:
    (tmp / f"dangling{suffix}").symlink_to(tmp / "nowhere")
    return tmp / f"dangling{suffix}"


def under_a_file(w: Path, tmp: Path, suffix: str) -> Path:
    (tmp / "file").write_text("mine")
    return tmp / "file" / f"out{suffix}"


FILE_TARGETS: dict[str, tuple[Callable, str]] = {
    "a symlink to project.sqlite": (symlink_to("project/project.sqlite"), "project"),
    "a symlink to items.parquet": (symlink_to("ds/items.parquet"), "dataset"),
    "a hard link to embeddings.npy": (hard_link, "hard link"),
    "a new file in the dataset": (lambda w, tmp, s: w / "ds" / f"new{s}", "inside"),
    "a new file in the project": (lambda w, tmp, s: w / "project" / f"new{s}", "inside"),
    "project.sqlite-wal beside the project": (lambda w, tmp, s: w / "project" / "project.sqlite-wal", ""),
    "an existing file without --force": (existing, ""),
    "a directory": (directory, ""),
    "a dangling symlink": (dangling, "dangling"),
    "a path under a file": (under_a_file, "not a directory"),
    "a suffix other than the format's": (lambda w, tmp, s: tmp / "out.txt", ""),
}
DIR_TARGETS: dict[str, tuple[Callable, str]] = {
    "inside the dataset": (lambda w, tmp, s: w / "ds" / "sub", "inside"),
    "inside the project": (lambda w, tmp, s: w / "project" / "sub", "inside"),
    "an existing file": (existing, "is a file"),
    "a dangling symlink": (dangling, "dangling"),
    "a path under a file": (under_a_file, "not a directory"),
}


def snapshot(*roots: Path) -> dict[str, bytes]:
    return {
        str(path): path.read_bytes()
        for root in roots
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and not path.name.endswith(".checked.json")
    }


def assert_refused(world: Path, tmp: Path, args: list, fragment: str) -> None:
    before = snapshot(world, tmp)
    result = seals(*args)
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    message = result.stderr.strip().removeprefix(
        "deprecated: --output is now --out (the old spelling still works for now)\n"
    )
    assert message.startswith("error: ") and "\n" not in message, message
    assert fragment in message, message
    assert snapshot(world, tmp) == before, "a refused output changed files"


@pytest.mark.parametrize("target", list(FILE_TARGETS))
@pytest.mark.parametrize("output", list(FILE_OUTPUTS))
def test_a_file_output_never_lands_on_an_input_or_an_existing_file(world, tmp_path, output, target):
    command, suffix = FILE_OUTPUTS[output]
    make, fragment = FILE_TARGETS[target]
    path = make(world, tmp_path, suffix)
    args = [path if a == "OUT" else a for a in command(world)]
    assert_refused(world, tmp_path, args, fragment)


@pytest.mark.parametrize("target", list(DIR_TARGETS))
@pytest.mark.parametrize("output", list(DIR_OUTPUTS))
def test_a_directory_output_never_lands_in_a_dataset_or_a_project(world, tmp_path, output, target):
    make, fragment = DIR_TARGETS[target]
    path = make(world, tmp_path, "")
    args = [path if a == "OUT" else a for a in DIR_OUTPUTS[output](world)]
    assert_refused(world, tmp_path, args, fragment)


def test_every_path_flag_is_classified():
    """A path flag is either an output in the tables above or listed as read-only."""
    root = typer.main.get_command(app)

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])
        if not hasattr(command, "commands"):
            for param in command.get_params(typer.Context(command)):
                if "Path" in str(getattr(getattr(param, "type_descriptor", None), "annotation", "")):
                    yield " ".join([*path, param.opts[0] if param.opts else param.name])

    found = {OWN_NAMES.get(name, name) for name in walk(root, [])}
    known = set(FILE_OUTPUTS) | set(DIR_OUTPUTS) | READ_ONLY
    assert found == known, (found - known, known - found)


def test_force_replaces_an_existing_output_but_never_an_input(world, tmp_path):
    target = tmp_path / "labels.csv"
    target.write_text("old")
    assert seals("export", world / "project", "--out", target, "--force").exit_code == 0
    assert target.read_text().startswith("id,text,uri,concept")
    link = tmp_path / "link.csv"
    link.symlink_to(world / "project" / "project.sqlite")
    assert_refused(world, tmp_path, ["export", world / "project", "--out", link, "--force"], "project")


def test_a_missing_parent_directory_is_created_as_before(world, tmp_path):
    out = tmp_path / "new" / "dir" / "labels.csv"
    assert seals("export", world / "project", "--out", out).exit_code == 0 and out.is_file()


@pytest.mark.parametrize(
    "flags",
    [["--format", "csv", "--output", "P/project.sqlite"], ["--concept", "c", "--model", "P/project.sqlite"],
     ["--format", "parquet", "--out", "x.csv"]],
    ids=["issue 18: --output onto project.sqlite", "issue 18: --model onto project.sqlite", "format and suffix"],
)  # fmt: skip
def test_the_reported_reproductions_are_refused_and_the_labels_kept(world, tmp_path, flags):
    project = tmp_path / "project"
    shutil.copytree(world / "project", project)
    with Project.open(project) as opened:
        opened.create_concept("c", positives=["item1", "item2"])
    args = [str(project / "project.sqlite") if a == "P/project.sqlite" else a for a in flags]
    args = [str(tmp_path / a) if a == "x.csv" else a for a in args]
    assert_refused(
        world, tmp_path, ["export", project, *args], "project" if "P/project.sqlite" in flags else ".parquet"
    )
    with Project.open(project) as opened:
        assert len(opened.concept("c").labels_frame()) == 2
