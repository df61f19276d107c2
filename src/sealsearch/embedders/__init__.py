"""Embedders by the name a dataset records in dataset.json, for embedding free-text queries.

A query must be embedded by the same model as the dataset's items, otherwise its vector lives in
another space and its nearest neighbours mean nothing. The dataset names its embedder; this table
maps that name to an object with `embed_query(text) -> np.ndarray`. Heavy modules (GloVe's 80 MB
matrix, torch) load only when a query is embedded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from sealsearch.errors import InvalidParameterError


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
        from sealsearch.embedders.glove import embed_texts

        return embed_texts(texts)


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
