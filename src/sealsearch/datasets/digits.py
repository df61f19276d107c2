"""A small real image dataset for the labeling app: scikit-learn's bundled handwritten digits.

`sklearn.datasets.load_digits` ships 1,797 real 8×8 grayscale scans (UCI optical digits, 16
levels) inside the wheel, so this builds offline in about a second. Each image is written as a
64×64 grayscale PNG (every pixel an 8×8 block, dark ink on white) under `OUT/media/`; items
carry `uri` = the PNG's name relative to that media root, which `dataset.json` records as
`media_root: "media"` (relative to the dataset directory, so the directory can be moved).

Embedding: by default the 64 pixel values themselves, L2-normalised by the writer; nothing is
fitted, so any new 8×8 image embeds the same way. With `embedder="clip"` and a local CLIP
checkpoint (`weights`) the written PNGs are embedded instead, exactly as `seals embed --from FOLDER
--embedder clip` would (chunked and checkpointed), so the set is a small demo of the image path:
thumbnails in the app and text queries ("a handwritten seven") through CLIP's text tower.
Measured on these 1,797 images (share of each item's 10
cosine neighbours with its own digit): raw pixels 0.963, centred pixels 0.960, centred PCA-32
0.960, per-pixel standardised 0.931 (it amplifies near-constant border pixels), standardised
PCA-32 0.928. The plain pixels are the best and the simplest.

Concepts: `digit-0` … `digit-9`, about 10% each: not rare, but real and easy to check by eye.
`rare_digit` makes one of them rare honestly: only `rare_keep` images of that digit stay in the
dataset, the rest are left out. (Labeling a random subsample of a digit as a concept would not
do: its other images look the same, so no classifier could learn it.) A seeded 20% of every
digit forms the test split.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress
from sealsearch.data.dataset import Dataset
from sealsearch.data.writer import DatasetWriter
from sealsearch.datasets.embedding import checkpoint_dir, embed_into
from sealsearch.embedders import loaded_embedder
from sealsearch.errors import InvalidParameterError

MEDIA_ROOT = "media"
SCALE = 8  # 8×8 -> 64×64 pixels
LEVELS = 16  # load_digits pixel values run 0..16
TEST_FRAC = 0.2
PIXELS = "pixels"
"""The default embedder: the 64 pixel values (not a registry entry: no text queries)."""


def png_gray(pixels: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG of a 2-D uint8 array (stdlib zlib only)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))  # filter 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8 bits, grayscale, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def render(image: np.ndarray) -> np.ndarray:
    """An 8×8 digit (0..16, ink high) as a 64×64 uint8 picture, dark ink on white."""
    gray = 255 - np.round(np.asarray(image, dtype=np.float64) * 255 / LEVELS)
    return np.kron(gray, np.ones((SCALE, SCALE))).astype(np.uint8)


def _kept_rows(target: np.ndarray, rare_digit: int | None, rare_keep: int, rng: np.random.Generator) -> np.ndarray:
    keep = np.ones(target.size, dtype=bool)
    if rare_digit is not None:
        if not 0 <= rare_digit <= 9:
            raise InvalidParameterError(f"rare_digit must be 0..9, got {rare_digit}", params=["rare_digit"])
        members = np.flatnonzero(target == rare_digit)
        if not 2 <= rare_keep <= members.size:
            raise InvalidParameterError(
                f"rare_keep must be 2..{members.size} (images of digit {rare_digit}), got {rare_keep}",
                params=["rare_keep"],
            )
        keep[rng.choice(members, members.size - rare_keep, replace=False)] = False
    return np.flatnonzero(keep)


def _test_split(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A seeded TEST_FRAC of every digit, so each concept has test positives."""
    test = np.zeros(target.size, dtype=bool)
    for digit in range(10):
        members = np.flatnonzero(target == digit)
        test[rng.choice(members, max(1, round(TEST_FRAC * members.size)), replace=False)] = True
    return test


def build_digits_dataset(
    out: str | Path,
    *,
    rare_digit: int | None = None,
    rare_keep: int = 18,
    seed: int = 0,
    progress: Progress | None = None,
    embedder: str = PIXELS,
    weights: str | Path | None = None,
) -> Dataset:
    """Write the digits dataset directory `out` (see the module docstring); seconds, offline.

    Item ids are `digit-NNNN` with NNNN the image's index in `load_digits`, so they are the same
    whichever images a `rare_digit` build leaves out. `embedder` "pixels" or an image embedder
    of the registry ("clip", with its checkpoint directory `weights`).
    """
    from sklearn.datasets import load_digits

    model = None if embedder == PIXELS else loaded_embedder(embedder, weights, "image")
    digits = load_digits()
    rng = np.random.default_rng(seed)
    kept = _kept_rows(digits.target, rare_digit, rare_keep, rng)
    images, target = digits.images[kept], digits.target[kept]
    n = kept.size
    test = _test_split(target, rng)
    names = [f"{index:04d}" for index in kept]
    items = pd.DataFrame({
        "id": [f"digit-{name}" for name in names],
        "text": [f"digit image {index}" for index in kept],
        "uri": [f"{name}.png" for name in names],
        "split": np.where(test, "test", "pool"),
    })  # fmt: skip
    concepts = pd.DataFrame({"row": np.arange(n), "concept": [f"digit-{d}" for d in target]})
    rare = "" if rare_digit is None else f", digit {rare_digit} kept {rare_keep}"
    dim = images.shape[1] * images.shape[2] if model is None else model[1].dim
    recorded_name = f"digits-pixels(8x8, L2{rare})" if model is None else model[0].name
    recorded = None if model is None else str(getattr(model[1], "weights", weights))
    with DatasetWriter(
        out, n, dim, embedder=recorded_name, embedder_weights=recorded, items=items, concepts=concepts,
        source_label="digits", media_root=MEDIA_ROOT,
    ) as writer:  # fmt: skip
        media = writer.tmp / MEDIA_ROOT
        media.mkdir()
        for done, (name, image) in enumerate(zip(names, images, strict=True), start=1):
            (media / f"{name}.png").write_bytes(png_gray(render(image)))
            if progress and (done % 200 == 0 or done == n):
                progress(done, n)
        if model is None:
            writer.append(images.reshape(n, -1).astype(np.float32))
            return writer.finish()
        files = [str(media / f"{name}.png") for name in names]
        embed_into(
            writer, files, recorded_name, checkpoint_dir(Path(out)), weights=recorded, modality="image",
            label="digits", progress=progress,
        )  # fmt: skip
        dataset = writer.finish()
    shutil.rmtree(checkpoint_dir(Path(out)), ignore_errors=True)
    return dataset
