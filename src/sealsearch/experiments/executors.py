"""Where the cells of an experiment run: in this process, or in a pool of local processes.

`run_experiment` only needs "apply this function to these tasks and hand me each result as it
finishes", so it writes every finished cell to disk at once whatever runs them. `Executor` is
that contract; `sealsearch._ray.RayExecutor` (cells on a cluster) is another implementation. Tasks
and results must be picklable for anything but `InlineExecutor`, and the function must be a
module-level one (spawned processes import it by name).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from sealsearch._util import positive_int

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs `function` on every task and yields (task, result) pairs in the order they finish."""

    def map_unordered(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[T, R]]: ...


class InlineExecutor:
    """One task after another in this process: no start-up cost, objects shared as they are."""

    def map_unordered(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[T, R]]:
        for task in tasks:
            yield task, function(task)


class LocalProcessExecutor:
    """Up to `jobs` spawned processes on this machine, each set up once by `initializer(*initargs)`.

    Spawned, not forked: forking a process that already runs OpenMP / BLAS threads can deadlock.
    Only about two tasks per process are submitted ahead, so an interrupt leaves little
    submitted-but-unfinished work behind.
    """

    def __init__(self, jobs: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()):
        self.jobs = positive_int(jobs, "jobs")
        self.initializer = initializer
        self.initargs = initargs

    def map_unordered(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[T, R]]:
        if not tasks:
            return
        context = multiprocessing.get_context("spawn")
        workers = min(self.jobs, os.cpu_count() or 1, len(tasks))
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=self.initializer, initargs=self.initargs
        ) as pool:
            pending: dict[Future, T] = {}
            queue = iter(tasks)

            def submit_next() -> None:
                for task in queue:
                    pending[pool.submit(function, task)] = task
                    return

            for _ in range(2 * self.jobs):
                submit_next()
            while pending:
                completed, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in completed:
                    task = pending.pop(future)
                    yield task, future.result()
                    submit_next()
