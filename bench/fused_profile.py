"""Where a warm All round's selection time goes: single-thread CPU time of each part, one process.

    PYTHONPATH=src:bench .venv/bin/python bench/fused_profile.py --n 1000000 --data-dir DATA

On bench/scaling.py's synthetic dataset, after the seed and two rounds of a real loop (so the
model is a round's), scans every candidate of the All pool on one thread (`time.thread_time`,
best of --repeats: CPU time is what the other users of a shared machine cannot inflate much) with:
a pure read (each block's max), the float32 products alone (BLAS sgemv, `einsum`, `np.vecdot`,
two sgemv per 512-row sub-block, one sgemm with a (d, 2) matrix), the fused scores without and with
pruning to the b best (information density with and without the pool's cached cosine bounds),
then `select_top` over the full and over the pruned scores, and the scan at 4, 8 and 16 MB blocks.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from fused_scan import grow, read_block
from scaling import synthetic, warm

from sealsearch._util import single_threaded_blas
from sealsearch.active.fused import FusedScore
from sealsearch.active.learner import linear_form
from sealsearch.active.strategies import STRATEGIES, select_top
from sealsearch.data.scan import block_rows, score_rows
from sealsearch.experiments.simulate import pick_concepts


def cpu_ms(function, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.thread_time()
        function()
        best = min(best, time.thread_time() - start)
    return best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dataset = synthetic(args.data_dir, args.n, 256, 0)
    store = dataset.embeddings
    warm(store)
    concept = pick_concepts(dataset, 1, seed_pos=50, min_test=0, seed=0)[0]
    loop, pool = grow(dataset, concept, 0, "all", "id", argparse.Namespace(batch=100, rounds=2), None, None, None)
    form, mean, rows = linear_form(loop.fit()), pool.mean_vector(), pool.candidates()
    fused = {name: FusedScore(STRATEGIES[name].fused, form, mean, unit_rows=True) for name in ("maxent", "mlp", "id")}
    w, m = fused["id"].weights, fused["id"].mean
    pair = np.ascontiguousarray(np.stack([w, m], axis=1))
    bounds = pool.density_bounds(m)

    def two_gemv(vectors: np.ndarray) -> np.ndarray:
        z, dot = np.empty(len(vectors), np.float32), np.empty(len(vectors), np.float32)
        for start in range(0, len(vectors), 512):
            np.matmul(vectors[start : start + 512], w, out=z[start : start + 512])
            np.matmul(vectors[start : start + 512], m, out=dot[start : start + 512])
        return z

    def scan(function, block: int | None = None, pruned: int | None = None, **options):
        # A pruning score is made afresh for every scan: its threshold must not carry over.
        def run():
            score = function if pruned is None else function.pruned(pruned, **options)
            return score_rows(store, rows, score, workers=1, block=block)

        return run

    parts = {
        "read (max of each block)": scan(read_block),
        "sgemv (vectors @ w)": scan(lambda v: v @ w),
        "einsum ij,j->i": scan(lambda v: np.einsum("ij,j->i", v, w)),
        "np.vecdot": scan(lambda v: np.vecdot(v, w)),
        "2 sgemv per 512 rows (z and the dot with the mean)": scan(two_gemv),
        "sgemm with (d, 2)": scan(lambda v: (v @ pair)[:, 0]),
    }
    for kind in ("maxent", "mlp", "id"):
        parts[f"{kind}: fused, every row scored"] = scan(fused[kind])
        parts[f"{kind}: fused, pruned to 100"] = scan(fused[kind], pruned=100)
    parts["id: pruned to 100 with the cached cosine bounds"] = scan(fused["id"], pruned=100, density_bound=bounds)
    full = score_rows(store, rows, fused["maxent"], workers=1)
    pruned = score_rows(store, rows, fused["maxent"].pruned(100), workers=1)
    parts["select_top(100) over every score"] = lambda: select_top(full, 100)
    parts["select_top(100) over pruned scores"] = lambda: select_top(pruned, 100)
    for megabytes in (4, 8, 16):
        block = block_rows(store.dim) * megabytes // 4
        parts[f"maxent pruned, {megabytes} MB blocks"] = scan(fused["maxent"], block, pruned=100)
    print(f"N={args.n:,}: {rows.size:,} candidates × {store.dim}, single-thread CPU ms (best of {args.repeats}):")
    with single_threaded_blas():
        for name, function in parts.items():
            print(f"  {name:55s} {cpu_ms(function, args.repeats):8.1f}", flush=True)


if __name__ == "__main__":
    main()
