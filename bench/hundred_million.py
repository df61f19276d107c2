"""10^8 items on this box: generate, index, codes and rounds, each stage resumable.

    PYTHONPATH=src nice -n 19 .venv/bin/python bench/hundred_million.py                 # n = 10^8
    PYTHONPATH=src nice -n 19 .venv/bin/python bench/hundred_million.py --n 1000000 --dir /work/seals-data-1e8/n1e6

Stages, in order (`--stages` picks some; a finished stage is skipped on a rerun, an interrupted
one continues where its own checkpoints allow):

- generate: `build_synthetic_dataset(n, dim 64, float16)`, streamed, resumable by 1M-row blocks
  (the same as `seals dataset synthetic DIR --n N --dim 64 --dtype float16`);
- index: `build_resumable_index` (IVF with an HNSW coarse quantizer and SQ8 codes by default):
  trained on a sample, added in shards of --shard-rows that are saved one by one, then merged
  into the dataset's ordinary index directory, where `open_or_build_index` finds it;
- codes: what a SEALS pool scores on. `--codes index` (the default, what `--codes auto` picks
  at 10^8 beside an SQ8 index): `IndexCodes` over the index's own lists, timed, with the
  memory it adds and the cosine of 10,000 decoded rows to their exact vectors; `--codes sq8`:
  `Sq8Codes.open_or_build`, a second, row-ordered copy (6.4 GB at 10^8);
- rounds: SEALS (index mode: no kNN graph at 10^8) vs All, b = 100, T = --budget, MaxEnt, on
  --concepts concepts × --seeds seeds, warm and (with --cold) with the embeddings evicted from
  the page cache before each round.

Each stage runs in its own child process so its peak RSS (getrusage ru_maxrss) is its own; the
child writes DIR/stages/STAGE.json (seconds, peak RSS, figures) when it completes, and the
parent prints every recorded figure, the disk used and the load average at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

STAGES = ("generate", "index", "codes", "rounds")
DEFAULT_DIR = Path("/work/seals-data-1e8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the dataset and the results live")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--factory", default="IVF16384_HNSW32,SQ8")
    parser.add_argument("--train-per-list", type=int, default=32, help="k-means training rows per IVF list")
    parser.add_argument("--niter", type=int, default=10, help="k-means iterations")
    parser.add_argument("--shard-rows", type=int, default=10_000_000, help="rows added per saved shard")
    parser.add_argument("--codes", default="index", choices=["index", "sq8"], help="the codes stage's codes")
    parser.add_argument("--concepts", type=int, default=3)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--cold", action="store_true", help="also run every round with the file evicted")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def dataset_path(args: argparse.Namespace) -> Path:
    return args.dir / f"synthetic-{args.n}x{args.dim}-{args.dtype}"


def stage_file(args: argparse.Namespace, stage: str) -> Path:
    return args.dir / "stages" / f"{stage}.json"


def peak_rss_gb() -> float:
    """Peak resident set (ru_maxrss, KiB on Linux): counts the memory-mapped file's cached pages too."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class AnonPeak(threading.Thread):
    """The peak of RssAnon (memory the process owns, not the mapped file's page cache), sampled each second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb = 0

    def run(self) -> None:
        while True:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("RssAnon:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            time.sleep(1.0)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def stage_generate(args: argparse.Namespace) -> dict:
    from sealsearch.datasets.synthetic import build_synthetic_dataset

    path = dataset_path(args)
    if (path / "dataset.json").is_file():
        return {"note": "dataset already present"}
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 60:
            last[0] = time.monotonic()
            print(f"  generate: {done:,}/{total:,} rows, load {load_average()}", flush=True)

    build_synthetic_dataset(path, n=args.n, dim=args.dim, dtype=args.dtype, progress=progress)
    return {"rows": args.n}


def _dataset(args: argparse.Namespace):
    from sealsearch.data.dataset import Dataset

    return Dataset.open(dataset_path(args))


def stage_index(args: argparse.Namespace) -> dict:
    from sealsearch.index import index_path
    from sealsearch.index.resumable import build_resumable_index

    dataset = _dataset(args)
    rows = dataset.split_rows("pool")
    clock, seconds, last = time.perf_counter(), {}, [0.0]

    def progress(step: str, done: int, total: int) -> None:
        seconds[step] = round(time.perf_counter() - clock, 1)  # cumulative: the time at which the step last moved
        if time.monotonic() - last[0] > 60:
            last[0] = time.monotonic()
            of = "" if total < 0 else f" of {total:,}"
            print(f"  index {step}: {done:,}{of}, load {load_average()}", flush=True)

    build_resumable_index(
        dataset.embeddings, rows, dataset.index_dir, args.factory, shard_rows=args.shard_rows,
        train_per_list=args.train_per_list, niter=args.niter, progress=progress,
    )  # fmt: skip
    path = index_path(dataset.index_dir, args.factory)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30 if path.is_dir() else float("nan")
    note = "step_ended_at_s counts from this run's start; a resumed run's earlier steps are not in it"
    return {"factory": args.factory, "rows": len(rows), "step_ended_at_s": seconds, "index_gb": round(size, 2),
            "note": note}  # fmt: skip


def stage_codes(args: argparse.Namespace) -> dict:
    import numpy as np

    from sealsearch.data.codes import Sq8Codes
    from sealsearch.index import open_or_build_rows_index
    from sealsearch.index.shared_codes import IndexCodes

    dataset = _dataset(args)
    if args.codes == "sq8":
        codes = Sq8Codes.open_or_build(dataset.embeddings, dataset.path / "embeddings.npy")
        return {"codes": "sq8", "codes_gb": round(codes.nbytes / 2**30, 2)}
    start = time.perf_counter()
    pool = dataset.split_rows("pool")
    index = open_or_build_rows_index(dataset.embeddings, pool, dataset.index_dir, args.factory)
    opened = time.perf_counter()
    codes = IndexCodes(index, dataset.embeddings.n)
    shared = time.perf_counter()
    rows = np.sort(np.random.default_rng(0).choice(pool, min(10_000, len(pool)), replace=False))
    cosine = np.einsum("ij,ij->i", codes.decode_unit(codes.take(rows)), dataset.embeddings.take(rows))
    return {"codes": "index", "index_open_s": round(opened - start, 1), "share_s": round(shared - opened, 1),
            "added_gb": round(codes.nbytes / 2**30, 2), "decoded_cosine_min": round(float(cosine.min()), 4),
            "decoded_cosine_median": round(float(np.median(cosine)), 4)}  # fmt: skip


def stage_rounds(args: argparse.Namespace) -> dict:
    from hundred_million_rounds import run_rounds

    return run_rounds(args, _dataset(args))


def run_child(args: argparse.Namespace) -> None:
    """Run one stage in this process and record it."""
    stage = args.child
    start, load_before, anon = time.perf_counter(), load_average(), AnonPeak()
    anon.start()
    figures = globals()[f"stage_{stage}"](args)
    record = {
        "stage": stage, "n": args.n, "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_gb": round(peak_rss_gb(), 2), "peak_anon_gb": round(anon.peak_kb / 2**20, 2),
        "load_before": load_before, "load_after": load_average(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"), **figures,
    }  # fmt: skip
    path = stage_file(args, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    print(f"stage {stage} done: {json.dumps(record)}", flush=True)


def disk_used_gb(path: Path) -> float:
    total = sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) if path.exists() else 0
    return total / 2**30


def report(args: argparse.Namespace) -> None:
    print(f"\n== {args.n:,} × {args.dim} {args.dtype} under {args.dir} (load now {load_average()})")
    for stage in STAGES:
        path = stage_file(args, stage)
        if path.is_file():
            print(f"{stage}: {path.read_text().strip()}")
        else:
            print(f"{stage}: not finished")
    print(f"disk used under {args.dir}: {disk_used_gb(args.dir):.1f} GB")


def main() -> None:
    args = parse_args()
    if args.child:
        return run_child(args)
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(STAGES))
    if unknown:
        raise SystemExit(f"--stages: unknown {unknown}; choose from {','.join(STAGES)}")
    args.dir.mkdir(parents=True, exist_ok=True)
    for stage in (s for s in STAGES if s in wanted):
        if stage_file(args, stage).is_file():
            print(f"stage {stage}: already done ({stage_file(args, stage)})", flush=True)
            continue
        print(f"stage {stage}: starting at {time.strftime('%H:%M:%S')}, load {load_average()}", flush=True)
        done = subprocess.run([sys.executable, *sys.argv, "--child", stage], check=False)
        if done.returncode != 0:
            raise SystemExit(f"stage {stage} failed (exit {done.returncode}); rerun the same command to resume")
    report(args)


if __name__ == "__main__":
    main()
