"""What the real Milvus server of the milvus_server tests costs on this box: seconds from launch to
a healthy server (each start a fresh data directory, as in the tests, so the bundled binaries are
unpacked every time), the server's resident memory when ready and after holding an index, and a
search round on it beside Faiss `Flat` over the same vectors (ids checked identical).

    PYTHONPATH=src .venv/bin/python bench/milvus_server.py --starts 3 --n 100000 --dim 256

Needs `make milvus-server` (the `milvus` 2.3.5 wheel in .venv-milvus) and the milvus extra.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.index import build_index

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "tests" / "index" / "milvus_launcher.py"


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise KeyError("VmRSS")


def server_pid(launcher_pid: int) -> int:
    """The Milvus binary: the launcher's only child."""
    children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split()
    return int(children[0])


def start(python: Path, data: Path, port: int) -> tuple[subprocess.Popen, str, float]:
    began = time.perf_counter()
    launcher = subprocess.Popen(
        [str(python), str(LAUNCHER), "--data", str(data), "--port", str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = launcher.stdout.readline().strip()
    if not line.startswith("ready "):
        raise SystemExit(f"the server did not start: {line}")
    return launcher, line.removeprefix("ready "), time.perf_counter() - began


def stop(launcher: subprocess.Popen) -> float:
    began = time.perf_counter()
    launcher.stdin.close()
    launcher.wait(timeout=60)
    return time.perf_counter() - began


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", type=Path, default=ROOT / ".venv-milvus" / "bin" / "python")
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--port", type=int, default=39530)
    args = parser.parse_args()
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp:
        starts, stops, ready_rss = [], [], []
        for i in range(args.starts):
            launcher, uri, seconds = start(args.python, Path(tmp) / f"s{i}", args.port)
            starts.append(seconds)
            ready_rss.append(rss_mb(server_pid(launcher.pid)))
            if i < args.starts - 1:
                stops.append(stop(launcher))
        store = EmbeddingStore(unit_vectors(args.n, args.dim))
        rows = np.arange(args.n)
        began = time.perf_counter()
        milvus = build_index(store, rows, "Flat", backend="milvus", uri=uri)
        build_s = time.perf_counter() - began
        held_rss = rss_mb(server_pid(launcher.pid))
        faiss = build_index(store, rows, "Flat")
        queries = store.take(rows[: args.queries])
        timings = {}
        for name, index in (("faiss", faiss), ("milvus", milvus)):
            index.search(queries, args.k, rows[: args.queries])  # warm
            began = time.perf_counter()
            ids, _ = index.search(queries, args.k, rows[: args.queries])
            timings[name] = (time.perf_counter() - began, ids)
        agree = float(np.mean(timings["faiss"][1] == timings["milvus"][1]))
        stops.append(stop(launcher))
    spread = f"{min(starts):.1f}–{max(starts):.1f}"
    print(f"start to healthy: median {statistics.median(starts):.1f} s ({spread}) over {args.starts} starts")
    print(f"stop: median {statistics.median(stops):.1f} s")
    print(f"server RSS when ready: median {statistics.median(ready_rss):.0f} MB")
    print(f"build Flat {args.n:,} x {args.dim} on the server: {build_s:.1f} s; server RSS then {held_rss:.0f} MB")
    print(
        f"search {args.queries} queries, k={args.k}, own row excluded: milvus {timings['milvus'][0] * 1e3:.0f} ms, "
        f"faiss {timings['faiss'][0] * 1e3:.0f} ms ({timings['milvus'][0] / timings['faiss'][0]:.0f}x); "
        f"same ids at {agree:.4f} of ranks"
    )
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
