"""`RayExecutor`: the cells of an experiment as Ray tasks (`sealsearch[ray]`), same `Executor` contract.

Each task is the same module-level function the local process pool runs; a Ray worker process
runs the executor's initializer (open the dataset and index) once, before its first task, and
reuses that state for every later task, as a pool process does. Results stream back in the order
they finish, at most `in_flight` tasks ahead, so `run_experiment` writes each cell as it lands.

Where it runs: with `address=None` a Ray instance is started on this machine for the duration of
the map (`num_cpus` workers; its workers import sealsearch from the same place as this process);
"auto" or "HOST:PORT" joins a running cluster (`ray start --head` ... see docs/experiments.md), whose
workers must have sealsearch installed and see the dataset at the same path. An already
initialised Ray (`ray.init(...)` by the caller) is used as it is and left running.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sealsearch._util import positive_int
from sealsearch.errors import MissingExtraError

T = TypeVar("T")
R = TypeVar("R")

_initialised: set[tuple] = set()
"""Initializers this worker process has already run (a Ray worker runs many tasks)."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingExtraError("--executor ray needs the ray extra: pip install 'sealsearch[ray]'") from None
    return ray


def _call(initializer: Callable[..., None] | None, initargs: tuple, function: Callable[[T], R], task: T) -> R:
    """What a Ray task runs: the initializer once per worker process, then `function(task)`."""
    if initializer is not None:
        key = (initializer.__module__, initializer.__qualname__, repr(initargs))
        if key not in _initialised:
            initializer(*initargs)
            _initialised.add(key)
    return function(task)


class RayExecutor:
    """Runs tasks on Ray: a local instance of `num_cpus` workers, or the cluster at `address`."""

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

    def _start(self, ray: Any) -> bool:
        """Initialise Ray unless the caller did; True when this executor started it."""
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address is None:
            # Workers of a local instance import sealsearch from where this process did.
            source = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
            options.update(num_cpus=self.num_cpus, runtime_env={"env_vars": {"PYTHONPATH": path}})
        else:
            options["address"] = self.address
        ray.init(**options)
        return True

    def map_unordered(self, function: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[T, R]]:
        if not tasks:
            return
        ray = _ray()
        started = self._start(ray)
        try:
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
        finally:
            if started:
                ray.shutdown()
