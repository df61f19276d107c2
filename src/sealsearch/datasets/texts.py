"""`seals embed`: a user's own texts (CSV, JSON Lines, Parquet) embedded into a dataset.

The embedder's registry name is recorded in dataset.json, so text queries against the dataset go
through the same model (`sealsearch.embedders.query_embedder`). Embedding is the slow part
(minutes per 100k texts with MiniLM on 2 cores), so it runs chunk by chunk through
`sealsearch.datasets.embedding.embed_into`: finished chunks are checkpointed (a rerun embeds only
what is missing) and the chunks run in this process or, with `executor="ray"`, as Ray Data
batches. The checkpoints are removed once the dataset is written.

The table itself is read whole (texts, ids and splits, not vectors): a million product
descriptions take a few hundred MB; the vectors are embedded and written chunk by chunk.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress
from sealsearch.data.dataset import Dataset
from sealsearch.data.importing import concept_pairs
from sealsearch.data.sources import ROLE_NAMES
from sealsearch.data.writer import DatasetWriter
from sealsearch.datasets.embedding import CHUNK_TEXTS, check_executor, checkpoint_dir, embed_into
from sealsearch.embedders import loaded_embedder
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError


def read_text_table(path: Path) -> pd.DataFrame:
    """A .csv, .jsonl (or .ndjson) or .parquet table, with every column as read."""
    if not path.is_file():
        raise MissingFileError(f"{path}: texts file not found")
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        if path.suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InvalidDataError(f"{path}: not a readable {path.suffix[1:]} table ({exc})") from None
    raise InvalidParameterError(f"{path}: texts must be a .csv, .jsonl or .parquet file")


def table_column(frame: pd.DataFrame, given: str | None, role: str, path: Path) -> str | None:
    """The column playing `role` (ROLE_NAMES) in a table read from `path`: `given` (checked), else by name."""
    if given is not None:
        if given not in frame.columns:
            raise InvalidParameterError(
                f"{path}: no column {given!r} for --{role}-column; columns: {list(frame.columns)}"
            )
        return given
    lower = {str(c).lower(): c for c in frame.columns}
    return next((lower[n] for n in ROLE_NAMES[role] if n in lower), None)


def label_concepts(frame: pd.DataFrame, label_column: str | None, path: Path) -> pd.DataFrame | None:
    """concepts.parquet's (row, concept) pairs from `--label-column` (one name or a list per row)."""
    label = table_column(frame, label_column, "label", path) if label_column else None
    if label is None:
        return None
    import pyarrow as pa

    rows, names = concept_pairs(pa.array(frame[label].tolist()), 0)
    return pd.DataFrame({"row": rows, "concept": names})


def embed_text_table(
    out: str | Path,
    path: str | Path,
    *,
    text_column: str | None = None,
    id_column: str | None = None,
    split_column: str | None = None,
    label_column: str | None = None,
    embedder: str = "glove",
    weights: str | Path | None = None,
    name: str | None = None,
    chunk_texts: int = CHUNK_TEXTS,
    executor: str = "local",
    address: str | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Embed the texts of a table into a new dataset (see the module docstring).

    Items keep the table's ids (or row numbers), texts and splits; a label column becomes
    concepts.parquet. Tables are checked (texts present, ids unique) before any text is embedded.
    `executor` "ray" embeds the chunks with Ray Data (a local Ray, or the cluster at `address`).
    """
    path, out = Path(path), Path(out)
    check_executor(executor, address)
    frame = read_text_table(path)
    text = table_column(frame, text_column, "text", path)
    if text is None:
        raise InvalidDataError(
            f"{path}: no text column among {list(frame.columns)}; name it with text_column", params=["text_column"]
        )
    texts = frame[text]
    empty = texts.isna().to_numpy() | (texts.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        raise InvalidDataError(f"{path}: row {int(np.argmax(empty))} has no text in {text!r}; fill or drop it")
    texts = texts.astype(str).tolist()
    items = pd.DataFrame({"text": texts})
    ident = table_column(frame, id_column, "id", path)
    if ident is not None:
        items["id"] = frame[ident].to_numpy()
    split = table_column(frame, split_column, "split", path)
    if split is not None:
        items["split"] = frame[split].to_numpy()
    concepts = label_concepts(frame, label_column, path)
    entry, model = loaded_embedder(embedder, weights, "text")
    weights = getattr(model, "weights", None)
    weights = None if weights is None else str(weights)
    if not texts:
        raise InvalidDataError(f"{path}: holds no rows")
    checkpoints = checkpoint_dir(out)
    with DatasetWriter(
        out, len(texts), model.dim, name=name, embedder=entry.name, items=items, concepts=concepts,
        source_label=str(path), embedder_weights=weights,
    ) as writer:  # fmt: skip
        embed_into(
            writer, texts, entry.name, checkpoints, chunk_texts=chunk_texts, executor=executor, address=address,
            label=str(path), progress=progress, weights=weights,
        )  # fmt: skip
        dataset = writer.finish()
    shutil.rmtree(checkpoints, ignore_errors=True)
    return dataset
