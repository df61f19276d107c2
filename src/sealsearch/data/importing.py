"""Bring your own embeddings: `import_dataset` for one matrix plus optional item and label tables,
`import_from` for what embedding tools export (tables with id/text/vector columns, Parquet or .npy
shards, clip-retrieval folders; see sealsearch.data.sources), streamed shard by shard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress
from sealsearch.data.dataset import Dataset
from sealsearch.data.embeddings import check_matrix_shape
from sealsearch.data.projection import PCA_SAMPLE_ROWS, check_pca_parameters, fit_projection
from sealsearch.data.sources import ROW_IDS, iter_blocks, open_source
from sealsearch.data.writer import DatasetWriter, write_dataset
from sealsearch.embedders import declare_embedder
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError


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
        except (ValueError, EOFError, OSError) as exc:  # a zero-byte file raises EOFError
            reason = "empty file" if path.stat().st_size == 0 else str(exc)
            raise InvalidDataError(f"{path}: not a readable .npy matrix ({reason})") from None
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
            f"{path}: column {non_numeric[0]!r} is not numeric; give one vector column or only numeric columns, "
            f"or import a table with id/text/vector columns by `seals import OUT --from {path}`"
        )
    return frame.to_numpy()


def _read_table(path: str | Path | None, what: str) -> pd.DataFrame | None:
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: {what} file not found")
    return pd.read_parquet(path)


def _media_root(media_root: str | Path | None, has_uris: bool) -> str | None:
    """The absolute media directory recorded in dataset.json (items' uris are relative to it)."""
    if media_root is None:
        return None
    if not Path(media_root).is_dir():
        raise MissingFileError(f"media_root {media_root}: not a directory", params=["media_root"])
    if not has_uris:
        raise InvalidParameterError(
            f"media_root {media_root}: the items have no uri column to resolve under it", params=["media_root"]
        )
    return str(Path(media_root).resolve())


def import_dataset(
    out: str | Path,
    embeddings: str | Path,
    *,
    items: str | Path | None = None,
    labels: str | Path | None = None,
    name: str | None = None,
    embedder: str | None = None,
    dtype: str | None = None,
    pca: int | None = None,
    whiten: bool = False,
    pca_sample: int = PCA_SAMPLE_ROWS,
    pca_seed: int = 0,
    progress: Progress | None = None,
    fit_progress: Progress | None = None,
    media_root: str | Path | None = None,
    weights: str | Path | None = None,
) -> Dataset:
    """Bring your own embeddings: validate every input first, then write the dataset directory.

    `embedder` names the model that made the vectors (a registry name or alias; None: "unknown",
    not text-queryable) and `weights` its checkpoint directory where it needs one (CLIP); both are
    checked against the vectors' size and recorded in dataset.json, so text queries use that model.

    With `pca`, rows are reduced to `pca` dimensions (optionally whitened) by a PCA fitted on
    `pca_sample` seeded random rows, then L2-normalised; the map is stored with the dataset
    (see `Dataset.project`).
    """
    matrix = read_embedding_source(embeddings)
    root = _media_root(media_root, items is not None)
    items_table = _read_table(items, "items")
    labels_table = _read_table(labels, "labels")
    check_matrix_shape(matrix, str(embeddings))
    n, dim = (int(s) for s in matrix.shape)
    check_pca_parameters(pca, whiten=whiten, sample_size=pca_sample, n=n, dim=dim, label=str(embeddings))
    embedder, weights = declare_embedder(embedder, weights, dim, str(embeddings))
    if pca is None:
        return write_dataset(
            out, matrix, name=name, embedder=embedder, items=items_table, concepts=labels_table,
            dtype=dtype, source_label=str(embeddings), progress=progress, media_root=root, embedder_weights=weights,
        )  # fmt: skip
    with DatasetWriter(
        out, n, pca, name=name, embedder=embedder, embedder_weights=weights, items=items_table, concepts=labels_table,
        dtype=dtype or ("float16" if matrix.dtype == np.float16 else "float32"),
        source_label=f"{embeddings} after --pca {pca}", media_root=root,
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


def concept_pairs(column, first_row: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, concept) pairs of a label column holding one concept name or a list of them per item."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        rows, names = pc.list_parent_indices(column).to_numpy(), pc.list_flatten(column)
    else:
        rows, names = np.arange(len(column)), column
    names = pc.cast(names, pa.string())
    keep = pc.and_(pc.is_valid(names), pc.not_equal(pc.fill_null(names, ""), "")).to_numpy(zero_copy_only=False)
    return first_row + rows[keep], names.filter(pa.array(keep)).to_numpy(zero_copy_only=False)


def import_from(
    out: str | Path,
    path: str | Path,
    *,
    metadata: str | Path | None = None,
    modality: str | None = None,
    columns: dict[str, str | None] | None = None,
    row_ids: bool = False,
    name: str | None = None,
    embedder: str | None = None,
    dtype: str | None = None,
    media_root: str | Path | None = None,
    progress: Progress | None = None,
    weights: str | Path | None = None,
) -> Dataset:
    """Import a Parquet table or shards, a clip-retrieval folder, or .npy shards (see `open_source`).

    Shards are read one at a time, batch by batch, and streamed into the dataset: vectors through
    `DatasetWriter.append`, items (id, text, uri, split) and concepts (from a label column) into
    Parquet writers, so memory is bounded by a batch whatever the total. float16 vectors stay
    float16 unless `dtype` says otherwise. `embedder` and `weights` as in `import_dataset`.
    """
    overrides = dict(columns or {})
    if row_ids:
        overrides["id"] = ROW_IDS
    source = open_source(path, metadata=metadata, modality=modality, overrides=overrides)
    root = _media_root(media_root, source.columns.get("uri") is not None)
    embedder, weights = declare_embedder(embedder, weights, source.dim, str(path))
    starts = np.cumsum([0] + [s.rows for s in source.shards])
    labels = [s.label for s in source.shards]

    def locate(row: int) -> str:
        shard = int(np.searchsorted(starts, row, side="right")) - 1
        return f"{labels[shard]} row {row - starts[shard]}"

    with DatasetWriter(
        out, source.n, source.dim, name=name, embedder=embedder, dtype=dtype or str(source.dtype),
        source_label=str(path), media_root=root, embedder_weights=weights,
    ) as writer:  # fmt: skip
        for label, first, block, meta in iter_blocks(source):
            row = writer.written
            writer.append(block, where=(label, first))
            if meta is not None:
                item_roles = [c for c in ("id", "text", "uri", "split") if c in meta.column_names]
                if item_roles:
                    writer.append_items(meta.select(item_roles).to_pandas(), (label, first))
                if "label" in meta.column_names:
                    writer.append_concepts(*concept_pairs(meta.column("label"), row))
            if progress:
                progress(writer.written, source.n)
        return writer.finish(locate=locate)
