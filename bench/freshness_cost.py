"""What the checks on open cost at scale: the embeddings fingerprint and the value scan.

    PYTHONPATH=src .venv/bin/python bench/freshness_cost.py --n 1000000 --dim 256 --dir /tmp

Writes an n x dim float32 matrix of unit rows (random; n * dim * 4 bytes) as a .npy under --dir,
then times, best of --repeat:
- `EmbeddingStore.fingerprint` (sha256 of 1,000 seeded rows; what an index, a graph and SQ8 codes
  record and compare on every open) with the page cache warm, and cold (the file evicted with
  posix_fadvise(DONTNEED) before each run);
- the value scan with the page cache warm: NaN/inf only (the scan before zero and unit rows were
  checked) against NaN/inf + zero rows + unit length (`check_embedding_matrix(unit=True)`, the scan
  a dataset with `normalized: true` now gets once per change of its file).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from sealsearch.data.embeddings import CHUNK_ROWS, EmbeddingStore, check_embedding_matrix


def best_of(repeat: int, function, before=None) -> float:
    times = []
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def write_matrix(path: Path, n: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for start in range(0, n, CHUNK_ROWS):
        block = rng.standard_normal((min(CHUNK_ROWS, n - start), dim), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    out.flush()
    del out


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def finite_only(matrix: np.ndarray) -> None:
    """The scan as it was before zero and unit rows were checked."""
    for start in range(0, matrix.shape[0], CHUNK_ROWS):
        assert np.isfinite(np.asarray(matrix[start : start + CHUNK_ROWS])).all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--dir", type=Path, default=Path("/tmp"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = args.dir / f"freshness-{args.n}x{args.dim}.npy"
    if not path.is_file():
        write_matrix(path, args.n, args.dim)
    size_gb = path.stat().st_size / 1e9
    fingerprint = lambda: EmbeddingStore.open(path, verify=False).fingerprint  # noqa: E731 - a fresh store: no cache
    fingerprint()
    warm = best_of(args.repeat, fingerprint)
    cold = best_of(args.repeat, fingerprint, before=lambda: evict(path))
    vectors = np.load(path, mmap_mode="r")
    finite_only(vectors)  # warm the page cache
    old = best_of(args.repeat, lambda: finite_only(vectors))
    new = best_of(args.repeat, lambda: check_embedding_matrix(vectors, str(path), unit=True))
    print(f"{args.n:,} x {args.dim} float32 ({size_gb:.2f} GB), best of {args.repeat}:")
    print(f"  fingerprint: {warm * 1e3:.1f} ms warm, {cold * 1e3:.1f} ms cold")
    print(f"  value scan (warm): NaN/inf only {old:.2f} s, + zero rows + unit length {new:.2f} s ({new / old:.2f}x)")


if __name__ == "__main__":
    main()
