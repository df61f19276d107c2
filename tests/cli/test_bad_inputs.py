"""Every bad input a user can give the CLI, each its own case: a non-zero exit, one line on stderr
that names the problem and the fix, no traceback, and nothing written or damaged (the whole
working directory is compared before and after, the value-scan cache aside).

The list is docs/guarantees.md's; `test_guarantees_list_every_case` keeps the two in step.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import make_dataset
from sealsearch.cli import app
from sealsearch.data.dataset import Dataset
from sealsearch.sessions import Project

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "guarantees.md"


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A valid dataset (600 items, 'rare' in both splits, 'testonly' only in the test split,
    'nopos' with no test positives) plus its raw inputs, with a project over it."""
    base = tmp_path_factory.mktemp("good")
    dataset = make_dataset(base / "ds", n=600)
    vectors = np.load(base / "ds" / "embeddings.npy")
    np.save(base / "X.npy", vectors)
    dataset.items.drop(columns="row").to_parquet(base / "items.parquet")
    test_rows = dataset.split_rows("test")
    pool_rows = dataset.split_rows("pool")
    concepts = pd.read_parquet(base / "ds" / "concepts.parquet")
    extra = pd.concat([
        pd.DataFrame({"row": test_rows[:10], "concept": "testonly"}),
        pd.DataFrame({"row": pool_rows[:40], "concept": "nopos"}),
    ])  # fmt: skip
    pd.concat([concepts, extra]).to_parquet(base / "concepts.parquet")
    shutil.rmtree(base / "ds")
    assert seals("import", base / "ds", "--embeddings", base / "X.npy", "--items", base / "items.parquet",
                 "--labels", base / "concepts.parquet").exit_code == 0  # fmt: skip
    assert seals("index", "build", base / "ds", "--factory", "Flat").exit_code == 0
    Project.init(base / "project", dataset=base / "ds", factory="Flat").close()
    return base


def seals(*args):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under root with its size, mtime and first bytes (the value-scan cache aside)."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.endswith(".checked.json"):
            stat = path.stat()
            files[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns, path.read_bytes()[:4096])
    return files


def copy_dataset(good: Path, tmp: Path) -> Path:
    shutil.copytree(good / "ds", tmp / "ds")
    Dataset.open(tmp / "ds")  # rescans once (a copy is a new file) so the case itself writes nothing
    return tmp / "ds"


def copy_project(good: Path, tmp: Path) -> Path:
    shutil.copytree(good / "project", tmp / "project")
    return tmp / "project"


def edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


# -- the cases: name -> prepare(good, tmp) returning the command line, and fragments of the message
def imp(good: Path, tmp: Path, embeddings: Path, *more) -> list:
    return ["import", tmp / "out", "--embeddings", embeddings, *more]


def with_vectors(transform: Callable[[np.ndarray], np.ndarray]):
    def prepare(good, tmp):
        np.save(tmp / "bad.npy", transform(np.load(good / "X.npy")))
        return imp(good, tmp, tmp / "bad.npy")

    return prepare


def nan_row(x):
    x[17, 2] = np.nan
    return x


def inf_row(x):
    x[5, 0] = np.inf
    return x


def zero_row(x):
    x[9] = 0
    return x


def zero_byte(good, tmp):
    (tmp / "empty.npy").write_bytes(b"")
    return imp(good, tmp, tmp / "empty.npy")


def truncated(good, tmp):
    data = (good / "X.npy").read_bytes()
    (tmp / "half.npy").write_bytes(data[: len(data) // 2])
    return imp(good, tmp, tmp / "half.npy")


def not_npy(good, tmp):
    (tmp / "text.npy").write_text("hello, this is not numpy\n")
    return imp(good, tmp, tmp / "text.npy")


def duplicate_ids(good, tmp):
    items = pd.read_parquet(good / "items.parquet")
    items.loc[5, "id"] = items.loc[6, "id"]
    items.to_parquet(tmp / "items.parquet")
    return imp(good, tmp, good / "X.npy", "--items", tmp / "items.parquet")


def short_items(good, tmp):
    pd.read_parquet(good / "items.parquet").iloc[:500].to_parquet(tmp / "items.parquet")
    return imp(good, tmp, good / "X.npy", "--items", tmp / "items.parquet")


def labels_out_of_range(good, tmp):
    pd.DataFrame({"row": [3, 600], "concept": "x"}).to_parquet(tmp / "labels.parquet")
    return imp(good, tmp, good / "X.npy", "--labels", tmp / "labels.parquet")


def ragged_parquet(good, tmp):
    pd.DataFrame({"id": ["a", "b", "c"], "vector": [[1.0, 0.0], [0.0, 1.0, 0.5], [1.0, 1.0]]}).to_parquet(
        tmp / "v.parquet"
    )
    return ["import", tmp / "out", "--from", tmp / "v.parquet"]


def output_exists(good, tmp):
    (tmp / "out").mkdir()
    (tmp / "out" / "keep.txt").write_text("mine")
    return imp(good, tmp, good / "X.npy")


def missing_embeddings(good, tmp):
    return imp(good, tmp, tmp / "nope.npy")


def dataset_case(edit: Callable[[Path], None], command: str = "run"):
    def prepare(good, tmp):
        ds = copy_dataset(good, tmp)
        edit(ds)
        if command == "concepts":
            return ["concepts", ds]
        return ["run", ds, "--concept", "rare", "--budget", "100", "--out", tmp / "run.parquet"]

    return prepare


def nan_with_mtime_restored(ds: Path):
    file = ds / "embeddings.npy"
    stat = file.stat()
    vectors = np.load(file, mmap_mode="r+")
    vectors[3, 1] = np.nan
    vectors.flush()
    del vectors
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def concepts_rows(rows):
    def edit(ds: Path):
        pd.DataFrame({"row": rows, "concept": "rare"}).to_parquet(ds / "concepts.parquet")

    return edit


def run_case(*flags, dataset_edit=None):
    def prepare(good, tmp):
        ds = good / "ds"
        return ["run", ds, *flags, "--out", tmp / "run.parquet"]

    return prepare


def project_case(edit: Callable[[Path, Path], None], command=("project", "concepts")):
    def prepare(good, tmp):
        project = copy_project(good, tmp)
        edit(project, good)
        return [*command, project]

    return prepare


def garbage_sqlite(project: Path, good: Path) -> None:
    (project / "project.sqlite").write_bytes(b"this is not a database at all" * 100)


def foreign_sqlite(project: Path, good: Path) -> None:
    (project / "project.sqlite").unlink()
    with sqlite3.connect(project / "project.sqlite") as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO customers VALUES (1, 'ada')")
    db.close()


def newer_schema(project: Path, good: Path) -> None:
    with sqlite3.connect(project / "project.sqlite") as db:
        db.execute("INSERT INTO migrations VALUES (99, 'from the future', 0)")
    db.close()


def other_dataset(project: Path, good: Path) -> None:
    other = project.parent / "other"
    make_dataset(other, n=600, seed=1)
    with sqlite3.connect(project / "project.sqlite") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'dataset'", (str(other),))
    db.close()


def no_project(project: Path, good: Path) -> None:
    shutil.rmtree(project)


CASES: dict[str, tuple[Callable, list[str]]] = {
    "zero-byte .npy": (zero_byte, ["empty.npy", "not a readable .npy"]),
    "truncated .npy": (truncated, ["half.npy", "not a readable .npy"]),
    "not a .npy file": (not_npy, ["text.npy", "not a readable .npy"]),
    "NaN in a row": (with_vectors(nan_row), ["row 17", "NaN or inf"]),
    "inf in a row": (with_vectors(inf_row), ["row 5", "NaN or inf"]),
    "all-zero row": (with_vectors(zero_row), ["row 9", "all-zero"]),
    "1-D vectors": (with_vectors(lambda x: x[:, 0].copy()), ["2-D"]),
    "3-D vectors": (with_vectors(lambda x: x.reshape(600, 4, 4)), ["2-D"]),
    "integer dtype": (with_vectors(lambda x: (x * 100).astype(np.int32)), ["int32", "float"]),
    "duplicate item ids": (duplicate_ids, ["appears twice", "unique"]),
    "items of another length": (short_items, ["500", "600"]),
    "ground-truth row out of range": (labels_out_of_range, ["600"]),
    "ragged Parquet vector column": (ragged_parquet, ["v.parquet"]),
    "output directory exists": (output_exists, ["already exists"]),
    "missing embeddings file": (missing_embeddings, ["nope.npy", "not found"]),
    "missing dataset.json": (dataset_case(lambda ds: (ds / "dataset.json").unlink()), ["dataset.json", "not found"]),
    "unreadable dataset.json": (
        dataset_case(lambda ds: (ds / "dataset.json").write_text("{oops")),
        ["dataset.json", "unreadable"],
    ),
    "dtype differs from dataset.json": (
        dataset_case(lambda ds: edit_json(ds / "dataset.json", dtype="float16")),
        ["dtype float32", "dataset.json", "re-import"],
    ),
    "N differs from dataset.json": (
        dataset_case(lambda ds: edit_json(ds / "dataset.json", n=601)),
        ["does not match dataset.json", "re-import"],
    ),
    "NaN written after import, mtime restored": (
        dataset_case(nan_with_mtime_restored, "concepts"),
        ["row 3", "NaN or inf"],
    ),
    "concepts.parquet row past the end": (
        dataset_case(concepts_rows([1, 2, 10_000]), "concepts"),
        ["concepts.parquet", "row 10000", "outside 0..599"],
    ),
    "concepts.parquet negative row": (
        dataset_case(concepts_rows([1, -1]), "concepts"),
        ["concepts.parquet", "row -1", "outside 0..599"],
    ),
    "corrupt concepts.parquet": (
        dataset_case(lambda ds: (ds / "concepts.parquet").write_bytes(b"PAR1 broken"), "concepts"),
        ["concepts.parquet", "not a readable Parquet"],
    ),
    "corrupt items.parquet": (
        dataset_case(lambda ds: (ds / "items.parquet").write_bytes(b"PAR1 broken PAR1")),
        ["items.parquet", "not a readable Parquet"],
    ),
    "items.parquet of another length": (
        dataset_case(lambda ds: pd.read_parquet(ds / "items.parquet").iloc[:10].to_parquet(ds / "items.parquet")),
        ["items.parquet", "10 rows", "600"],
    ),
    "k = 0": (run_case("--concept", "rare", "--k", "0"), ["'--k'", "allowed: 1..2147483647"]),
    "k > N": (run_case("--concept", "rare", "--k", str(10**6), "--budget", "100"), ["k 1000000", "lower --k"]),
    "budget below the seed set": (run_case("--concept", "rare", "--budget", "50"), ["smaller than the seed set"]),
    "budget above N": (run_case("--concept", "rare", "--budget", "5000"), ["budget 5000 exceeds", "lower --budget"]),
    "batch size 0": (run_case("--concept", "rare", "--batch", "0"), ["'--batch'", "allowed: 1..2147483647"]),
    "unknown strategy": (run_case("--concept", "rare", "--strategy", "maxnet"), ["maxnet", "did you mean 'maxent'"]),
    "unknown pool": (run_case("--concept", "rare", "--pool", "seal"), ["seal", "did you mean 'seals'"]),
    "unknown index factory": (run_case("--concept", "rare", "--factory", "Flatt"), ["Flatt"]),
    "unknown kNN source": (run_case("--concept", "rare", "--knn", "grap"), ["did you mean 'graph'"]),
    "unknown concept": (run_case("--concept", "rar", "--budget", "100"), ["unknown concept 'rar'", "did you mean"]),
    "concept with 0 positives in the pool": (
        run_case("--concept", "testonly", "--budget", "100"),
        ["0 positives in the pool split"],
    ),
    "more seed positives than the concept has": (
        run_case("--concept", "tiny", "--budget", "100"),
        ["3 positives", "--seed-pos 5"],
    ),
    "corrupt project file": (project_case(garbage_sqlite), ["project.sqlite", "not a readable sealsearch project"]),
    "foreign SQLite file": (project_case(foreign_sqlite), ["another program", "not a sealsearch project"]),
    "newer schema version": (project_case(newer_schema), ["schema version 99", "upgrade"]),
    "project opened with another dataset": (project_case(other_dataset), ["does not match project"]),
    "missing project": (project_case(no_project), ["project.sqlite", "not found"]),
    "serve on the network without a token": (
        project_case(lambda project, good: None, ("serve", "--host", "0.0.0.0", "-p", "0")),
        ["--token: required"],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_error_and_writes_nothing(name, good, tmp_path):
    prepare, fragments = CASES[name]
    args = prepare(good, tmp_path)
    before, good_before = snapshot(tmp_path), snapshot(good / "ds")
    result = seals(*args)
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in message, message
    assert snapshot(tmp_path) == before, "a refused command wrote or changed files"
    assert snapshot(good / "ds") == good_before
    assert not (tmp_path / "run.parquet").exists()


def test_a_test_split_without_positives_runs_and_says_ap_is_undefined(good, tmp_path):
    result = seals("run", good / "ds", "--concept", "nopos", "--budget", "120", "--out", tmp_path / "r.parquet")
    assert result.exit_code == 0, result.output
    assert "no positives in the test split" in result.stderr and "AP is undefined" in result.stderr
    assert pd.read_parquet(tmp_path / "r.parquet")["ap"].isna().all()


def test_the_project_still_opens_after_its_refusals(good):
    with Project.open(good / "project") as project:  # none of the cases touched the original
        assert project.concepts() == []


def test_guarantees_list_every_case():
    text = DOCS.read_text()
    missing = [name for name in CASES if f"| {name} |" not in text]
    assert not missing, f"docs/guarantees.md lacks rows for {missing}"


# -- the same promise from the library: a SealsearchError whose message is one line ----------
def _library_cases(good: Path, tmp: Path) -> dict[str, Callable[[], object]]:
    from sealsearch.active.knn import open_or_build_index
    from sealsearch.active.loop import ActiveLoop
    from sealsearch.active.pools import make_pool
    from sealsearch.index import get_backend

    dataset = Dataset.open(good / "ds")
    index = open_or_build_index(dataset, "Flat")
    pool = make_pool("seals", dataset.embeddings, dataset.split_rows("pool"), index=index, k=5)
    loop = ActiveLoop(dataset.embeddings, pool, eligible_rows=dataset.split_rows("pool"))
    project = Project.open(copy_project(good, tmp))
    project.create_concept("c", positives=["item0"])
    return {
        "a label for an unknown item": lambda: project.concept("c").label(labeler="a", labels=[("nope", "positive")]),
        "a label value that is not positive/negative/skip": lambda: project.concept("c").label(
            labeler="a", labels=[("item1", "yes")]
        ),
        "unknown index backend": lambda: get_backend("fais"),
        "query vectors of another dimension than the index": lambda: index.search(np.zeros((1, 5), np.float32), 3),
        "a search k whose result cannot fit in memory": lambda: index.search(np.ones((1, 16), np.float32), 10**9),
        "rows that are not integers": lambda: loop.tell([1.5, 2.0], [1, 0]),
        "labels other than 0/1": lambda: loop.tell([1, 2], [1, 2]),
    }


LIBRARY_CASES = [
    "a label for an unknown item",
    "a label value that is not positive/negative/skip",
    "unknown index backend",
    "query vectors of another dimension than the index",
    "a search k whose result cannot fit in memory",
    "rows that are not integers",
    "labels other than 0/1",
]


def test_library_bad_inputs_raise_one_line_errors(good, tmp_path):
    from sealsearch.errors import SealsearchError

    cases = _library_cases(good, tmp_path)
    assert list(cases) == LIBRARY_CASES
    for name, call in cases.items():
        with pytest.raises(SealsearchError) as refused:
            call()
        assert str(refused.value) and "\n" not in str(refused.value), name
    text = DOCS.read_text()
    assert all(f"| {name} |" in text for name in LIBRARY_CASES), "docs/guarantees.md lacks a library case"
