"""Library errors name parameters (`k`, `seed_pos`), listed in `SealsearchError.params`; the CLI
shows each as its flag (`--k`, `--seed-pos`), so the library speaks Python to Python callers and
the web API, and the CLI speaks flags (issue 22)."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import make_dataset
from sealsearch.cli import app
from sealsearch.cli.output import cli_message, flag
from sealsearch.errors import InvalidParameterError
from sealsearch.experiments.simulate import RunConfig

SRC = Path(__file__).resolve().parents[2] / "src" / "sealsearch"
FLAG_IN_TEXT = re.compile(r"(?<![\w`-])--[a-z][a-z-]*")


def raised_texts(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the string parts of every `raise X(...)` in a module, code spans removed."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            inner = {id(v) for part in ast.walk(node.exc) if isinstance(part, ast.JoinedStr) for v in part.values}
            for part in ast.walk(node.exc):
                if id(part) in inner:
                    continue
                if isinstance(part, ast.JoinedStr):  # an f-string: its text with {} for each value
                    text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in part.values)
                elif isinstance(part, ast.Constant) and isinstance(part.value, str):
                    text = part.value
                else:
                    continue
                found.append((node.lineno, re.sub(r"`[^`]*`", "", text)))
    return found


def test_library_errors_name_parameters_not_flags():
    offenders = [
        f"{path.relative_to(SRC)}:{line}: {text}"
        for path in sorted(SRC.rglob("*.py"))
        if not str(path.relative_to(SRC)).startswith("cli/")
        for line, text in raised_texts(path)
        if FLAG_IN_TEXT.search(text)
    ]
    assert not offenders, offenders


def test_the_library_message_names_the_parameter_and_the_cli_the_flag(tmp_path):
    with pytest.raises(InvalidParameterError) as refused:
        RunConfig(concept="c", budget=50, seed_pos=5, neg_ratio=19).validate()
    assert str(refused.value).startswith("budget 50 is smaller") and "--" not in str(refused.value)
    assert set(refused.value.params) == {"budget", "neg_ratio", "seed_pos"}
    assert cli_message(refused.value).endswith("raise --budget or lower --seed-pos")
    assert "(1 + --neg-ratio 19)" in cli_message(refused.value)
    make_dataset(tmp_path / "ds", n=300)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "ds"), "--concept", "rare", "--budget", "5000"])
    assert result.exit_code == 2 and "lower --budget" in result.stderr and "--budget 5000 exceeds" in result.stderr


def test_params_survive_a_process_boundary():
    error = InvalidParameterError("k must be positive, got 0", params=["k"])
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is InvalidParameterError and str(copy) == str(error) and copy.params == ("k",)


@pytest.mark.parametrize(
    ("param", "expected"),
    [("k", "--k"), ("seed_pos", "--seed-pos"), ("batch_size", "--batch"), ("ks", "--k"), ("out_dir", "--out")],
)
def test_flag_spelling(param, expected):
    assert flag(param) == expected


def test_only_whole_words_are_replaced():
    error = InvalidParameterError("k 5 exceeds kNN rows of top-k; lower k", params=["k"])
    assert cli_message(error) == "--k 5 exceeds kNN rows of top-k; lower --k"
