"""The dataset fingerprint a project records at `init` and checks at every open (and `seals
doctor` checks again): a changed dataset under a project is refused, never labeled blindly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sealsearch.data.dataset import Dataset
from sealsearch.data.embeddings import fingerprint_rows, sampled_digest
from sealsearch.errors import InvalidDataError

PROJECT_FILE = "project.sqlite"


def fingerprint(dataset: Dataset) -> dict[str, Any]:
    """n, dim and a sha256 over a seeded sample of vector rows and their ids: cheap at 10^7 rows,
    and any re-embedding, re-ordering or re-import changes it."""
    digest = sampled_digest(dataset.embeddings)  # the rows' vectors ...
    ids = dataset.items_at(fingerprint_rows(dataset.info.n), ("id",))["id"]
    digest.update("\n".join(map(str, ids)).encode())  # ... and their ids
    return {"n": dataset.info.n, "dim": dataset.info.dim, "sha256": digest.hexdigest()}


def parse_fingerprint(text: str, file: Path) -> dict[str, Any]:
    """The dataset fingerprint a project's meta records, refused with one line when malformed."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    valid = (
        isinstance(value, dict)
        and set(value) == {"n", "dim", "sha256"}
        and all(isinstance(value[key], int) and not isinstance(value[key], bool) for key in ("n", "dim"))
        and isinstance(value["sha256"], str)
        and len(value["sha256"]) == 64
    )
    if not valid:
        raise InvalidDataError(
            f"{file}: meta 'fingerprint' is malformed ({str(text)[:40]!r}; expected JSON with n, dim and a sha256); "
            "restore the project from a backup"
        )
    return value


def check_project_meta(meta: dict[str, str], file: Path) -> None:
    """Refuse a project whose meta lacks a key `init` writes, or records a malformed fingerprint."""
    if not {"dataset", "fingerprint", "knn", "factory"} <= meta.keys():
        raise InvalidDataError(
            f"{file}: records no dataset (an interrupted `seals project init`?); remove it and run "
            "`seals project init` again"
        )
    parse_fingerprint(meta["fingerprint"], file)


def check_dataset_matches(meta: dict[str, str], dataset: Dataset, path: Path) -> None:
    """Refuse a dataset whose fingerprint differs from the one project `path` recorded in `meta`."""
    recorded, current = parse_fingerprint(meta["fingerprint"], path / PROJECT_FILE), fingerprint(dataset)
    if recorded != current:
        raise InvalidDataError(
            f"{meta['dataset']}: this dataset does not match project {path} (recorded n={recorded['n']}, "
            f"dim={recorded['dim']}, sha256 {recorded['sha256'][:12]}; now n={current['n']}, dim={current['dim']}, "
            f"sha256 {current['sha256'][:12]}); open the project with the dataset it was created on"
        )
