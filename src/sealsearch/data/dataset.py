"""An opened dataset directory: item metadata, splits, ground-truth concepts, queries' projection.

The layout is in the README; `DatasetWriter` (sealsearch.data.writer) is the only code that
creates one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sealsearch._util import did_you_mean
from sealsearch.data.embeddings import EmbeddingStore, normalise_rows
from sealsearch.data.projection import PROJECTION_FILE, Projection
from sealsearch.data.row_groups import RowGroupReader
from sealsearch.errors import InvalidDataError, MissingFileError, UnknownNameError

FORMAT_VERSION = 1
SPLITS = ("pool", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """The content of `dataset.json`."""

    name: str
    n: int
    dim: int
    dtype: str
    normalized: bool
    embedder: str
    format_version: int = FORMAT_VERSION
    projection: dict[str, Any] | None = None  # set by `import --pca` (see projection.py)
    media_root: str | None = None  # where items' `uri`s point (relative: to the dataset directory)
    embedder_weights: str | None = None  # the local checkpoint directory of a `needs_weights` embedder (CLIP)


class Dataset:
    """An opened dataset directory (see the README for the layout)."""

    def __init__(self, path: Path, info: DatasetInfo, embeddings: EmbeddingStore, projection: Projection | None = None):
        self.path = path
        self.info = info
        self.embeddings = embeddings
        self.projection = projection
        self._items: pd.DataFrame | None = None
        self._row_groups: RowGroupReader | None = None
        self._concept_rows: dict[str, np.ndarray] | None = None
        self._split_codes: np.ndarray | None = None
        self._split_rows: dict[str, np.ndarray] = {}

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> Dataset:
        """Open a dataset directory: shape and dtype are checked against dataset.json, and values
        (NaN/inf) once per version of embeddings.npy (see `EmbeddingStore.open`)."""
        path = Path(path)
        meta = path / "dataset.json"
        if not meta.is_file():
            raise MissingFileError(
                f"{meta}: not found; {path} is not a dataset directory (create one with `seals import` "
                "or `seals dataset wordnet`)"
            )
        try:
            raw = json.loads(meta.read_text())
            info = DatasetInfo(**raw)
        except (json.JSONDecodeError, TypeError) as exc:
            raise InvalidDataError(f"{meta}: unreadable dataset description ({exc})") from None
        store = EmbeddingStore.open(path / "embeddings.npy", verify=verify)
        if (store.n, store.dim) != (info.n, info.dim):
            raise InvalidDataError(
                f"{path / 'embeddings.npy'}: shape {(store.n, store.dim)} does not match dataset.json "
                f"(n={info.n}, dim={info.dim}); re-import the dataset"
            )
        if str(store.vectors.dtype) != str(info.dtype):
            raise InvalidDataError(
                f"{path / 'embeddings.npy'}: dtype {store.vectors.dtype} does not match dataset.json "
                f"(dtype={info.dtype}); re-import the dataset"
            )
        _check_items_file(path / "items.parquet", info.n)
        projection = None
        if info.projection is not None:
            projection = Projection.load(path / PROJECTION_FILE)
            if projection.dim != info.dim:
                raise InvalidDataError(
                    f"{path / PROJECTION_FILE}: projects to dimension {projection.dim} but dataset.json says "
                    f"{info.dim}; re-import the dataset"
                )
        return cls(path, info, store, projection)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors from the embedder (one, or m×d) as unit float32 vectors comparable with the rows.

        A dataset imported with --pca stores its rows after a PCA fitted on the source; a query
        embedded by the same model must go through that same map (then L2 normalisation) before
        any kNN search or dot product. Without a projection this only normalises.
        """
        vectors = np.asarray(vectors)
        batch = vectors[None] if vectors.ndim == 1 else vectors
        expected = self.info.dim if self.projection is None else self.projection.source_dim
        if batch.ndim != 2 or batch.shape[1] != expected:
            space = "its embedding dimension" if self.projection is None else "the embedder's dimension before --pca"
            raise InvalidDataError(
                f"query vectors of shape {vectors.shape} do not fit {self.path}: expected {expected} values per "
                f"vector ({space}); embed them with {self.info.embedder}"
            )
        if self.projection is not None:
            batch = self.projection.apply(batch)
        unit = normalise_rows(batch, 0, "query vectors")
        return unit[0] if vectors.ndim == 1 else unit

    @property
    def media_dir(self) -> Path | None:
        """The directory the items' `uri`s are relative to (absolute), or None when not recorded."""
        if self.info.media_root is None:
            return None
        root = Path(self.info.media_root)
        return (root if root.is_absolute() else self.path / root).resolve()

    def media_file(self, uri: str) -> Path:
        """The file an item's `uri` names, refused unless it lies under the media root (so a
        server handing out media never reads `../../secret`)."""
        root = self.media_dir
        if root is None:
            raise MissingFileError(f"{self.path / 'dataset.json'}: records no media_root; items' uris are not files")
        path = (root / uri).resolve()
        if not path.is_relative_to(root):
            raise InvalidDataError(f"uri {uri!r} points outside the media root {root}")
        if not path.is_file():
            raise MissingFileError(f"{path}: media file of uri {uri!r} not found")
        return path

    @property
    def index_dir(self) -> Path:
        return self.path / "index"

    @property
    def items(self) -> pd.DataFrame:
        """Item metadata; a minimal table (row, id, split='pool') when items.parquet is absent."""
        if self._items is None:
            file = self.path / "items.parquet"
            if file.is_file():
                self._items = pd.read_parquet(file)
            else:
                rows = np.arange(self.info.n, dtype=np.int64)
                self._items = pd.DataFrame({"row": rows, "id": rows.astype(str), "split": "pool"})
        return self._items

    def items_at(self, rows: np.ndarray, columns: tuple[str, ...] = ("id", "text")) -> pd.DataFrame:
        """The given columns (those present) of some items, in the order of `rows`.

        Reads only the parquet row groups holding those rows (items.parquet is written in row
        order), decoded once and kept within a byte budget (sealsearch.data.row_groups), so a
        few rows of a 10^7-item table cost a group the first time and a lookup after.
        """
        rows = np.asarray(rows, dtype=np.int64)
        file = self.path / "items.parquet"
        if self._items is not None or not file.is_file():
            table = self.items
            return table.iloc[rows][[c for c in columns if c in table.columns]].reset_index(drop=True)
        if self._row_groups is None:
            self._row_groups = RowGroupReader(file)
        return self._row_groups.take(rows, columns)

    def _split_of_row(self) -> np.ndarray:
        # One byte per row, computed once: comparing 10M strings costs about a second per call.
        # Read as a dictionary column when the item table is not loaded: its ids as Python
        # strings would take ~1 GB of memory at 10^7 items.
        if self._split_codes is None:
            file = self.path / "items.parquet"
            if self._items is None and file.is_file():
                import pyarrow.parquet as pq

                split = pq.read_table(file, columns=["split"], read_dictionary=["split"]).column(0)
                self._split_codes = np.concatenate(
                    [np.empty(0, dtype=np.int8)]
                    + [
                        (np.asarray(chunk.dictionary.to_pylist()) == "test").astype(np.int8)[chunk.indices.to_numpy()]
                        for chunk in split.chunks
                    ]
                )
            else:
                self._split_codes = (self.items["split"].to_numpy() == "test").astype(np.int8)
        return self._split_codes

    def split_rows(self, split: str) -> np.ndarray:
        """Sorted rows of one split ("pool" is what active learning draws from, "test" scores AP)."""
        if split not in SPLITS:
            raise UnknownNameError(f"split must be one of {SPLITS}, got {split!r}")
        if split not in self._split_rows:
            rows = np.flatnonzero(self._split_of_row() == SPLITS.index(split)).astype(np.int64)
            rows.flags.writeable = False  # shared by every caller
            self._split_rows[split] = rows
        return self._split_rows[split]

    def rows_in_split(self, rows: np.ndarray, split: str) -> np.ndarray:
        """The given rows that belong to the split, in O(len(rows)) whatever the dataset size."""
        if split not in SPLITS:
            raise UnknownNameError(f"split must be one of {SPLITS}, got {split!r}")
        rows = np.asarray(rows, dtype=np.int64)
        return rows[self._split_of_row()[rows] == SPLITS.index(split)]

    def _concepts(self) -> dict[str, np.ndarray]:
        if self._concept_rows is None:
            file = self.path / "concepts.parquet"
            if not file.is_file():
                raise MissingFileError(
                    f"{file}: not found; this dataset has no ground-truth concepts (import with --labels)"
                )
            table = _read_concepts(file, self.info.n)
            self._concept_rows = {
                str(name): np.sort(group.to_numpy(dtype=np.int64))
                for name, group in table.groupby("concept", sort=True)["row"]
            }
        return self._concept_rows

    def concept_names(self) -> list[str]:
        return list(self._concepts())

    def concept_counts(self) -> pd.DataFrame:
        """Positives of every concept per split: columns concept, pool, test."""
        split_of_row = self._split_of_row()
        names = self.concept_names()
        rows = [self._concepts()[name] for name in names]
        sizes = np.fromiter((r.size for r in rows), dtype=np.int64, count=len(rows))
        in_test = split_of_row[np.concatenate(rows)] == 1 if rows else np.empty(0, dtype=bool)
        test = np.add.reduceat(in_test, np.cumsum(sizes) - sizes) if rows else np.empty(0, dtype=np.int64)
        return pd.DataFrame({"concept": names, "pool": sizes - test, "test": test})

    def concept_rows(self, concept: str) -> np.ndarray:
        """All rows (every split) that belong to the concept."""
        concepts = self._concepts()
        if concept not in concepts:
            hint = did_you_mean(concept, concepts, n=3) or "; list them with `seals concepts DATASET`"
            raise UnknownNameError(f"unknown concept {concept!r} in {self.path / 'concepts.parquet'}{hint}")
        return concepts[concept]


def _check_items_file(file: Path, n: int) -> None:
    """items.parquet, when present, must be a readable Parquet table of exactly n rows (its
    footer only is read, so this costs nothing at 10^7 items)."""
    if not file.is_file():
        return
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(file).metadata.num_rows
    except Exception as exc:  # any: Arrow raises ArrowInvalid, OSError or others on a bad file
        raise InvalidDataError(
            f"{file}: not a readable Parquet table ({' '.join(str(exc).split())[:120]}); re-import the dataset"
        ) from None
    if rows != n:
        raise InvalidDataError(f"{file}: {rows} rows but the embeddings have {n}; re-import the dataset")


def _read_concepts(file: Path, n: int) -> pd.DataFrame:
    """concepts.parquet as (row, concept), refused unless every row is an integer in 0..n-1 (a
    negative row would otherwise silently wrap around to the end of the dataset)."""
    try:
        table = pd.read_parquet(file)
    except Exception as exc:  # any: Arrow raises ArrowInvalid, OSError or others on a bad file
        raise InvalidDataError(
            f"{file}: not a readable Parquet table ({' '.join(str(exc).split())[:120]}); re-import the dataset"
        ) from None
    missing = {"row", "concept"} - set(table.columns)
    if missing:
        raise InvalidDataError(f"{file}: missing column(s) {sorted(missing)}; it needs columns row, concept")
    if not pd.api.types.is_integer_dtype(table["row"]):
        raise InvalidDataError(
            f"{file}: column row must hold integers, got {table['row'].dtype}; re-import the dataset"
        )
    bad = table["row"][(table["row"] < 0) | (table["row"] >= n)]
    if len(bad):
        raise InvalidDataError(
            f"{file}: row {int(bad.iloc[0])} is outside 0..{n - 1} (the dataset has {n} items); "
            "fix or drop that row, or re-import the dataset"
        )
    return table
