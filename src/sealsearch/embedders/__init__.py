"""Embedders by name and alias: the one table of what can turn items and text queries into vectors.

A query must be embedded by the same model as the dataset's items, otherwise its vector lives in
another space and its nearest neighbours mean nothing. dataset.json records the embedder's
registry name (and, for a model loaded from a local checkpoint such as CLIP, its weights
directory); `query_embedder` turns that back into an object with `embed_query(text)`. Heavy
modules (GloVe's 80 MB matrix, torch) load only when something is embedded.

"unknown" is a registry entry too: vectors made elsewhere. Their items can still be found by id
and by "more like this", but a text query cannot be embedded, and the message says what to do in
words a person who never wrote Python reads (`text_search_unavailable`).

`embed_batch(name, inputs)` is the one per-batch function of dataset building: `seals embed` and
`seals dataset wordnet` call it on each chunk in this process, and Ray Data's `map_batches` calls
it on the same chunks in Ray workers (sealsearch.embedders.ray_batches).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from sealsearch._util import did_you_mean, register
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError, UnknownNameError

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
"""The embedder of vectors made elsewhere: not text-queryable (the default of `seals import`)."""
Modality = Literal["text", "image"]


class QueryEmbedder(Protocol):
    """What text seeding needs: one query in, one vector (before the dataset's projection) out."""

    name: str
    dim: int

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A batch of texts as an n×dim float32 matrix (`seals embed`); rows need not be normalised."""
        ...


class ImageEmbedder(QueryEmbedder, Protocol):
    """An embedder whose text and image towers share one space (CLIP): images in, vectors out."""

    def embed_images(self, paths: Sequence[str]) -> np.ndarray: ...


class GloveQueryEmbedder:
    """Mean GloVe 6B-50d vectors (sealsearch.embedders.glove), the embedder of the demo datasets."""

    name = "glove-6B-50d-mean"
    dim = 50

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from sealsearch.embedders.glove import embed_texts_with_fallback

        vectors, fallback = embed_texts_with_fallback(texts)
        if fallback.size:
            log.info("%d texts had no GloVe word and were embedded from their characters", fallback.size)
        return vectors


class MiniLMQueryEmbedder:
    """all-MiniLM-L6-v2 sentence vectors; needs the `sealsearch[text]` extra (MissingExtraError otherwise)."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self) -> None:
        from sealsearch.embedders.minilm import MiniLMEmbedder

        self._embedder = MiniLMEmbedder()

    def embed_query(self, text: str) -> np.ndarray:
        return self._embedder.embed_query(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._embedder.embed(texts)


def _clip(weights: str | None) -> ImageEmbedder:
    from sealsearch.embedders.clip import ClipEmbedder

    return ClipEmbedder(weights_dir(weights, "clip"))


def _clip_dim(weights: str | None) -> int:
    from sealsearch.embedders.clip import checkpoint_dim

    return checkpoint_dim(weights_dir(weights, "clip"))  # config.json only: no torch


@dataclass(frozen=True)
class Embedder:
    """One registry entry. `name` is what dataset.json records; `aliases` are other spellings the
    CLI accepts (`minilm`). `load(weights)` builds the embedder (None: it cannot embed anything,
    like "unknown"); `dim(weights)` its vector size without loading a model. `needs_weights`: the
    model is read from a local checkpoint directory (`--weights DIR`), never downloaded.
    `modalities` are the item kinds it embeds. `label`/`description`: how a person reads it.
    `old_names` are spellings older dataset.json files hold, still accepted but never offered."""

    name: str
    load: Callable[[str | None], QueryEmbedder] | None
    dim: Callable[[str | None], int] | None = None
    aliases: tuple[str, ...] = ()
    modalities: tuple[Modality, ...] = ("text",)
    needs_weights: bool = False
    label: str = ""
    description: str = ""
    old_names: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        """The word help texts and messages offer: the first alias (glove), else the name."""
        return self.aliases[0] if self.aliases else self.name


EMBEDDERS: dict[str, Embedder] = {}
"""Every embedder by its recorded name, in the order help texts list them (`register_embedder`)."""
_ALIASES: dict[str, str] = {}  # alias -> name, kept by register_embedder (an index of EMBEDDERS)


def register_embedder(embedder: Embedder) -> Embedder:
    """Make `embedder` a choice of `seals import|embed --embedder` under its name and aliases; a
    name or alias already taken by another embedder is refused."""
    for spelling in (embedder.name, *embedder.aliases, *embedder.old_names):
        if EMBEDDERS.get(spelling, embedder) is not embedder or _ALIASES.get(spelling, embedder.name) != embedder.name:
            raise InvalidParameterError(f"the embedder name {spelling!r} is already registered; choose another")
    for alias in (*embedder.aliases, *embedder.old_names):
        register(_ALIASES, alias, embedder.name, "embedder alias")
    return register(EMBEDDERS, embedder.name, embedder, "embedder")


def embedder_choices() -> str:
    """ "glove, minilm, clip, unknown": how help texts and errors list them (full names work too)."""
    return ", ".join(e.short for e in EMBEDDERS.values())


def find_embedder(name: str) -> Embedder | None:
    """The entry registered under `name` or an alias of it; None for a name nobody registered
    (an old dataset.json may record e.g. "digits-pixels(8x8, L2)": vectors from elsewhere)."""
    return EMBEDDERS.get(_ALIASES.get(name, name))


def resolve_embedder(name: str | None) -> Embedder:
    """The entry `name` (a registry name, an alias, or None meaning "unknown"); anything else is
    refused in one line that lists the choices."""
    entry = find_embedder(UNKNOWN if name is None else name)
    if entry is None:
        spellings = [*EMBEDDERS, *(e.short for e in EMBEDDERS.values())]
        raise UnknownNameError(
            f"unknown embedder {name!r}: choose one of {embedder_choices()}{did_you_mean(str(name), spellings)}"
        )
    return entry


def weights_dir(weights: str | Path | None, name: str) -> Path:
    """The local checkpoint directory an embedder loads, checked to exist (never downloaded)."""
    if weights is None:
        raise InvalidParameterError(
            f"the {name} embedder needs weights DIR: a local model checkpoint directory", params=["weights"]
        )
    path = Path(weights)
    if not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "holds no config.json"
        raise MissingFileError(f"weights {path}: {what}; give a local {name} checkpoint directory", params=["weights"])
    return path.resolve()


def text_search_unavailable(name: str) -> str:
    """Why a text query cannot be embedded for a dataset whose embedder is `name`, and what to do."""
    text_ones = ", ".join(e.short for e in EMBEDDERS.values() if e.load is not None)
    entry = find_embedder(name)
    unknown = entry is not None and entry.name == UNKNOWN
    source = "an unknown model" if unknown else f"{name!r}, a model sealsearch cannot run"
    return (
        f"text search is unavailable for this dataset: its vectors came from {source}. Re-import them naming "
        f"the model that made them (seals import ... --embedder NAME, NAME one of {text_ones}), or start the "
        f"concept from items instead (item ids, or 'more like this' on an item)"
    )


def declare_embedder(name: str | None, weights: str | Path | None, dim: int, label: str) -> tuple[str, str | None]:
    """The (name, weights dir) an import records for vectors of dimension `dim` said to come from
    `name`: checked now (an unknown name, missing weights, or vectors of another size are refused
    in one line naming `label`), so a dataset never promises text search it cannot give."""
    entry = resolve_embedder(name)
    if entry.needs_weights:
        weights = str(weights_dir(weights, entry.short))
    elif weights is not None:
        raise InvalidParameterError(
            f"weights goes with an embedder loaded from a checkpoint (clip), not {name!r}", params=["weights"]
        )
    if entry.dim is not None and entry.dim(weights) != dim:
        raise InvalidDataError(
            f"{label}: vectors have {dim} values but {entry.name} makes {entry.dim(weights)}; "
            f"name the model that made them, or leave embedder out (unknown)",
            params=["embedder"],
        )
    return entry.name, weights


def loaded_embedder(name: str, weights: str | Path | None, modality: Modality) -> tuple[Embedder, QueryEmbedder]:
    """The registry entry (`name` or an alias) and its embedder ready to embed items of `modality`
    (`seals embed`); an embedder that cannot embed them is refused in one line listing those that can."""
    entry = resolve_embedder(name)
    if modality not in entry.modalities or entry.load is None:
        able = ", ".join(e.short for e in EMBEDDERS.values() if modality in e.modalities)
        raise InvalidParameterError(
            f"embedder {name}: cannot embed {modality}s; choose one of {able}", params=["embedder"]
        )
    if not entry.needs_weights and weights is not None:
        raise InvalidParameterError(
            f"weights goes with an embedder loaded from a checkpoint (clip), not {name!r}", params=["weights"]
        )
    return entry, entry.load(None if weights is None else str(weights))


def query_embedder(name: str, weights: str | None = None) -> QueryEmbedder:
    """The embedder of a dataset whose dataset.json names embedder `name` (and `weights`).

    An unknown name is not a typo to correct: the dataset was embedded by something outside this
    package, so text search cannot work, while addressing items by id still does.
    """
    entry = find_embedder(name)
    if entry is None or entry.load is None:
        raise InvalidParameterError(text_search_unavailable(name))
    return entry.load(weights)


@functools.lru_cache(maxsize=4)
def _loaded(name: str, weights: str | None) -> QueryEmbedder:
    """One embedder per name and process: a Ray worker loads the model once, for all its batches."""
    return query_embedder(name, weights)


def embed_batch(
    name: str, inputs: Sequence[str], weights: str | None = None, modality: Modality = "text"
) -> np.ndarray:
    """One batch of texts (or image file paths) as an n×dim float32 matrix (rows not yet
    normalised) by the embedder registered as `name`: the function every executor runs on every batch."""
    embedder = _loaded(name, weights)
    if modality == "image":
        return np.asarray(embedder.embed_images(list(inputs)), dtype=np.float32)  # type: ignore[attr-defined]
    return np.asarray(embedder.embed(list(inputs)), dtype=np.float32)


def checkpoint_config(weights: str | Path) -> dict:
    """A checkpoint directory's config.json, read without loading a model."""
    path = Path(weights) / "config.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidDataError(f"{path}: not a readable model config ({exc})") from None


for _builtin in (
    Embedder(
        GloveQueryEmbedder.name, lambda _: GloveQueryEmbedder(), lambda _: GloveQueryEmbedder.dim, aliases=("glove",),
        label="GloVe", description="mean GloVe 6B 50-d word vectors: fast, no torch",
    ),
    Embedder(
        MiniLMQueryEmbedder.name, lambda _: MiniLMQueryEmbedder(), lambda _: MiniLMQueryEmbedder.dim,
        aliases=("minilm",), label="MiniLM", description="all-MiniLM-L6-v2 384-d sentence vectors (text extra)",
    ),
    Embedder(
        "clip", _clip, _clip_dim, modalities=("text", "image"), needs_weights=True, label="CLIP",
        description="images and text in one space, from a local Hugging Face CLIP checkpoint (--weights DIR)",
    ),
    Embedder(
        UNKNOWN, None, old_names=("imported",), modalities=(), label="unknown",
        description="vectors made elsewhere: items found by id and 'more like this', not by text",
    ),
):  # fmt: skip
    register_embedder(_builtin)
