"""Ray (`sealsearch[ray]`) for the embarrassingly parallel parts, in one place every layer can use.

Three jobs fan out over Ray with the same per-task functions that run locally: the cells of an
experiment (`RayExecutor`, the `Executor` contract of sealsearch.experiments.executors), the
shards of a scan (`seals predict`, the All pool: sealsearch.data.shards) and the text batches of
an embedding (Ray Data `map_batches`: sealsearch.embedders.ray_batches). This module only joins
or starts Ray and runs tasks; `ray` is imported when a Ray path is taken, never at import time.

Where it runs: with `address=None` a Ray instance is started on this machine for the duration of
the job (`num_cpus` workers, all cores when None; its workers import sealsearch from the same
place as this process); "auto" or "HOST:PORT" joins a running cluster (`ray start --head` ... see
docs/experiments.md), whose workers must have sealsearch installed and see the dataset at the
same path. An already initialised Ray (`ray.init(...)` by the caller) is used as it is and left
running.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sealsearch._util import check_name, positive_int
from sealsearch.errors import InvalidParameterError, MissingExtraError

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "ray")
"""`--executor` of the commands that embed or scan: this machine's cores, or Ray tasks."""

_initialised: set[tuple] = set()
"""Initializers this worker process has already run (a Ray worker runs many tasks)."""


def check_executor(executor: str, address: str | None) -> str:
    """`executor` when it is one of `EXECUTORS` and consistent with `address`; a one-line error otherwise."""
    check_name(executor, EXECUTORS, "executor")
    if address is not None and executor != "ray":
        raise InvalidParameterError(
            f"address {address} joins a Ray cluster; add executor ray", params=["address", "executor"]
        )
    return executor


def import_ray() -> Any:
    """The `ray` module, or a one-line MissingExtraError naming the extra."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError(
            "executor ray needs the ray extra: pip install 'sealsearch[ray]'", params=["executor"]
        ) from None
    return ray


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, initialised for the block: joined at `address`, or started locally with `num_cpus`
    (then shut down at the end); an instance the caller initialised is used and left running."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        # Workers of a local instance import sealsearch from where this process did.
        source = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
        options.update(num_cpus=num_cpus, runtime_env={"env_vars": {"PYTHONPATH": path}})
    else:
        options["address"] = address
    ray.init(**options)
    try:
        yield ray
    finally:
        ray.shutdown()


def _call(initializer: Callable[..., None] | None, initargs: tuple, function: Callable[[T], R], task: T) -> R:
    """What a Ray task runs: the initializer once per worker process, then `function(task)`."""
    if initializer is not None:
        key = (initializer.__module__, initializer.__qualname__, repr(initargs))
        if key not in _initialised:
            initializer(*initargs)
            _initialised.add(key)
    return function(task)


class RayExecutor:
    """Runs tasks on Ray: a local instance of `num_cpus` workers, or the cluster at `address`.

    Each task is the same module-level function a local pool runs; a Ray worker process runs the
    initializer once, before its first task, and reuses that state for every later task, as a
    pool process does. Results stream back in the order they finish, at most `in_flight` tasks
    ahead, so a caller can write each result as it lands.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        in_flight: int | None = None,
    ):
        self.address = address
        self.num_cpus = None if num_cpus is None else positive_int(num_cpus, "num_cpus")
        self.initializer = initializer
        self.initargs = initargs
        self.in_flight = in_flight

    def map_unordered(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[T, R]]:
        if not tasks:
            return
        with ray_session(self.address, self.num_cpus) as ray:
            remote = ray.remote(num_cpus=1, max_retries=0)(_call)
            ahead = self.in_flight or max(2 * int(ray.cluster_resources().get("CPU", 1)), 1)
            queue = iter(tasks)
            pending: dict[Any, T] = {}

            def submit_next() -> None:
                for task in queue:
                    pending[remote.remote(self.initializer, self.initargs, function, task)] = task
                    return

            for _ in range(ahead):
                submit_next()
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    task = pending.pop(ref)
                    yield task, ray.get(ref)
                    submit_next()
