"""`seals doctor DATASET|PROJECT`: every check a dataset or project passes, as one table.

A project is checked by reading it (SELECTs and `PRAGMA quick_check` only: nothing is migrated
or written), then its dataset; a dataset is checked, then every index and kNN graph saved under it.
Each check is the function the commands call when they open the same file (see
`sealsearch.data.checks`), so the doctor says exactly what a command would refuse, and adds the
scans too costly for every open (all values, all ids, all media files).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sealsearch._util import Progress
from sealsearch.data.checks import dataset_findings
from sealsearch.data.dataset import Dataset
from sealsearch.data.findings import OK, SKIP, WARN, Finding, finding
from sealsearch.errors import InvalidDataError, MissingFileError, SealsearchError
from sealsearch.index.checks import index_findings
from sealsearch.sessions.fingerprint import PROJECT_FILE, check_dataset_matches, check_project_meta
from sealsearch.sessions.labelstore import check_ours
from sealsearch.sessions.schema import MIGRATIONS, check_version, storage_error


def doctor(path: str | Path, progress: Progress | None = None) -> list[Finding]:
    """The findings for a dataset directory or a project directory (`Finding.status` "fail" for
    what a command would refuse or answer wrongly); `progress(done, total)` follows the long scans."""
    path = Path(path)
    if (path / PROJECT_FILE).exists():
        return project_findings(path, progress)
    if (path / "dataset.json").exists() or (path / "embeddings.npy").exists():
        return dataset_and_indexes(path, progress)
    raise MissingFileError(
        f"{path}: neither a dataset (no dataset.json) nor a project (no {PROJECT_FILE}); pass a directory "
        "written by `seals import` or `seals project init`"
    )


def dataset_and_indexes(path: Path, progress: Progress | None = None) -> list[Finding]:
    """The dataset's findings, then its indexes' and graphs' (when the pool split can be read)."""
    findings, dataset = dataset_findings(path, progress)
    if dataset is None:
        return findings
    try:
        pool = dataset.split_rows("pool")
    except SealsearchError:  # already a failed "splits" finding
        return findings
    return findings + index_findings(dataset.index_dir, dataset.embeddings, pool, str(path))


def project_findings(path: Path, progress: Progress | None = None) -> list[Finding]:
    """The project database (read-only), its meta, then its dataset and whether it still matches."""
    file = path / PROJECT_FILE
    meta: dict[str, str] = {}
    findings = [finding(PROJECT_FILE, lambda: _inspect(file, meta))]
    if not meta:
        return findings
    findings.append(finding("project meta", lambda: _check_meta(file, meta)))
    if not isinstance(meta.get("dataset"), str):
        return findings
    dataset_path = Path(meta["dataset"])
    findings += dataset_and_indexes(dataset_path, progress)
    if any(f.check == "files" and f.status != OK for f in findings):  # the dataset does not open
        return findings + [Finding("dataset matches", SKIP, "not compared: the dataset does not open")]

    def matches() -> str:
        check_dataset_matches(meta, Dataset.open(dataset_path, verify=False), path)
        return f"{dataset_path} is the dataset the project was created on (fingerprint equal)"

    return findings + [finding("dataset matches", matches)]


def _inspect(file: Path, meta: dict[str, str]) -> str | Finding:
    """Schema version, integrity and meta of the project database, read without writing."""
    try:  # SELECTs only, on a normal connection: a read-only one would leave -wal/-shm files behind
        db = sqlite3.connect(file, timeout=5)
    except sqlite3.Error as exc:
        raise storage_error(file, exc) from None
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        check_ours(file, tables, create=False)
        version = db.execute("SELECT MAX(version) FROM migrations").fetchone()[0] or 0
        check_version(file, version)
        integrity = db.execute("PRAGMA quick_check").fetchone()[0]
        if integrity != "ok":
            raise InvalidDataError(f"{file}: damaged ({integrity}); restore it from a backup")
        if "meta" in tables:
            meta.update(dict(db.execute("SELECT key, value FROM meta").fetchall()))
    except sqlite3.Error as exc:
        raise storage_error(file, exc) from None
    finally:
        db.close()
    if version < len(MIGRATIONS):
        found = f"schema version {version} of {len(MIGRATIONS)}, integrity ok"
        return Finding(PROJECT_FILE, WARN, found, "upgraded in place when a command opens it")
    return f"schema version {version}, integrity ok"


def _check_meta(file: Path, meta: dict[str, str]) -> str:
    check_project_meta(meta, file)
    return f"dataset {meta['dataset']}, index {meta['factory']}, kNN source {meta['knn']}"
