"""A dataset changed after import is refused when it is opened, one class of change per test,
each walking every member of its class (issue 18, classes 4 and 5): one line on stderr naming the
file, the field or row, what was found and the fix, a non-zero exit, and nothing written.

The list is docs/guarantees.md's "Datasets and projects that changed"; `test_guarantees_list_every_case`
keeps the two in step.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import make_dataset
from sealsearch.active.knn import build_knn_graph, open_or_build_index
from sealsearch.cli import app
from sealsearch.data.codes import Sq8Codes
from sealsearch.data.dataset import Dataset
from sealsearch.data.embeddings import normalise_rows
from sealsearch.sessions import Project
from sealsearch.sessions.doctor import doctor

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "guarantees.md"


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("changed") / "ds"
    make_dataset(path, n=400)
    return path


def fresh(good: Path, tmp: Path) -> Path:
    """A copy of the good dataset, opened once (a copy is a new file: its values are scanned)."""
    shutil.copytree(good, tmp / "ds")
    Dataset.open(tmp / "ds")
    return tmp / "ds"


def refused(args: list, *fragments: str) -> str:
    """Run `seals ARGS`: it must fail with one `error:` line holding every fragment."""
    result = runner.invoke(app, [str(a) for a in args])
    message = result.stderr.strip()
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root, the value-scan cache aside (a scan of a changed file may record it)."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".checked.json"))
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def check_class(cases: dict[str, tuple[Callable[[Path], None], list[str]]], good: Path, tmp: Path, command="concepts"):
    for name, (edit, fragments) in cases.items():
        case = tmp / re.sub(r"\W+", "-", name)
        case.mkdir()
        ds = fresh(good, case)
        edit(ds)
        before = snapshot(ds)
        refused([command, ds], *fragments)
        assert snapshot(ds) == before, f"{name}: a refused command wrote or changed files"


# -- class: dataset.json fields ------------------------------------------------------------------
def field(**changes) -> Callable[[Path], None]:
    def edit(ds: Path) -> None:
        raw = json.loads((ds / "dataset.json").read_text())
        for key, value in changes.items():
            if value is KeyError:
                raw.pop(key)
            else:
                raw[key] = value
        (ds / "dataset.json").write_text(json.dumps(raw))

    return edit


DATASET_JSON = {
    "n: 400.0": (field(n=400.0), ["dataset.json", "field 'n' is 400.0", "positive integer"]),
    'n: "400"': (field(n="400"), ["dataset.json", "field 'n' is \"400\"", "positive integer"]),
    "n: true": (field(n=True), ["dataset.json", "field 'n' is true"]),
    "dim: -16": (field(dim=-16), ["dataset.json", "field 'dim' is -16"]),
    "media_root: 5": (field(media_root=5), ["dataset.json", "field 'media_root' is 5", "directory path"]),
    "normalized: 1": (field(normalized=1), ["dataset.json", "field 'normalized' is 1", "true or false"]),
    "dtype: int8": (field(dtype="int8"), ["dataset.json", "field 'dtype' is \"int8\"", "float16, float32"]),
    "missing field": (field(embedder=KeyError), ["dataset.json", "field 'embedder' is missing"]),
    "unknown field": (field(media_rot="m"), ["dataset.json", "unknown field 'media_rot'", "did you mean 'media_root'"]),
    "newer format_version": (field(format_version=2), ["dataset.json", "format_version 2 is newer", "upgrade"]),
    "not an object": (lambda ds: (ds / "dataset.json").write_text("[1, 2]"), ["dataset.json", "JSON object"]),
}


def test_every_bad_dataset_json_field_is_one_line(good, tmp_path):
    check_class(DATASET_JSON, good, tmp_path)


# -- class: items.parquet and concepts.parquet ---------------------------------------------------
def items(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def edit(ds: Path) -> None:
        change(pd.read_parquet(ds / "items.parquet")).to_parquet(ds / "items.parquet", index=False)

    return edit


def concepts(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def edit(ds: Path) -> None:
        change(pd.read_parquet(ds / "concepts.parquet")).to_parquet(ds / "concepts.parquet", index=False)

    return edit


def set_at(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(table: pd.DataFrame) -> pd.DataFrame:
        table.loc[row, column] = value
        return table

    return change


TABLES = {
    "items without id": (items(lambda t: t.drop(columns="id")), ["items.parquet", "no column 'id'"]),
    "items without split": (items(lambda t: t.drop(columns="split")), ["items.parquet", "no column 'split'"]),
    "split other than pool/test": (items(set_at("split", 7, "train")), ["items.parquet", "'train'", "or 'test'"]),
    "concepts rows duplicated": (concepts(lambda t: pd.concat([t, t])), ["concepts.parquet", "appears 2 times"]),
    "one concept row twice": (concepts(lambda t: pd.concat([t, t.iloc[[3]]])), ["concepts.parquet", "appears 2 times"]),
    "empty concepts.parquet": (concepts(lambda t: t.iloc[:0]), ["concepts.parquet", "holds no concepts"]),
}


def test_every_changed_table_is_one_line(good, tmp_path):
    check_class(TABLES, good, tmp_path)


def test_a_duplicated_item_id_is_refused_where_ids_are_read(good, tmp_path):
    ds = fresh(good, tmp_path)
    items(set_at("id", 9, "item4"))(ds)
    dataset = Dataset.open(ds)  # the footer is fine; ids are checked where they are read
    for read in (dataset.item_ids, lambda: dataset.items, dataset.id_map):
        with pytest.raises(Exception, match=r"id 'item4' appears twice \(row 4 and row 9\)"):
            read()


# -- class: embeddings changed after import ------------------------------------------------------
def vectors(change: Callable[[np.ndarray], None]) -> Callable[[Path], None]:
    def edit(ds: Path) -> None:
        raw = np.load(ds / "embeddings.npy")
        change(raw)
        np.save(ds / "embeddings.npy", raw)

    return edit


def zero(raw: np.ndarray) -> None:
    raw[11] = 0


def halved(raw: np.ndarray) -> None:
    raw[12] *= 0.5


def tiny(raw: np.ndarray) -> None:
    raw[13] = raw[13] * np.float32(1e-30)  # its float32 squares underflow to 0: still not all zeros


def huge(raw: np.ndarray) -> None:
    raw[14] = raw[14] * np.float32(1e30)  # its float32 squares overflow to inf


EMBEDDINGS = {
    "zero row": (vectors(zero), ["embeddings.npy", "row 11 is an all-zero vector"]),
    "row no longer unit length": (vectors(halved), ["embeddings.npy", "row 12 has length 0.5", "normalized: true"]),
    "row underflowing float32": (vectors(tiny), ["embeddings.npy", "row 13 has length 1e-30", "re-import"]),
    "row overflowing float32": (vectors(huge), ["embeddings.npy", "row 14 has length 1e+30", "re-import"]),
}


def test_every_changed_embedding_row_is_one_line(good, tmp_path):
    check_class(EMBEDDINGS, good, tmp_path)


def test_rows_beyond_float32_squares_are_normalised_not_called_all_zero():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(4, 8))
    scaled = rows * np.array([1e-30, 1e30, 1e-300, 1.0])[:, None]  # float64: the third is 0 in float32
    unit = normalise_rows(scaled, 0, "v")
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, rows / np.linalg.norm(rows, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="row 4 is an all-zero vector"):
        normalise_rows(np.zeros((2, 8)), 4, "v")


# -- class: projects ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def project(good, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("project") / "p"
    Project.init(path, dataset=good, factory="Flat").close()
    return path


def project_copy(good: Path, project: Path, tmp: Path) -> Path:
    """A copy of the project over its own copy of the dataset."""
    ds = fresh(good, tmp)
    shutil.copytree(project, tmp / "p")
    set_meta("dataset", str(ds))(tmp / "p")
    return tmp / "p"


def set_meta(key: str, value: str) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        with sqlite3.connect(path / "project.sqlite") as db:
            db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
        db.close()

    return edit


def empty_file(path: Path) -> None:
    (path / "project.sqlite").write_bytes(b"")


def no_tables(path: Path) -> None:
    (path / "project.sqlite").unlink()
    with sqlite3.connect(path / "project.sqlite") as db:
        db.execute("PRAGMA user_version = 7")  # a valid database file with no table at all
    db.close()


def shuffle(ds: Path) -> None:
    raw = np.load(ds / "embeddings.npy")
    np.save(ds / "embeddings.npy", raw[np.random.default_rng(1).permutation(len(raw))])


def dataset_shuffled(project: Path) -> None:
    shuffle(project.parent / "ds")


PROJECTS = {
    "empty project.sqlite": (empty_file, ["project.sqlite", "not a sealsearch project (an empty file)"]),
    "database without tables": (no_tables, ["project.sqlite", "not a sealsearch project (a database without"]),
    "fingerprint malformed": (set_meta("fingerprint", '{"n": 4'), ["project.sqlite", "'fingerprint' is malformed"]),
    "fingerprint not an object": (set_meta("fingerprint", "[1, 2]"), ["meta 'fingerprint' is malformed", "backup"]),
    "fingerprint without sha256": (set_meta("fingerprint", '{"n": 400, "dim": 16}'), ["'fingerprint' is malformed"]),
    "dataset changed under the project": (dataset_shuffled, ["does not match project", "sha256"]),
}


def test_every_changed_project_is_one_line_and_stays_as_it_was(good, project, tmp_path):
    for name, (edit, fragments) in PROJECTS.items():
        case = tmp_path / re.sub(r"\W+", "-", name)
        case.mkdir()
        path = project_copy(good, project, case)
        edit(path)
        if (case / "ds" / "embeddings.npy.checked.json").exists():
            Dataset.open(case / "ds")  # rescan a changed file now, so the refused command writes nothing
        before = snapshot(case)
        refused(["project", "concepts", path], *fragments)
        assert snapshot(case) == before, f"{name}: a refused command wrote or changed files"


# -- seals doctor: every case of every class, and a healthy dataset and project -------------------
def shuffled_under_index(ds: Path) -> None:
    dataset = Dataset.open(ds)
    build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), 5, method="search")
    shuffle(ds)


def media_missing(ds: Path) -> None:
    (ds / "media" / "7.txt").unlink()


DOCTOR_ONLY = {
    "duplicated item id": (items(set_at("id", 9, "item4")), ["items.parquet", "id 'item4' appears twice"]),
    "rows shuffled under an index and a graph": (shuffled_under_index, ["built from other embeddings", "seals index"]),
    "media file missing": (media_missing, ["1 of 400 media files missing", "7.txt", "media_root"]),
}


@pytest.fixture(scope="module")
def with_media(good, tmp_path_factory) -> Path:
    """The good dataset with a media_root and one small file per item (uri column)."""
    path = tmp_path_factory.mktemp("media") / "ds"
    shutil.copytree(good, path)
    (path / "media").mkdir()
    table = pd.read_parquet(path / "items.parquet")
    table["uri"] = [f"{row}.txt" for row in table["row"]]
    for uri in table["uri"]:
        (path / "media" / uri).write_text("x")
    table.to_parquet(path / "items.parquet", index=False)
    field(media_root="media")(path)
    return path


def failed_with(findings: list, fragments: list[str]) -> bool:
    failed = [f"{f.found}; {f.fix}" for f in findings if f.status == "fail"]
    return any(all(fragment in text for fragment in fragments) for text in failed)


def test_doctor_finds_every_case_and_writes_nothing(good, with_media, project, tmp_path):
    cases = [(name, case, False) for name, case in {**DATASET_JSON, **TABLES, **EMBEDDINGS, **DOCTOR_ONLY}.items()]
    cases += [(name, case, True) for name, case in PROJECTS.items()]
    for name, (edit, fragments), is_project in cases:
        where = tmp_path / re.sub(r"\W+", "-", name)
        where.mkdir()
        path = project_copy(good, project, where) if is_project else fresh(with_media, where)
        edit(path)
        if is_project and (where / "ds" / "embeddings.npy.checked.json").exists():
            Dataset.open(where / "ds")
        before = snapshot(where)
        result = runner.invoke(app, ["doctor", str(path)])
        assert result.exit_code == 1 and "checks failed" in result.stderr, f"{name}: {result.output}"
        assert failed_with(doctor(path), fragments), f"{name}: {doctor(path)}"
        assert snapshot(where) == before, f"{name}: the doctor wrote or changed files"


def test_doctor_passes_a_healthy_dataset_and_project(with_media, project, tmp_path):
    ds = fresh(with_media, tmp_path)
    dataset = Dataset.open(ds)
    build_knn_graph(dataset, open_or_build_index(dataset, "Flat"), 5, method="search")
    Sq8Codes.open_or_build(dataset.embeddings, ds / "embeddings.npy")
    findings = doctor(ds)
    assert {f.status for f in findings} == {"ok"}, findings
    assert {"index Flat", "graph Flat graph_k5", "media", "SQ8 codes", "item ids"} <= {f.check for f in findings}
    result = runner.invoke(app, ["doctor", str(ds)])
    assert result.exit_code == 0 and "400 media files" in result.stdout, result.output
    result = runner.invoke(app, ["doctor", str(project)])
    assert result.exit_code == 0 and "dataset matches" in result.stdout, result.output


def test_guarantees_list_every_case():
    text = DOCS.read_text().split("## Datasets and projects that changed", 1)[-1]
    names = [*DATASET_JSON, *TABLES, *EMBEDDINGS, *PROJECTS, *DOCTOR_ONLY]
    missing = [name for name in names if f"| {name} |" not in text]
    assert not missing, f"docs/guarantees.md lacks rows for {missing}"
