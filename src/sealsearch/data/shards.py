"""Where a scan's blocks run: this machine's cores, or Ray tasks over shards of the file.

`Scanner` is what `seals predict` and the All pool hand a row function to (see
sealsearch.data.scan). `Scanner("local")`, the default, is the thread-pool block scan. With
`Scanner("ray")` the rows are cut into shards and each shard is one Ray task running
`score_shard`: it opens the embeddings file *by path* (memory-mapped; the worker must see the
dataset at the same path, as experiment workers do) and runs the same `score_rows` block loop on
its rows, one thread. No vectors travel: a task receives a span of rows (or, for a subset such as
the All pool's candidates, its row numbers) and the row function (a fitted model's
`predict_proba`, pickled once per task), and returns one float64 per row.

Shards are whole numbers of blocks counted from the first row of the scan, so every call of the
row function sees exactly the rows it sees in the local scan, in the same order: the scores are
identical, not merely close (tested). On one machine Ray adds its start-up (~8 s) and ~3 ms per
task (bench/ray_overhead.py); it pays when the file is spread over a cluster's disks or cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sealsearch._ray import RayExecutor, check_executor, ray_session
from sealsearch._util import Progress, single_threaded_blas
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.data.scan import RowFunction, block_rows, score_rows
from sealsearch.errors import InvalidParameterError

SHARDS_PER_CPU = 4
"""Shards per Ray CPU by default: enough to even out slow tasks, few enough that the per-task
cost (~3 ms) stays small beside a shard of 10^6 / 8 rows."""


@dataclass(frozen=True)
class ShardTask:
    """One shard of a scan: `rows` (a span, or row numbers) of the embeddings file at `path`;
    `first` is the shard's position in the scan's output."""

    path: str
    rows: range | np.ndarray
    first: int
    score: RowFunction
    block: int


def score_shard(task: ShardTask) -> np.ndarray:
    """What a Ray task runs: the local block loop over the shard's rows, read from the file."""
    store = EmbeddingStore.open(task.path, verify=False)  # the driver's store was verified
    with single_threaded_blas():
        return score_rows(store, task.rows, task.score, block=task.block, workers=1)


def embeddings_path(store: EmbeddingStore) -> str:
    """The file a memory-mapped store reads; Ray tasks open it by this path."""
    filename = getattr(store.vectors, "filename", None)
    if filename is None:
        raise InvalidParameterError(
            "executor ray reads the embeddings file by path, but these vectors are in memory; "
            "open the dataset from disk (Dataset.open) or use executor local",
            params=["executor"],
        )
    return str(filename)


@dataclass(frozen=True)
class Scanner:
    """Runs a row function over a store's rows: "local" (threads) or "ray" (shards as Ray tasks
    on a local instance of `num_cpus` CPUs, or the cluster at `address`). `shard_blocks` fixes
    the blocks per shard (default: about `SHARDS_PER_CPU` shards per CPU), `block` the rows per
    block (default: `block_rows`, 4 MB)."""

    executor: str = "local"
    address: str | None = None
    num_cpus: int | None = None
    shard_blocks: int | None = None
    block: int | None = None

    def __post_init__(self) -> None:
        check_executor(self.executor, self.address)
        for name in ("shard_blocks", "block"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise InvalidParameterError(f"{name} must be positive, got {getattr(self, name)}")

    def score_rows(
        self,
        store: EmbeddingStore,
        rows: np.ndarray | range | None,
        score: RowFunction,
        *,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """`score` over `rows` of the store (every row when None), aligned with them."""
        if self.executor == "local":
            return score_rows(store, rows, score, block=self.block, progress=progress)
        return self._on_ray(store, range(store.n) if rows is None else rows, score, progress)

    def _on_ray(
        self, store: EmbeddingStore, rows: np.ndarray | range, score: RowFunction, progress: Progress | None
    ) -> np.ndarray:
        if not isinstance(rows, range):
            rows = np.asarray(rows, dtype=np.int64)
        path, block, total = embeddings_path(store), self.block or block_rows(store.dim), len(rows)
        out = np.empty(total, dtype=np.float64)
        if total == 0:
            return out
        with ray_session(self.address, self.num_cpus) as ray:
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            per_shard = self.shard_blocks or max(1, math.ceil(math.ceil(total / block) / (SHARDS_PER_CPU * cpus)))
            size = per_shard * block
            tasks = [ShardTask(path, rows[lo : lo + size], lo, score, block) for lo in range(0, total, size)]
            done = 0
            for task, values in RayExecutor().map_unordered(score_shard, tasks):
                out[task.first : task.first + len(task.rows)] = values
                done += len(task.rows)
                if progress:
                    progress(done, total)
        return out
