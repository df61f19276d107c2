"""Texts (or image files) into a dataset's vectors, chunk by chunk: checkpoints, and where the chunks
are embedded.

`seals embed` and `seals dataset wordnet` both embed through `embed_into`. The texts are cut into
chunks of `CHUNK_TEXTS`; each finished chunk of vectors is saved under a checkpoint directory,
keyed by a hash of the model (name and weights directory), the modality and the chunk's texts or
image paths, so a rerun after an interruption embeds only
what is missing and a changed text or model never reuses a stale chunk. The chunks are then
appended in order to the `DatasetWriter`, which normalises them and renames the finished
directory into place (all or nothing).

One per-batch function, two executors: "local" calls `embed_batch` on each missing chunk in this
process; "ray" hands the missing chunks to Ray Data, whose `map_batches` calls the same
`embed_batch` on the same chunks in Ray workers (sealsearch.embedders.ray_batches). Checkpoints
and the writer stay in this process either way, so the dataset layout does not depend on the
executor, and a run interrupted under one executor resumes under the other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sealsearch._ray import check_executor
from sealsearch._util import Progress
from sealsearch.data.writer import DatasetWriter
from sealsearch.embedders import Modality, embed_batch

CHUNK_TEXTS = 4096
"""Texts per chunk: per checkpoint file and per call of `embed_batch` (a Ray Data batch)."""


def checkpoint_dir(out: Path) -> Path:
    """Where the chunks of the dataset being written to `out` wait: a hidden sibling of it."""
    return out.parent / f".{out.name}.embed-checkpoints"


def _chunk_file(directory: Path, model: list, start: int, chunk: list[str]) -> Path:
    key = hashlib.sha256(json.dumps([*model, chunk]).encode()).hexdigest()[:16]
    return directory / f"{start:012d}-{key}.npy"


def _embedded(
    model: tuple[str, str | None, Modality], chunks: list[list[str]], executor: str, address: str | None
) -> Iterator[np.ndarray]:
    """The vectors of each chunk, in order, embedded by `executor` with `model` (name, weights, modality)."""
    if executor == "ray":
        from sealsearch.embedders.ray_batches import embed_on_ray

        yield from embed_on_ray(model[0], chunks, address=address, weights=model[1], modality=model[2])
    else:
        for chunk in chunks:
            yield embed_batch(model[0], chunk, model[1], model[2])


def embed_into(
    writer: DatasetWriter,
    texts: list[str],
    name: str,
    checkpoints: Path,
    *,
    chunk_texts: int = CHUNK_TEXTS,
    executor: str = "local",
    address: str | None = None,
    label: str = "texts",
    progress: Progress | None = None,
    weights: str | None = None,
    modality: Modality = "text",
) -> None:
    """Embed `texts` with the embedder registered as `name` and append them to `writer`, resuming
        from the chunks saved in `checkpoints` (see the module docstring). `label` names the source
        in errors about a bad vector ("`label` (embedded) row R"). With `modality` "image" the `texts`
    are image file paths, embedded by the image tower of the model in `weights` (CLIP)."""
    check_executor(executor, address)
    checkpoints.mkdir(parents=True, exist_ok=True)
    starts = range(0, len(texts), chunk_texts)
    chunks = [texts[start : start + chunk_texts] for start in starts]
    model = (name, weights, modality)
    files = [_chunk_file(checkpoints, list(model), start, chunk) for start, chunk in zip(starts, chunks, strict=True)]
    missing = [i for i, file in enumerate(files) if not file.is_file()]
    fresh = _embedded(model, [chunks[i] for i in missing], executor, address)
    with contextlib.closing(fresh):  # an error below also ends a Ray session the generator started
        for start, file in zip(starts, files, strict=True):
            if file.is_file():
                vectors = np.load(file)
            else:
                vectors = next(fresh)
                partial = file.with_suffix(".partial.npy")
                np.save(partial, vectors)
                partial.replace(file)  # a checkpoint on disk is always complete
            writer.append(vectors, where=(f"{label} (embedded)", start))
            if progress:
                progress(writer.written, len(texts))
