"""`seals embed --embedder clip`: a folder of images, or a table naming image files, embedded into a
dataset whose text queries go through the same CLIP model.

The images are not copied: the dataset records `media_root` (the folder, or the deepest folder
holding every file a table names) and each item's `uri` relative to it, so the labeling app
shows the files where they are. Item ids are those relative paths (or the table's id column).
Embedding runs chunk by chunk through `embed_into`, exactly like texts: finished chunks are
checkpointed (keyed by the model, its weights directory and the chunk's paths), so an
interrupted run embeds only what is missing, and `executor="ray"` embeds the chunks in Ray
workers. dataset.json records the embedder's name and weights directory, so `seals serve` and
projects embed text queries with the same model's text tower.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from sealsearch._util import Progress
from sealsearch.data.dataset import Dataset
from sealsearch.data.writer import DatasetWriter
from sealsearch.datasets.embedding import CHUNK_TEXTS, check_executor, checkpoint_dir, embed_into
from sealsearch.datasets.texts import label_concepts, read_text_table, table_column
from sealsearch.embedders import loaded_embedder
from sealsearch.errors import InvalidDataError, MissingFileError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
"""What a folder's files must end in to be embedded (case-insensitive); other files are skipped."""


def folder_images(folder: Path) -> tuple[Path, list[str]]:
    """The folder (absolute) and its image files' paths relative to it, searched recursively,
    in sorted order (so a rerun numbers rows the same way)."""
    root = folder.resolve()
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidDataError(f"{folder}: holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return root, files


def table_images(frame: pd.DataFrame, column: str, path: Path) -> tuple[Path, list[str]]:
    """The deepest folder holding every image a table names, and each path relative to it.
    Relative paths are relative to the table's folder; a missing file is refused naming its row."""
    base = path.resolve().parent
    files = []
    for row, value in enumerate(frame[column].tolist()):
        if not isinstance(value, str) or not value.strip():
            raise InvalidDataError(f"{path}: row {row} has no image path in {column!r}; fill or drop it")
        file = (base / value).resolve()
        if not file.is_file():
            raise MissingFileError(f"{path}: row {row}: image {value!r} not found (looked at {file})")
        files.append(file)
    if not files:
        raise InvalidDataError(f"{path}: holds no rows")
    root = Path(os.path.commonpath([f.parent for f in files]))
    return root, [f.relative_to(root).as_posix() for f in files]


def _table_items(source: Path, columns: dict[str, str | None]) -> tuple[Path, pd.DataFrame, pd.DataFrame | None]:
    """media root, items (id, uri, text, split) and concepts of a table naming image files."""
    frame = read_text_table(source)
    image = table_column(frame, columns.get("uri"), "uri", source)
    if image is None:
        raise InvalidDataError(
            f"{source}: no image path column among {list(frame.columns)}; name it with image_column",
            params=["image_column"],
        )
    root, uris = table_images(frame, image, source)
    items = pd.DataFrame({"id": uris, "uri": uris})
    for role in ("id", "text", "split"):
        found = table_column(frame, columns.get(role), role, source)
        if found is not None:
            items[role] = frame[found].to_numpy()
    return root, items, label_concepts(frame, columns.get("label"), source)


def embed_image_source(
    out: str | Path,
    source: str | Path,
    *,
    weights: str | Path | None,
    embedder: str = "clip",
    columns: dict[str, str | None] | None = None,
    name: str | None = None,
    chunk_images: int = CHUNK_TEXTS,
    executor: str = "local",
    address: str | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Embed the images of a folder (recursively) or of a table's image path column into a new
    dataset (see the module docstring). `columns` names a table's "uri" (image), "id", "text",
    "split" and "label" columns (default: found by name). Everything is checked (files exist,
    ids unique, the checkpoint loads its config) before the first image is embedded."""
    source, out = Path(source), Path(out)
    check_executor(executor, address)
    entry, model = loaded_embedder(embedder, weights, "image")
    if source.is_dir():
        root, uris = folder_images(source)
        items, concepts = pd.DataFrame({"id": uris, "uri": uris, "text": uris}), None
    elif source.is_file():
        root, items, concepts = _table_items(source, dict(columns or {}))
        uris = items["uri"].tolist()
    else:
        raise MissingFileError(f"{source}: not found; give a folder of images or a table with an image path column")
    recorded = str(getattr(model, "weights", weights))
    checkpoints = checkpoint_dir(out)
    with DatasetWriter(
        out, len(uris), model.dim, name=name, embedder=entry.name, embedder_weights=recorded, items=items,
        concepts=concepts, source_label=str(source), media_root=str(root),
    ) as writer:  # fmt: skip
        embed_into(
            writer, [str(root / uri) for uri in uris], entry.name, checkpoints, chunk_texts=chunk_images,
            executor=executor, address=address, label=str(source), progress=progress, weights=recorded,
            modality="image",
        )  # fmt: skip
        dataset = writer.finish()
    shutil.rmtree(checkpoints, ignore_errors=True)
    return dataset


def is_image_source(source: str | Path, image_column: str | None = None) -> bool:
    """Whether `seals embed --from source` means images: a folder, or a table with an image path
    column (named by `image_column`, else found by name: uri, image_path, path, ...)."""
    source = Path(source)
    if source.is_dir() or image_column is not None:
        return True
    return source.is_file() and table_column(read_text_table(source), None, "uri", source) is not None
