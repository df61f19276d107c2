"""An opened dataset directory: item metadata, splits, ground-truth concepts, queries' projection.

The layout is in the README; `DatasetWriter` (sealsearch.data.writer) is the only code that
creates one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress, did_you_mean
from sealsearch.data.embeddings import EmbeddingStore, normalise_rows, verify_values
from sealsearch.data.id_map import IdMap
from sealsearch.data.info import FORMAT_VERSION, DatasetInfo, read_info  # noqa: F401 - FORMAT_VERSION re-exported
from sealsearch.data.projection import PROJECTION_FILE, Projection
from sealsearch.data.row_groups import RowGroupReader
from sealsearch.errors import InvalidDataError, MissingFileError, UnknownNameError

SPLITS = ("pool", "test")
ITEM_COLUMNS = ("id", "split")  # read by labels (ids) and every split; `DatasetWriter` always writes both


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
        self._id_map: IdMap | None = None

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> Dataset:
        """Open a dataset directory: dataset.json's fields (`sealsearch.data.info`), the shape and
        dtype of embeddings.npy against it, its values (NaN/inf, zero rows, and unit length when
        it says `normalized`) once per version of the file (see `EmbeddingStore.open`), and the
        columns of items.parquet."""
        path = Path(path)
        meta = path / "dataset.json"
        if not meta.is_file():
            raise MissingFileError(
                f"{meta}: not found; {path} is not a dataset directory (create one with `seals import` "
                "or `seals dataset wordnet`)"
            )
        info = read_info(meta)
        store = EmbeddingStore.open(path / "embeddings.npy", verify=False)  # shape first: it costs nothing
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
        if verify:
            verify_values(path / "embeddings.npy", store.vectors, unit=info.normalized)
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
                items = pd.read_parquet(file)
                check_unique_ids(pd.Index(items["id"].astype(str)), file)
                self._items = items
            else:
                rows = np.arange(self.info.n, dtype=np.int64)
                self._items = pd.DataFrame({"row": rows, "id": rows.astype(str), "split": "pool"})
        return self._items

    def item_ids(self) -> pd.Index:
        """Every item's id (str) by row, checked unique: the id -> row lookup of labels. Only the
        id column is read."""
        file = self.path / "items.parquet"
        if self._items is not None or not file.is_file():
            return pd.Index(self.items["id"].astype(str))
        ids = pd.Index(pd.read_parquet(file, columns=["id"])["id"].astype(str))
        check_unique_ids(ids, file)
        return ids

    def id_map(self, progress: Progress | None = None, save: bool = True) -> IdMap | None:
        """The id -> row map of items.parquet (`sealsearch.data.id_map`), opened or built (and
        saved unless `save` is False) once; None when the dataset has no items.parquet (its ids
        are the row numbers)."""
        file = self.path / "items.parquet"
        if self._id_map is None and file.is_file():
            ids_at = lambda rows: self.items_at(rows, ("id",))["id"].astype(str).to_numpy()  # noqa: E731
            self._id_map = IdMap.open(file, ids_at, progress, save)
        return self._id_map

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each item id (int64), -1 where no item has that id; at any dataset size,
        without the ids in memory (`sealsearch.data.id_map`)."""
        id_map = self.id_map()
        if id_map is not None:
            return id_map.rows_of(ids)
        asked = [str(i) for i in ids]  # no items.parquet: the id of row r is str(r)
        rows = np.array([int(i) if i.isdecimal() and str(int(i)) == i else -1 for i in asked], dtype=np.int64)
        rows[rows >= self.info.n] = -1
        return rows

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
                for chunk in split.chunks:  # the distinct names only: a few strings per chunk
                    check_splits(chunk.dictionary.to_pylist(), file)
                self._split_codes = np.concatenate(
                    [np.empty(0, dtype=np.int8)]
                    + [
                        (np.asarray(chunk.dictionary.to_pylist()) == "test").astype(np.int8)[chunk.indices.to_numpy()]
                        for chunk in split.chunks
                    ]
                )
            else:
                split = self.items["split"]
                check_splits(split.unique().tolist(), file)
                self._split_codes = (split.to_numpy() == "test").astype(np.int8)
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
                    f"{file}: not found; this dataset has no ground-truth concepts (import with labels)",
                    params=["labels"],
                )
            table = _read_concepts(file, self.info.n)
            rows = {
                str(name): np.sort(group.to_numpy(dtype=np.int64))
                for name, group in table.groupby("concept", sort=False, observed=True)["row"]
            }
            self._concept_rows = dict(sorted(rows.items()))  # by name (categories keep file order)
        return self._concept_rows

    def concept_names(self) -> list[str]:
        return list(self._concepts())

    def concept_counts(self) -> pd.DataFrame:
        """Positives of every concept per split: columns concept, pool, test (refused when there are none)."""
        split_of_row = self._split_of_row()
        names = self.concept_names()
        if not names:  # a one-line refusal, not an empty DataFrame printed as if it were a table
            file = self.path / "concepts.parquet"
            raise InvalidDataError(f"{file}: holds no concepts (0 rows); re-import with labels", params=["labels"])
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
    """items.parquet, when present, must be a readable Parquet table of exactly n rows with the
    columns every reader needs (id, split); its footer only is read, so this costs
    nothing at 10^7 items. Values (duplicate ids, split names) are checked where they are read."""
    if not file.is_file():
        return
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(file).metadata
        columns = set(metadata.schema.names)
    except Exception as exc:  # any: Arrow raises ArrowInvalid, OSError or others on a bad file
        raise InvalidDataError(
            f"{file}: not a readable Parquet table ({' '.join(str(exc).split())[:120]}); re-import the dataset"
        ) from None
    if metadata.num_rows != n:
        raise InvalidDataError(f"{file}: {metadata.num_rows} rows but the embeddings have {n}; re-import the dataset")
    missing = [column for column in ITEM_COLUMNS if column not in columns]
    if missing:
        raise InvalidDataError(
            f"{file}: has no column {missing[0]!r} (an import always writes row, {', '.join(ITEM_COLUMNS)}); "
            "re-import the dataset"
        )


def check_splits(values: list[object], file: Path) -> None:
    """Refuse split names other than pool/test (a typo would silently move items out of both)."""
    unknown = sorted({str(value) for value in values} - set(SPLITS))
    if unknown:
        raise InvalidDataError(
            f"{file}: column 'split' holds {unknown[0]!r}, but a split is 'pool' or 'test'; fix it, or re-import"
        )


def check_unique_ids(ids: pd.Index, file: Path) -> None:
    """Refuse a duplicated item id (labels address items by id: two rows of one id are ambiguous)."""
    if not ids.is_unique:
        duplicated = ids.duplicated(keep=False)
        first, second = np.flatnonzero(duplicated & (ids == ids[np.argmax(duplicated)]))[:2]
        raise InvalidDataError(
            f"{file}: id {ids[first]!r} appears twice (row {first} and row {second}); ids must be unique: "
            "fix the table, or re-import the dataset"
        )


def _read_concepts(file: Path, n: int) -> pd.DataFrame:
    """concepts.parquet as (row, concept), refused unless every row is an integer in 0..n-1 (a
    negative row would otherwise silently wrap around to the end of the dataset), no (row,
    concept) pair appears twice (an import writes each once; a doubled pair doubles a concept's
    positives and halves its recall)."""
    import pyarrow.parquet as pq

    try:  # concept names as a categorical: ~10 bytes a row, not a Python string each (10^7 rows at 10^8 items)
        table = pq.read_table(file, read_dictionary=["concept"]).to_pandas()
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
    twice = table.duplicated(["row", "concept"])
    if twice.any():
        row, concept = table[twice].iloc[0][["row", "concept"]]
        count = int(((table["row"] == row) & (table["concept"] == concept)).sum())
        raise InvalidDataError(
            f"{file}: row {int(row)} of concept {str(concept)!r} appears {count} times ({int(twice.sum())} duplicate "
            "rows in all); drop the duplicates (pandas drop_duplicates), or re-import the dataset"
        )
    return table
