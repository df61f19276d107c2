"""`seals doctor`'s dataset checks: the checks a dataset passes when it is opened, plus the full scans.

Each check calls the same function the open path calls (`read_info`, `Dataset.open`,
`check_embedding_matrix`, `Dataset.id_map`, `Dataset.split_rows`, `Dataset.concept_names`,
`codes_fresh`), so the doctor and the commands cannot disagree; a failure is the same one-line
message a command would print, shown as a `Finding`. The checks a command skips on open because
they read every value (the value scan once its result is cached, duplicate ids, media files) are
always run here. The index layer's checks are in `sealsearch.index.freshness`; a project's, and
the composition of all three, in `sealsearch.sessions.doctor`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from sealsearch._util import Progress
from sealsearch.data.codes import codes_fresh, codes_paths
from sealsearch.data.dataset import Dataset
from sealsearch.data.embeddings import SCANS, check_embedding_matrix, record_check
from sealsearch.data.findings import SKIP, WARN, Finding, finding
from sealsearch.data.info import read_info
from sealsearch.data.row_groups import ITEM_GROUP_ROWS, largest_group
from sealsearch.errors import MissingFileError, SealsearchError


def dataset_findings(path: Path, progress: Progress | None = None) -> tuple[list[Finding], Dataset | None]:
    """Every check of the dataset at `path`, and the dataset when it opens (for later checks)."""
    path = Path(path)
    findings = [finding("dataset.json", lambda: _describe_info(path))]
    opened: list[Dataset] = []
    findings.append(finding("files", lambda: _open(path, opened)))
    if not opened:
        return findings, None
    dataset = opened[0]
    findings += [
        finding("embedding values", lambda: _scan(dataset, progress)),
        finding("item ids", lambda: _describe_ids(dataset, progress)),
        finding("item row groups", lambda: _check_row_groups(dataset)),
        finding("splits", lambda: _describe_splits(dataset)),
        finding("concepts", lambda: _describe_concepts(dataset)),
        finding("media", lambda: _check_media(dataset, progress)),
        finding("SQ8 codes", lambda: _check_codes(dataset)),
    ]
    return findings, dataset


def _describe_info(path: Path) -> str:
    info = read_info(path / "dataset.json")
    return f"format {info.format_version}: {info.n:,} x {info.dim} {info.dtype}, embedder {info.embedder}"


def _open(path: Path, opened: list[Dataset]) -> str:
    opened.append(Dataset.open(path, verify=False))  # the values are scanned in full next
    return "embeddings.npy fits dataset.json; items.parquet readable, with id and split"


def _describe_ids(dataset: Dataset, progress: Progress | None) -> str:
    """Duplicated ids are found where the id map is built (then saved, tied to items.parquet's
    size and mtime, so an edited table is checked again)."""
    id_map = dataset.id_map(progress, save=False)  # the doctor writes nothing
    if id_map is None:
        return f"{dataset.info.n:,} ids (row numbers: no items.parquet)"
    return f"{len(id_map):,} ids, each once"


def _check_row_groups(dataset: Dataset) -> str | Finding:
    """Row groups larger than the writer's (datasets written before 2026-12-06): each item of a
    labeling batch then decodes its whole group (23 ms for 2^20 rows, 2.5 ms for 2^16)."""
    file = dataset.path / "items.parquet"
    if not file.is_file():
        return Finding("item row groups", SKIP, "no items.parquet")
    largest = largest_group(file)
    if largest > ITEM_GROUP_ROWS:
        return Finding(
            "item row groups", WARN, f"{file}: row groups of up to {largest:,} rows: each item a labeler is shown "
            f"decodes a whole group", f"seals dataset regroup {dataset.path} (groups of {ITEM_GROUP_ROWS:,} rows)",
        )  # fmt: skip
    return f"at most {largest:,} rows a group"


def _scan(dataset: Dataset, progress: Progress | None) -> str:
    file = dataset.path / "embeddings.npy"
    unit = dataset.info.normalized
    check_embedding_matrix(dataset.embeddings.vectors, str(file), progress, unit=unit)
    record_check(file, SCANS + ("unit",) if unit else SCANS)
    return "no NaN/inf or zero rows" + (", every row unit length" if unit else "")


def _describe_splits(dataset: Dataset) -> str:
    return f"pool {dataset.split_rows('pool').size:,}, test {dataset.split_rows('test').size:,}"


def _describe_concepts(dataset: Dataset) -> str | Finding:
    try:
        counts = dataset.concept_counts()  # what `seals concepts` lists
    except MissingFileError:
        return Finding("concepts", SKIP, "no concepts.parquet (no ground truth: simulations need one)")
    return f"{len(counts):,} concepts, no duplicate rows"


def _check_media(dataset: Dataset, progress: Progress | None) -> str | Finding:
    """Every item's uri through `Dataset.media_file`, the function `seals serve` answers /media with."""
    root = dataset.media_dir
    if root is None:
        return Finding("media", SKIP, "dataset.json records no media_root")
    if not root.is_dir():
        raise MissingFileError(f"media_root {root} is not a directory; put the media back, or fix dataset.json")
    file = dataset.path / "items.parquet"
    if not file.is_file() or "uri" not in pq.ParquetFile(file).schema_arrow.names:
        return Finding("media", WARN, f"media_root {root}, but items.parquet has no uri column", "re-import with uris")
    uris = pd.read_parquet(file, columns=["uri"])["uri"].tolist()  # one column: not the items' texts
    bad: list[tuple[int, str]] = []
    for row, uri in enumerate(uris):
        try:
            if uri is not None:  # an item without a uri has no media file to miss
                dataset.media_file(str(uri))
        except SealsearchError as exc:
            bad.append((row, str(exc)))
        if progress and row % 10_000 == 0:
            progress(row, len(uris))
    if bad:
        row, reason = bad[0]
        raise MissingFileError(
            f"{len(bad):,} of {len(uris):,} media files missing or outside {root} (first: row {row}: {reason}); "
            "put them back, or fix media_root in dataset.json"
        )
    return f"{len(uris):,} media files under {root}"


def _check_codes(dataset: Dataset) -> str | Finding:
    file = dataset.path / "embeddings.npy"
    if not codes_paths(file)[0].is_file():
        return Finding("SQ8 codes", SKIP, "none built")
    if not codes_fresh(dataset.embeddings, file):
        return Finding(
            "SQ8 codes", WARN, f"{codes_paths(file)[0]}: built from other embeddings (or before they recorded them)",
            "they are rebuilt on next use (Sq8Codes.open_or_build)",
        )  # fmt: skip
    return "built from the current embeddings"
