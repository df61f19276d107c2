"""Bring your own embeddings: `.npy` or Parquet vectors plus optional item and label tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress
from sealsearch.data.dataset import Dataset
from sealsearch.data.embeddings import check_matrix_shape
from sealsearch.data.projection import PCA_SAMPLE_ROWS, check_pca_parameters, fit_projection
from sealsearch.data.writer import DatasetWriter, write_dataset
from sealsearch.errors import InvalidDataError, MissingFileError


def read_embedding_source(path: str | Path) -> np.ndarray:
    """An N×d matrix from `.npy` (memory-mapped, never copied whole) or `.parquet`.

    A parquet file holds either one list/array column (one vector per row) or d numeric columns.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: embeddings file not found")
    if path.suffix == ".npy":
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise InvalidDataError(f"{path}: not a readable .npy matrix ({exc})") from None
    if path.suffix != ".parquet":
        raise InvalidDataError(f"{path}: embeddings must be a .npy or .parquet file")
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    kind = table.schema.field(0).type if table.num_columns == 1 else None
    if kind is not None and (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    ):
        column = table.column(0).combine_chunks()
        if column.null_count:
            first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise InvalidDataError(f"{path}: row {first} has no vector (null); drop it or fill it")
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        if lengths.size and (lengths != lengths[0]).any():
            first = int(np.flatnonzero(lengths != lengths[0])[0])
            raise InvalidDataError(
                f"{path}: row {first} has {lengths[first]} values but row 0 has {lengths[0]}; "
                "every vector needs the same dimension"
            )
        return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)
    frame = table.to_pandas()
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise InvalidDataError(
            f"{path}: column {non_numeric[0]!r} is not numeric; give one vector column or only numeric columns"
        )
    return frame.to_numpy()


def _read_table(path: str | Path | None, what: str) -> pd.DataFrame | None:
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: {what} file not found")
    return pd.read_parquet(path)


def import_dataset(
    out: str | Path,
    embeddings: str | Path,
    *,
    items: str | Path | None = None,
    labels: str | Path | None = None,
    name: str | None = None,
    embedder: str = "imported",
    dtype: str | None = None,
    pca: int | None = None,
    whiten: bool = False,
    pca_sample: int = PCA_SAMPLE_ROWS,
    pca_seed: int = 0,
    progress: Progress | None = None,
    fit_progress: Progress | None = None,
) -> Dataset:
    """Bring your own embeddings: validate every input first, then write the dataset directory.

    With `pca`, rows are reduced to `pca` dimensions (optionally whitened) by a PCA fitted on
    `pca_sample` seeded random rows, then L2-normalised; the map is stored with the dataset
    (see `Dataset.project`).
    """
    matrix = read_embedding_source(embeddings)
    items_table = _read_table(items, "items")
    labels_table = _read_table(labels, "labels")
    check_matrix_shape(matrix, str(embeddings))
    n, dim = (int(s) for s in matrix.shape)
    check_pca_parameters(pca, whiten=whiten, sample_size=pca_sample, n=n, dim=dim, label=str(embeddings))
    if pca is None:
        return write_dataset(
            out, matrix, name=name, embedder=embedder, items=items_table, concepts=labels_table,
            dtype=dtype, source_label=str(embeddings), progress=progress,
        )  # fmt: skip
    with DatasetWriter(
        out, n, pca, name=name, embedder=embedder, items=items_table, concepts=labels_table,
        dtype=dtype or ("float16" if matrix.dtype == np.float16 else "float32"),
        source_label=f"{embeddings} after --pca {pca}",
    ) as writer:  # fmt: skip
        projection = fit_projection(
            matrix, pca, whiten=whiten, sample_size=pca_sample, seed=pca_seed, label=str(embeddings),
            progress=fit_progress,
        )  # fmt: skip
        for block in projection.apply_in_chunks(matrix):
            writer.append(block)
            if progress:
                progress(writer.written, n)
        return writer.finish(projection)
