"""What Ray costs on one box, part by part, each result checked equal to the local executor's.

    experiment: start-up, per-task overhead, and a small experiment's wall time with each
                executor (inline, 2 local processes, local Ray of 2 CPUs), rows checked identical.
    predict:    `predict_top` (`seals predict`) over an existing dataset, local threads vs scan
                shards as Ray tasks, per (concept, seed) cell, tables checked identical.
    embed:      `seals embed` of WordNet's 82k synset texts (or the first --texts), local vs Ray Data,
                the largest difference between the two datasets' vectors printed.

    PYTHONPATH=src .venv/bin/python bench/ray_overhead.py --parts experiment --n 20000 --dim 64 --concepts 4
    PYTHONPATH=src .venv/bin/python bench/ray_overhead.py --parts predict,embed \\
        --dataset /work/data-ooc/synthetic-1000000x256-s0 --concepts 3
    PYTHONPATH=src .venv/bin/python bench/ray_overhead.py --parts embed --embedder minilm --texts 8192

Needs the ray extra (`pip install 'sealsearch[ray]'`). The experiment's dataset is synthetic
(clustered vectors, rare concepts) and written to a temporary directory; predict reads --dataset
(e.g. `seals dataset synthetic syn1m --n 1000000 --dim 256`), whose page cache a first local run
warms. Ray is started once per part; its start is printed apart from the timed runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import ray

from sealsearch._ray import RayExecutor
from sealsearch.active.predict import predict_top
from sealsearch.data.dataset import Dataset
from sealsearch.data.shards import Scanner
from sealsearch.datasets.synthetic import build_synthetic_dataset
from sealsearch.datasets.texts import embed_text_table
from sealsearch.datasets.wordnet import parse_noun_synsets
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


def start_ray(cpus: int) -> float:
    _, seconds = timed(f"ray.init(num_cpus={cpus})", ray.init, num_cpus=cpus, include_dashboard=False,
                       log_to_driver=False)  # fmt: skip
    return seconds


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def experiment_part(args: argparse.Namespace, tmp: Path) -> None:
    dataset = build_synthetic_dataset(tmp / "ds", n=args.n, dim=args.dim, seed=0)
    names = sorted(dataset.concept_names())[: args.concepts]
    grid = ExperimentGrid(
        concepts=names, strategies=["maxent", "random"], pools=["all", "seals"], ks=[20], seed_pos=[5],
        repeats=2, budget=args.budget, neg_ratio=9, factory="Flat",
    )  # fmt: skip
    cells = len(list(grid.configs()))
    print(f"dataset {args.n} x {args.dim}; experiment: {cells} cells, budget {grid.budget}")
    t_start = start_ray(args.cpus)
    _, t_ray = timed(f"{args.tasks} no-op tasks on Ray", list, RayExecutor().map_unordered(noop, range(args.tasks)))
    _, t_proc = timed(
        f"{args.tasks} no-op tasks on {args.cpus} processes", list,
        LocalProcessExecutor(args.cpus).map_unordered(noop, list(range(args.tasks))),
    )  # fmt: skip
    print(f"per task: Ray {1000 * t_ray / args.tasks:.2f} ms, processes {1000 * t_proc / args.tasks:.2f} ms")
    inline, _ = timed("experiment, inline (jobs 1)", run_experiment, dataset, grid, tmp / "inline")
    procs, _ = timed(f"experiment, {args.cpus} processes", run_experiment, dataset, grid, tmp / "procs",
                     jobs=args.cpus)  # fmt: skip
    on_ray, _ = timed(f"experiment, Ray ({args.cpus} CPUs, started)", run_experiment, dataset, grid, tmp / "ray",
                      executor="ray")  # fmt: skip
    ray.shutdown()
    print(f"(ray.init above: {t_start:.2f} s, paid once per `seals experiment --executor ray` on one box)")

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        keep = [c for c in frame.columns if not c.startswith("t_")]
        return frame[keep].sort_values(RUN_KEYS + ["round"]).reset_index(drop=True)

    for name, result in (("processes", procs), ("ray", on_ray)):
        pd.testing.assert_frame_equal(ordered(result.runs), ordered(inline.runs))
        print(f"rows of {name} == rows inline: yes")


def labels_for(dataset: Dataset, concept: str, seed: int, path: Path) -> Path:
    """A labels file as `seals run --out` writes one: 20 positives and 180 random negatives."""
    rng = np.random.default_rng(seed)
    pool = dataset.split_rows("pool")
    positives = np.intersect1d(dataset.concept_rows(concept), pool)
    negatives = np.setdiff1d(rng.choice(pool, 400, replace=False), positives)[:180]
    rows = np.concatenate([rng.choice(positives, min(20, positives.size), replace=False), negatives])
    labels = np.isin(rows, positives).astype(np.int8)
    pd.DataFrame({"round": 0, "row": rows, "label": labels}).to_parquet(path)
    return path


def predict_part(args: argparse.Namespace, tmp: Path) -> None:
    dataset = Dataset.open(args.dataset)
    concepts = sorted(dataset.concept_names())[: args.concepts]
    print(f"predict over {dataset.path} ({dataset.info.n} x {dataset.info.dim}), top {args.top}; "
          f"{len(concepts)} concepts x seeds {args.seeds}")  # fmt: skip
    warm = labels_for(dataset, concepts[0], 0, tmp / "warm.parquet")
    timed("first local run (warms the page cache)", predict_top, dataset, warm, top=args.top)
    t_start = start_ray(args.cpus)
    _, t_first = timed("first Ray run (starts the workers)", predict_top, dataset, warm, top=args.top,
                       scanner=Scanner("ray"))  # fmt: skip
    local_s, ray_s = [], []
    for concept in concepts:
        for seed in range(args.seeds):
            labels = labels_for(dataset, concept, seed, tmp / f"{concept}-{seed}.parquet")
            local, t_local = timed(f"{concept} seed {seed}: local threads", predict_top, dataset, labels, top=args.top)
            on_ray, t_ray = timed(f"{concept} seed {seed}: Ray shards", predict_top, dataset, labels, top=args.top,
                                  scanner=Scanner("ray"))  # fmt: skip
            pd.testing.assert_frame_equal(on_ray, local)
            local_s.append(t_local)
            ray_s.append(t_ray)
    ray.shutdown()
    ratios = [r / loc for r, loc in zip(ray_s, local_s, strict=True)]
    print(f"local s: {spread(local_s)}")
    print(f"Ray s:   {spread(ray_s)}  (+ {t_start:.2f} s ray.init and {t_first:.2f} s first run, once per command)")
    print(f"Ray / local: {spread(ratios)}; tables identical in all {len(ratios)} cells: yes")


def embed_part(args: argparse.Namespace, tmp: Path) -> None:
    texts = parse_noun_synsets().texts()[: args.texts]
    table = tmp / "texts.parquet"
    pd.DataFrame({"text": texts}).to_parquet(table)
    print(f"`seals embed` of {len(texts):,} WordNet synset texts with {args.embedder}, {args.runs} runs per executor")
    t_start = start_ray(args.cpus)
    times: dict[str, list[float]] = {"local": [], "ray": []}
    for run in range(args.runs):
        built = {}
        for executor in ("local", "ray"):
            built[executor], seconds = timed(
                f"run {run}: {executor}", embed_text_table, tmp / f"{executor}-{run}", table, embedder=args.embedder,
                executor=executor,
            )  # fmt: skip
            times[executor].append(seconds)
        vectors = [np.asarray(built[e].embeddings.vectors) for e in ("local", "ray")]
        difference = float(np.abs(vectors[0] - vectors[1]).max())
        print(f"run {run}: largest |Ray - local| vector difference {difference:.2e}")
    ray.shutdown()
    ratios = [r / loc for r, loc in zip(times["ray"], times["local"], strict=True)]
    print(f"local s: {spread(times['local'])}")
    print(f"Ray s:   {spread(times['ray'])}  (+ {t_start:.2f} s ray.init once per command)")
    print(f"Ray / local: {spread(ratios)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="experiment", help="comma-separated: experiment, predict, embed")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--concepts", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=1000, help="no-op tasks for the per-task overhead")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--dataset", type=Path, help="predict: an existing dataset directory")
    parser.add_argument("--seeds", type=int, default=2, help="predict: label samples per concept")
    parser.add_argument("--top", type=int, default=1000, help="predict: rows kept")
    parser.add_argument("--runs", type=int, default=3, help="embed: builds per executor")
    parser.add_argument("--embedder", default="glove", help="embed: glove or minilm")
    parser.add_argument("--texts", type=int, default=None, help="embed: the first N WordNet texts (default all)")
    args = parser.parse_args()
    parts = {"experiment": experiment_part, "predict": predict_part, "embed": embed_part}
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    for name in args.parts.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            print(f"\n== {name}")
            parts[name](args, Path(tmp))
    print(f"\nload after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
