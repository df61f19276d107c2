"""CLIP: images and text queries in one vector space, from a local Hugging Face checkpoint.

The paper's pools are images; a person still starts a concept with words. CLIP's two towers map
an image and a caption of it close together, so a text query finds images. The model is
transformers' `CLIPModel` with the checkpoint's own tokenizer and image processor
(`CLIPProcessor`), read with `local_files_only=True` from a directory the user already has (a
Hugging Face CLIP checkpoint: config.json, the weights, tokenizer files, preprocessor_config.json):
nothing is downloaded at run time. No torchvision: transformers' Pillow image processor resizes
and crops (PyPI's torchvision is a CUDA build that fails to import beside the CPU torch).

torch and transformers are the optional `image` extra, imported when the first vector is asked
for; loading is quiet (no "Loading weights" bar on the terminal or in a server log).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from sealsearch.embedders import checkpoint_config
from sealsearch.errors import InvalidDataError, MissingExtraError

NAME = "clip"
BATCH = 32  # images or texts per forward pass: bounded memory whatever the chunk
_INSTALL_HINT = "pip install torch==2.13.0 && pip install 'sealsearch[image]'  (or: make text)"


def checkpoint_dim(weights: Path) -> int:
    """The size of the vectors a CLIP checkpoint makes (its projection_dim), read from config.json."""
    config = checkpoint_config(weights)
    dim = config.get("projection_dim")
    if not isinstance(dim, int) or dim <= 0:
        raise InvalidDataError(f"{weights / 'config.json'}: no projection_dim; is this a CLIP checkpoint?")
    return dim


class ClipEmbedder:
    """Unnormalised CLIP text and image features (the dataset writer normalises rows, queries are
    normalised by `Dataset.project`) from the checkpoint in `weights`."""

    name = NAME

    def __init__(self, weights: Path):
        self.weights = Path(weights)
        self.dim = checkpoint_dim(self.weights)

    @cached_property
    def _parts(self) -> tuple[Any, Any, Any]:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise MissingExtraError(f"CLIP needs the image extra ({exc.name} is missing): {_INSTALL_HINT}") from None
        transformers.utils.logging.set_verbosity_error()  # no torchvision fallback notes
        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1)
        try:
            processor = transformers.CLIPProcessor.from_pretrained(self.weights, local_files_only=True)
            model = transformers.CLIPModel.from_pretrained(self.weights, local_files_only=True).eval()
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidDataError(
                f"weights {self.weights}: not a loadable CLIP checkpoint ({first})", params=["weights"]
            ) from None
        return torch, processor, model

    @staticmethod
    def _features(output: Any) -> np.ndarray:
        """transformers 5 returns an output whose pooler_output is projected; 4.x a tensor."""
        tensor = getattr(output, "pooler_output", output)
        return tensor.detach().float().cpu().numpy().astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Texts through the text tower, as an n×dim float32 matrix."""
        torch, processor, model = self._parts
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        limit = getattr(model.config.text_config, "max_position_embeddings", 77)
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = list(texts[start : start + BATCH])
                tokens = processor.tokenizer(
                    batch, padding=True, truncation=True, max_length=limit, return_tensors="pt"
                )
                out[start : start + len(batch)] = self._features(model.get_text_features(**tokens))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """One free-text query (the words a person types to start a concept) as a vector."""
        return self.embed([text])[0]

    def embed_images(self, paths: Sequence[str]) -> np.ndarray:
        """Image files through the image tower, as an n×dim float32 matrix; an unreadable file is
        a one-line error naming it."""
        torch, processor, model = self._parts
        out = np.empty((len(paths), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(paths), BATCH):
                images = [_open_image(path) for path in paths[start : start + BATCH]]
                pixels = processor.image_processor(images=images, return_tensors="pt")
                out[start : start + len(images)] = self._features(model.get_image_features(**pixels))
        return out


def _open_image(path: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise InvalidDataError(f"{path}: not a readable image ({exc.__class__.__name__}); fix or remove it") from None
