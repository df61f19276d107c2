"""Helpers of the index tests (test_contract.py, test_index.py): clustered data, exact search and
the one-line error check, in one copy."""

from __future__ import annotations

import numpy as np
import pytest

from sealsearch.errors import SealsearchError


def clustered_unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((30, dim))
    x = centres[rng.integers(30, size=n)] + 0.6 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_sims(vectors: np.ndarray, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The exact cosine of each query with each returned row (padding reads row 0: mask it)."""
    return np.einsum("qd,qkd->qk", queries, vectors[np.where(ids >= 0, ids, 0)])


def brute_force(vectors: np.ndarray, query_rows: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Exact top-k similarities of each query row among `rows`, the query's own row excluded."""
    rows = np.arange(len(vectors)) if rows is None else rows
    sims = vectors[query_rows] @ vectors[rows].T
    sims[query_rows[:, None] == rows[None, :]] = -np.inf
    return -np.sort(-sims, axis=1)[:, :k]


def assert_one_line(exc: pytest.ExceptionInfo[SealsearchError], *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message and message.strip() == message
    for fragment in fragments:
        assert fragment in message
