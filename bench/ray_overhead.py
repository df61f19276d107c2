"""What Ray costs on one box: start-up, per-task overhead, and a small experiment's wall time
with each executor (inline, 2 local processes, local Ray of 2 CPUs), rows checked identical.

    PYTHONPATH=src .venv/bin/python bench/ray_overhead.py --n 20000 --dim 64 --concepts 4

Needs the ray extra (`pip install 'sealsearch[ray]'`). The dataset is synthetic (clustered
vectors, rare concepts) and written to a temporary directory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import ray

from sealsearch._ray import RayExecutor
from sealsearch.datasets.synthetic import build_synthetic_dataset
from sealsearch.experiments.executors import LocalProcessExecutor
from sealsearch.experiments.grid import RUN_KEYS, ExperimentGrid, run_experiment


def noop(task: int) -> int:
    return task


def timed(label: str, function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:8.2f} s")
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--concepts", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=1000, help="no-op tasks for the per-task overhead")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--budget", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        dataset = build_synthetic_dataset(Path(tmp) / "ds", n=args.n, dim=args.dim, seed=0)
        names = sorted(dataset.concept_names())[: args.concepts]
        grid = ExperimentGrid(
            concepts=names, strategies=["maxent", "random"], pools=["all", "seals"], ks=[20], seed_pos=[5],
            repeats=2, budget=args.budget, neg_ratio=9, factory="Flat",
        )  # fmt: skip
        cells = len(list(grid.configs()))
        print(f"dataset {args.n} x {args.dim}; experiment: {cells} cells, budget {grid.budget}")
        (_, t_start) = timed(f"ray.init(num_cpus={args.cpus})", ray.init, num_cpus=args.cpus, include_dashboard=False,
                             log_to_driver=False)  # fmt: skip
        _, t_ray = timed(f"{args.tasks} no-op tasks on Ray", list, RayExecutor().map_unordered(noop, range(args.tasks)))
        _, t_proc = timed(
            f"{args.tasks} no-op tasks on {args.cpus} processes", list,
            LocalProcessExecutor(args.cpus).map_unordered(noop, list(range(args.tasks))),
        )  # fmt: skip
        print(f"per task: Ray {1000 * t_ray / args.tasks:.2f} ms, processes {1000 * t_proc / args.tasks:.2f} ms")
        inline, _ = timed("experiment, inline (jobs 1)", run_experiment, dataset, grid, Path(tmp) / "inline")
        procs, _ = timed(f"experiment, {args.cpus} processes", run_experiment, dataset, grid, Path(tmp) / "procs",
                         jobs=args.cpus)  # fmt: skip
        on_ray, _ = timed(f"experiment, Ray ({args.cpus} CPUs, started)", run_experiment, dataset, grid,
                          Path(tmp) / "ray", executor="ray")  # fmt: skip
        ray.shutdown()
        print(f"(ray.init above: {t_start:.2f} s, paid once per `seals experiment --executor ray` on one box)")

        def ordered(frame: pd.DataFrame) -> pd.DataFrame:
            keep = [c for c in frame.columns if not c.startswith("t_")]
            return frame[keep].sort_values(RUN_KEYS + ["round"]).reset_index(drop=True)

        for name, result in (("processes", procs), ("ray", on_ray)):
            pd.testing.assert_frame_equal(ordered(result.runs), ordered(inline.runs))
            print(f"rows of {name} == rows inline: yes")


if __name__ == "__main__":
    main()
