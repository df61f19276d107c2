"""Embedders by the name a dataset records in dataset.json, for embedding items and free-text queries.

A query must be embedded by the same model as the dataset's items, otherwise its vector lives in
another space and its nearest neighbours mean nothing. The dataset names its embedder; this table
maps that name to an object with `embed_query(text) -> np.ndarray`. Heavy modules (GloVe's 80 MB
matrix, torch) load only when a query is embedded.

`embed_batch(name, texts)` is the one per-batch function of dataset building: `seals embed` and
`seals dataset wordnet` call it on each chunk of texts in this process, and Ray Data's
`map_batches` calls it on the same chunks in Ray workers (sealsearch.embedders.ray_batches).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from sealsearch.errors import InvalidParameterError

log = logging.getLogger(__name__)


class QueryEmbedder(Protocol):
    """What text seeding needs: one query in, one vector (before the dataset's projection) out."""

    name: str
    dim: int

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A batch of texts as an n×dim float32 matrix (`seals embed`); rows need not be normalised."""
        ...


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


EMBEDDERS: dict[str, Callable[[], QueryEmbedder]] = {
    GloveQueryEmbedder.name: GloveQueryEmbedder,
    MiniLMQueryEmbedder.name: MiniLMQueryEmbedder,
}


def query_embedder(name: str) -> QueryEmbedder:
    """The query embedder of a dataset whose dataset.json names embedder `name`.

    An unknown name is not a typo to correct: the dataset was embedded by something outside this
    package, so text search cannot work, while addressing items by id still does.
    """
    factory = EMBEDDERS.get(name)
    if factory is None:
        raise InvalidParameterError(
            f"text search is unavailable for this dataset: its embedder {name!r} is not one of "
            f"{', '.join(EMBEDDERS)}; seed the concept with item ids (positives=[...] or like=ID) instead"
        )
    return factory()


@functools.lru_cache(maxsize=4)
def _loaded(name: str) -> QueryEmbedder:
    """One embedder per name and process: a Ray worker loads the model once, for all its batches."""
    return query_embedder(name)


def embed_batch(name: str, texts: Sequence[str]) -> np.ndarray:
    """One batch of texts as an n×dim float32 matrix (rows not yet normalised) by the embedder
    registered as `name`: the function every executor runs on every batch."""
    return np.asarray(_loaded(name).embed(list(texts)), dtype=np.float32)
