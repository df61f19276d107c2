"""Run a command with less memory than its data: a cgroup-v1 memory limit (root only).

    python bench/memlimit.py 1000M -- env PYTHONPATH=src:bench .venv/bin/python bench/cold_rounds.py \\
        --n 1000000 --data-dir /work/data --cgroup

The second way (besides evicting pages every round, `--cold`) to measure a pool that does not
fit in memory: the page cache is charged to the cgroup, so a 1 GB embeddings file under a 1 GB
limit that also holds the process's own memory is re-read from disk on every pass, as on a
machine whose RAM is smaller than the pool. Pages cached before the command started stay
charged to whoever read them first (and escape the limit), so `cold_rounds.py --cgroup` evicts
the file once before each run. The limit applies to a child of this process's own
memory cgroup (so every limit above it still holds), which is removed afterwards.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path("/sys/fs/cgroup/memory")


def own_memory_cgroup() -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return ROOT / path.lstrip("/")
    raise SystemExit("no cgroup-v1 memory controller here (needs /sys/fs/cgroup/memory and root)")


def parse_size(text: str) -> int:
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        raise SystemExit("usage: memlimit.py LIMIT -- COMMAND ...  (LIMIT like 1000M or 2G)")
    limit, command = parse_size(sys.argv[1]), sys.argv[3:]
    parent = own_memory_cgroup()
    group = parent / f"sealsearch-bench-{os.getpid()}"
    group.mkdir()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still leave the cgroup on `kill`
    try:
        (group / "memory.limit_in_bytes").write_text(str(limit))
        (group / "cgroup.procs").write_text(str(os.getpid()))  # the command inherits it
        print(f"memory limit {limit / 2**20:,.0f} MB (cgroup {group})", flush=True)
        code = subprocess.run(command).returncode
        peak = int((group / "memory.max_usage_in_bytes").read_text())
        print(f"peak usage charged to the cgroup (RSS + page cache): {peak / 2**20:,.0f} MB", flush=True)
        # this small process forked the command, so its ru_maxrss is the command's own (a process
        # forked from a big one starts its maximum at that one's size)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS of the command: {rss:,.0f} MB", flush=True)
    finally:
        (parent / "cgroup.procs").write_text(str(os.getpid()))
        group.rmdir()
    sys.exit(code)


if __name__ == "__main__":
    main()
