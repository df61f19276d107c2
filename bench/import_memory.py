"""Peak memory of `seals import --from` over many shards: bounded by a batch, not by the total.

    PYTHONPATH=src .venv/bin/python bench/import_memory.py --rows 10000000 --shards 100 --layout clip

makes `--shards` shards of `--rows` × `--dim` random vectors (float16 .npy in a clip-retrieval
folder with its metadata Parquet, or Parquet tables with id/text/vector columns) under `--work`,
then imports them in a fresh subprocess (the same code path as the CLI). The child samples its
RssAnon (heap, numpy and Arrow buffers: what the import itself holds) every 5 ms; the parent
reads the child's ru_maxrss (VmHWM), which also counts file pages the child had mapped (the
input .npy shards are memory-mapped, one at a time). Written vector pages go to the page cache,
not the process, because the writer writes through a plain file. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from memory import status_kb  # bench/memory.py (the script's folder is on sys.path)


def make_shards(folder: Path, rows: int, dim: int, shards: int, layout: str, dtype: str) -> Path:
    """Random shards in the given layout; ids and texts are short strings like real metadata."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    bounds = np.linspace(0, rows, shards + 1).astype(np.int64)
    if layout == "clip":
        (folder / "img_emb").mkdir(parents=True)
        (folder / "metadata").mkdir()
    else:
        folder.mkdir(parents=True)
    for shard, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        vectors = rng.standard_normal((hi - lo, dim), dtype=np.float32).astype(dtype)
        names = [f"images/{i:09d}.jpg" for i in range(lo, hi)]
        captions = [f"a photo number {i}" for i in range(lo, hi)]
        if layout == "clip":
            np.save(folder / "img_emb" / f"img_emb_{shard}.npy", vectors)
            pd.DataFrame({"image_path": names, "caption": captions}).to_parquet(
                folder / "metadata" / f"metadata_{shard}.parquet"
            )
        else:
            column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim)
            table = pa.table({"id": names, "text": captions, "vector": column})
            pq.write_table(table, folder / f"part-{shard:05d}.parquet", row_group_size=65_536)
    return folder


def child(source: str, out: str) -> None:
    """Import `source` into `out` while a thread records the largest RssAnon."""
    from sealsearch.data.importing import import_from

    peak, done = [status_kb("RssAnon")], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], status_kb("RssAnon"))
            time.sleep(0.005)

    start_kb = status_kb("RssAnon")
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    started = time.perf_counter()
    dataset = import_from(out, source)
    seconds = time.perf_counter() - started
    done.set()
    thread.join()
    peak_kb = max(peak[0], status_kb("RssAnon"))
    print(json.dumps({
        "n": dataset.info.n, "dim": dataset.info.dim, "dtype": dataset.info.dtype, "seconds": round(seconds, 1),
        "rss_anon_start_mb": round(start_kb / 1024), "rss_anon_peak_mb": round(peak_kb / 1024),
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--layout", choices=["clip", "parquet"], default="clip")
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    parser.add_argument("--work", type=Path, default=Path("bench-import"))
    parser.add_argument("--keep", action="store_true", help="Keep the shards and the dataset.")
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    source = args.work / f"{args.layout}-{args.rows}x{args.dim}-{args.shards}-{args.dtype}"
    out = args.work / f"{source.name}-dataset"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    if not source.exists():
        make_shards(source, args.rows, args.dim, args.shards, args.layout, args.dtype)
    made = time.perf_counter() - started
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(source), str(out)], capture_output=True, text=True, check=False
    )
    if result.returncode:
        sys.exit(result.stderr)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report.update(
        layout=args.layout, shards=args.shards, make_seconds=round(made, 1),
        child_maxrss_mb=round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        input_gb=round(sum(f.stat().st_size for f in source.rglob("*") if f.is_file()) / 2**30, 2),
    )  # fmt: skip
    print(json.dumps(report))
    if not args.keep:
        shutil.rmtree(source, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
