"""Peak memory of a SEALS run and an All run, beyond the dataset and the index.

    PYTHONPATH=src .venv/bin/python bench/memory.py seals-data/syn1m --factory Flat --budget 2000

Each pool runs in its own process (a fresh heap, so one run's freed memory cannot hide the
other's). The process opens the dataset, loads the index (SEALS only) and the splits, then
records its resident memory and runs `experiment.run` with the paper's protocol. A thread
samples RssAnon (anonymous memory: heap, numpy arrays, Faiss) every 5 ms for the peak growth;
VmHWM growth is printed too, but it also counts the page-cache pages of the memory map that
the run touched (an All round touches the whole split), which the kernel can drop at any time.
Per-round seconds come from the run's own table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path


def status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class PeakSampler(threading.Thread):
    """Largest RssAnon seen while running; the sampling thread sleeps between reads."""

    def __init__(self, interval: float = 0.005):
        super().__init__(daemon=True)
        self.interval, self.peak_kb, self.done = interval, status_kb("RssAnon"), threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak_kb = max(self.peak_kb, status_kb("RssAnon"))
            time.sleep(self.interval)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return max(self.peak_kb, status_kb("RssAnon"))


def measure(args: argparse.Namespace) -> dict:
    from sealsearch.active.knn import open_or_build_index
    from sealsearch.data.dataset import Dataset
    from sealsearch.experiments.simulate import RunConfig, run

    start_kb = status_kb("RssAnon")
    dataset = Dataset.open(args.dataset)
    pool_rows = dataset.split_rows("pool")  # loads the item table
    dataset.split_rows("test")
    counts = dataset.concept_counts()
    concept = args.concept or counts.sort_values("pool", ascending=False)["concept"].iloc[0]
    tables_kb = status_kb("RssAnon") - start_kb
    index = open_or_build_index(dataset, args.factory) if args.pool != "all" else None
    index_kb = status_kb("RssAnon") - start_kb - tables_kb
    config = RunConfig(concept=concept, strategy=args.strategy, pool=args.pool, k=args.k, budget=args.budget,
                       batch_size=args.batch, factory=args.factory)  # fmt: skip
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # VmHWM := VmRSS now
    base_anon, base_hwm = status_kb("RssAnon"), status_kb("VmHWM")
    sampler = PeakSampler()
    sampler.start()
    began = time.perf_counter()
    result = run(dataset, config, index=index)
    seconds = time.perf_counter() - began
    peak_anon = sampler.stop()
    rounds = result.rounds.iloc[1:]  # round 0 is the seed set: no selection
    return {
        "pool": args.pool, "n": dataset.info.n, "dim": dataset.info.dim, "concept": concept,
        "labels": int(result.rounds["n_labeled"].iloc[-1]), "pool_size": int(result.rounds["pool_size"].iloc[-1]),
        "candidates": int(pool_rows.size), "tables_mb": tables_kb / 1024, "index_mb": index_kb / 1024,
        "peak_anon_growth_mb": (peak_anon - base_anon) / 1024, "hwm_growth_mb": (status_kb("VmHWM") - base_hwm) / 1024,
        "select_s_per_round": float(rounds["t_select"].mean()), "knn_s_per_round": float(rounds["t_knn"].mean()),
        "train_s_per_round": float(rounds["t_train"].mean()), "run_s": seconds,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="a dataset directory, e.g. from `seals dataset synthetic`")
    parser.add_argument("--pools", nargs="+", default=["seals", "all"])
    parser.add_argument("--strategy", default="maxent")
    parser.add_argument("--concept", default=None, help="default: the concept with most pool positives")
    parser.add_argument("--factory", default="auto")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pool", help=argparse.SUPPRESS)  # set in the child process
    args = parser.parse_args()
    if args.pool:
        print(json.dumps(measure(args)))
        return
    for pool in args.pools:
        child = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--pool", pool], capture_output=True,
                               text=True, check=True)  # fmt: skip
        row = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"{row['pool']:6s} n={row['n']:,}×{row['dim']} T={row['labels']} pool={row['pool_size']:,}  "
            f"peak anon +{row['peak_anon_growth_mb']:.0f} MB (VmHWM +{row['hwm_growth_mb']:.0f} MB)  "
            f"[item tables {row['tables_mb']:.0f} MB, index {row['index_mb']:.0f} MB]  per round: "
            f"select {row['select_s_per_round']:.3f} s, kNN {row['knn_s_per_round']:.3f} s, "
            f"train {row['train_s_per_round']:.3f} s; run {row['run_s']:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
