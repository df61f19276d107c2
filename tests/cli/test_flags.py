"""The CLI's flags, walked over every command: each numeric flag declares its range and a value
outside it is one line naming the flag and the range (issue 18, class 3); every deprecated
spelling still works with a one-line note and stays out of --help (issue 22); `seals serve`
refuses weak tokens and unresolvable hosts and serves the media root recorded at import.
"""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
import typer
import typer.main
from typer.testing import CliRunner

from conftest import make_dataset
from sealsearch.cli import app
from sealsearch.cli.options import DEPRECATED_FLAGS, DEPRECATED_VALUES, Command
from sealsearch.data.writer import write_dataset
from sealsearch.sessions import Project
from web_support import Server

runner = CliRunner()


def seals(*args):
    return runner.invoke(app, [str(a) for a in args])


def commands():
    """(command words, click command) of every leaf command."""

    def walk(command, path):
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])
        if not hasattr(command, "commands"):
            yield path, command

    return list(walk(typer.main.get_command(app), []))


def params(command):
    return command.get_params(typer.Context(command))


def numeric_flags() -> list[tuple[list[str], str, object, object]]:
    found = []
    for path, command in commands():
        for param in params(command):
            annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
            if annotation in (int, float) and param.opts and param.opts[0].startswith("--"):
                found.append((path, param.opts[0], getattr(param, "min", None), getattr(param, "max", None)))
    return found


def one_line(result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    assert "Traceback" not in result.output
    return message


def test_every_command_is_a_seals_command():
    """So every command gets the deprecated spellings and the one-line usage errors."""
    assert all(isinstance(command, Command) for _, command in commands())


def test_every_numeric_flag_declares_its_range():
    unbounded = [(" ".join(path), flag) for path, flag, low, high in numeric_flags() if low is None or high is None]
    assert not unbounded, unbounded


@pytest.mark.parametrize(
    ("path", "flag", "value"),
    [
        pytest.param(path, flag, value, id=f"{' '.join(path)} {flag} {value}")
        for path, flag, low, high in numeric_flags()
        for value in (low - 1 if isinstance(low, int) else low - 0.5, high * 10**20 if high else 10**23)
    ],
)
def test_a_value_out_of_range_is_one_line_naming_the_flag_and_range(tmp_path, path, flag, value):
    result = seals(*path, *(["x"] if path != ["demo"] else []), flag, value)
    assert result.exit_code == 2, result.output
    message = one_line(result)
    assert flag in message and "allowed: " in message, message
    assert not any(tmp_path.iterdir())


def test_list_valued_numbers_are_checked_too(tmp_path):
    make_dataset(tmp_path / "ds", n=300)
    for args in (["experiment", "--k", "5,0"], ["experiment", "--seed-pos", str(10**23)], ["analyze", "--k", "-1"]):
        result = seals(args[0], tmp_path / "ds", *args[1:], "--out", tmp_path / "out")
        assert result.exit_code == 2 and args[-2] in one_line(result) and "allowed: 1.." in result.stderr, args
    assert not (tmp_path / "out").exists()


# -- deprecated spellings ------------------------------------------------------------------------
ALIAS_CASES = [
    (path, old, new)
    for path, command in commands()
    for old, new in DEPRECATED_FLAGS.items()
    if new in {opt for param in params(command) for opt in getattr(param, "opts", [])}
]


def test_every_deprecated_spelling_has_a_command():
    assert {old for _, old, _ in ALIAS_CASES} == set(DEPRECATED_FLAGS)


@pytest.mark.parametrize(("path", "old", "new"), ALIAS_CASES, ids=[f"{' '.join(p)} {o}" for p, o, _ in ALIAS_CASES])
def test_a_deprecated_flag_still_parses_with_a_note_and_stays_out_of_help(tmp_path, path, old, new):
    (tmp_path / "o.csv").write_text("mine")  # as an output, refused at once (demo would otherwise run)
    value = {"--output": tmp_path / "o.csv", "--media": tmp_path, "--strategies": "maxent", "--pools": "all"}[old]
    command = dict((tuple(p), c) for p, c in commands())[tuple(path)]
    missing = [tmp_path / "missing"] if any(p.param_type_name == "argument" for p in params(command)) else []
    for args in ([old, value], [f"{old}={value}"]):
        result = seals(*path, *missing, *args)
        note, *rest = result.stderr.strip().splitlines()
        assert note == f"deprecated: {old} is now {new} (the old spelling still works for now)", result.stderr
        assert "No such option" not in result.stderr and "unexpected extra" not in result.stderr, result.stderr
    help_text = seals(*path, "--help").output
    assert new in help_text and f"{old} " not in help_text.replace(f"{old}-", "")


VALUE_CASES = [(flag, old, new) for flag, values in DEPRECATED_VALUES.items() for old, new in values.items()]


@pytest.mark.parametrize(("flag", "old", "new"), VALUE_CASES)
def test_a_deprecated_value_still_works_with_a_note(tmp_path, flag, old, new):
    make_dataset(tmp_path / "ds", n=300)
    result = seals("experiment", tmp_path / "ds", "--concepts", "rare", "--strategy", "random", "--pool", "all",
                   "--budget", "60", "--seed-pos", "2", "--neg-ratio", "4", "--repeats", "1", flag, old,
                   "--out", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"deprecated: {flag} {old} is now {flag} {new}" in result.stderr
    assert len(pd.read_parquet(tmp_path / "out" / "runs.parquet")) > 0


def test_export_output_is_the_same_as_out(tmp_path):
    make_dataset(tmp_path / "ds", n=300)
    with Project.init(tmp_path / "p", dataset=tmp_path / "ds", factory="Flat") as project:
        project.create_concept("c", positives=["item1", "item2"])
    old = seals("export", tmp_path / "p", "--output", tmp_path / "old.csv")
    new = seals("export", tmp_path / "p", "--out", tmp_path / "new.csv")
    assert old.exit_code == new.exit_code == 0 and "deprecated: --output is now --out" in old.stderr
    assert (tmp_path / "old.csv").read_bytes() == (tmp_path / "new.csv").read_bytes()


# -- serve -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def media_project(tmp_path_factory):
    """A dataset whose uris point into a media folder outside it, recorded at import."""
    base = tmp_path_factory.mktemp("media")
    (base / "pictures").mkdir()
    (base / "pictures" / "a.png").write_bytes(b"\x89PNG picture a")
    items = pd.DataFrame({"id": [f"i{k}" for k in range(20)], "text": "t", "uri": "a.png", "split": "pool"})
    vectors = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    write_dataset(base / "ds", vectors, embedder="test", items=items, media_root=str(base / "pictures"))
    Project.init(base / "project", dataset=base / "ds", factory="Flat").close()
    return base


@pytest.mark.parametrize("token", ["a", " ", "short-token-15c", "sixteen chars ok", "x" * 15])
def test_a_weak_token_is_refused(media_project, token):
    result = seals("serve", media_project / "project", "--host", "0.0.0.0", "-p", "0", "--token", token)
    assert result.exit_code == 2, result.output
    assert "--token: too weak" in one_line(result) and "at least 16 characters" in result.stderr


def test_an_unresolvable_host_is_named_not_the_port(media_project):
    result = seals("serve", media_project / "project", "--host", "no such host", "-p", "0", "--token", "x" * 24)
    assert result.exit_code == 2
    message = one_line(result)
    assert "--host no such host: cannot be resolved" in message and "--port" not in message


def test_serve_uses_the_media_root_recorded_at_import(media_project):
    with Server(media_project / "project") as server:
        response = httpx.get(f"{server.url}/media/a.png")
    assert response.status_code == 200 and response.content == b"\x89PNG picture a"
