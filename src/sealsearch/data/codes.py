"""A compact RAM-resident copy of every vector: 8-bit scalar-quantised codes (SQ8).

Out of core, a SEALS round must not read the vectors of the rows that join its pool from disk
(b·k scattered rows a round, each a page fault with readahead: 6 s a round at 10^7 when the
file is not cached). With one byte per dimension in RAM (10^7 × 256 = 2.6 GB, a quarter of the
float32 file) the candidates are gathered and scored from memory, and the exact vectors are
read only for the few rows whose approximate score puts them in contention (the pool re-ranks
them) and for the labeled rows. Per dimension j, code c stands for `low[j] + (c + 0.5)·step[j]`
with `step = (high - low) / 256` over the column's range: a uniform error of at most step/2.

Files beside the embeddings: `embeddings.sq8.npy` (N × d uint8), `embeddings.sq8-range.npy`
(2 × d float32: low, step) and `embeddings.sq8.json` (the fingerprint of the vectors they
encode). `open` reads the codes into anonymous memory, so evicting the
embeddings file from the page cache leaves them in RAM.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np

from sealsearch._util import Progress, check_name, write_text_atomic
from sealsearch.data.embeddings import CHUNK_ROWS, EmbeddingStore
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError

LEVELS = 256


class PoolCodes(Protocol):
    """What a seals pool needs of compressed rows: `Sq8Codes` here, or the kNN index's own codes
    (`sealsearch.index.shared_codes.IndexCodes`). `mode` is the `codes` value that names them."""

    mode: str
    n: int
    dim: int

    @property
    def nbytes(self) -> int: ...

    def take(self, rows: np.ndarray) -> np.ndarray: ...

    def decode_unit(self, codes: np.ndarray) -> np.ndarray: ...


def source_path(embeddings_path: Path) -> Path:
    """`embeddings.sq8.json`: the fingerprint of the vectors the codes were built from."""
    return codes_paths(embeddings_path)[0].with_suffix(".json")


def codes_paths(embeddings_path: Path) -> tuple[Path, Path]:
    """(codes file, range file) beside an `embeddings.npy`."""
    embeddings_path = Path(embeddings_path)
    stem = embeddings_path.with_suffix("")
    return stem.with_name(stem.name + ".sq8.npy"), stem.with_name(stem.name + ".sq8-range.npy")


class Sq8Codes:
    """N × d uint8 codes of a store's rows and the per-dimension (low, step) that decode them."""

    mode = "sq8"

    def __init__(self, codes: np.ndarray, low: np.ndarray, step: np.ndarray):
        if codes.dtype != np.uint8 or codes.ndim != 2 or low.shape != step.shape != (codes.shape[1],):
            raise InvalidDataError(f"SQ8 codes must be uint8 (n, d) with (d,) ranges, got {codes.shape}")
        self.codes = codes
        self.low = np.asarray(low, dtype=np.float32)
        self.step = np.asarray(step, dtype=np.float32)
        self._centre = self.low + 0.5 * self.step  # code 0 decodes to the middle of its bin

    @property
    def n(self) -> int:
        return int(self.codes.shape[0])

    @property
    def dim(self) -> int:
        return int(self.codes.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes)

    @classmethod
    def build(cls, store: EmbeddingStore, progress: Progress | None = None) -> Sq8Codes:
        """Two passes over the store: the column ranges, then the codes."""
        low = np.full(store.dim, np.inf, dtype=np.float32)
        high = np.full(store.dim, -np.inf, dtype=np.float32)
        for block in store.chunks():
            np.minimum(low, block.min(axis=0), out=low)
            np.maximum(high, block.max(axis=0), out=high)
        step = np.maximum((high - low) / LEVELS, np.float32(1e-12)).astype(np.float32)
        codes = np.empty((store.n, store.dim), dtype=np.uint8)
        for start, block in zip(range(0, store.n, CHUNK_ROWS), store.chunks(), strict=True):
            codes[start : start + len(block)] = encode(block, low, step)
            if progress:
                progress(min(start + CHUNK_ROWS, store.n), store.n)
        return cls(codes, low, step)

    def save(self, embeddings_path: Path) -> None:
        codes_path, range_path = codes_paths(embeddings_path)
        np.save(range_path, np.stack([self.low, self.step]))
        np.save(codes_path, self.codes)

    @classmethod
    def open(cls, embeddings_path: Path) -> Sq8Codes:
        """The saved codes, read into RAM (not memory-mapped)."""
        codes_path, range_path = codes_paths(embeddings_path)
        if not codes_path.is_file() or not range_path.is_file():
            raise MissingFileError(f"{codes_path}: not found; build it with Sq8Codes.build(store).save(path)")
        low, step = np.load(range_path)
        return cls(np.load(codes_path), low, step)

    @classmethod
    def open_or_build(cls, store: EmbeddingStore, embeddings_path: Path) -> Sq8Codes:
        """The saved codes when they were built from the store's current vectors (the fingerprint
        in `embeddings.sq8.json` equals `store.fingerprint`: shuffled or re-embedded rows, whatever
        their mtime, make them stale), else codes built and saved now. The fingerprint is removed
        before a save and written after it, so an interrupted save is rebuilt, never trusted."""
        marker = source_path(embeddings_path)
        if codes_fresh(store, embeddings_path):
            codes = cls.open(embeddings_path)
            if codes.codes.shape == (store.n, store.dim):
                return codes
        codes = cls.build(store)
        marker.unlink(missing_ok=True)
        codes.save(embeddings_path)
        write_text_atomic(marker, json.dumps(store.fingerprint) + "\n")
        return codes

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The codes of `rows` (uint8, a copy)."""
        return self.codes[np.asarray(rows, dtype=np.int64)]

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """float32 approximations of the vectors of a block of codes."""
        out = codes.astype(np.float32)
        out *= self.step
        out += self._centre
        return out

    def decode_unit(self, codes: np.ndarray) -> np.ndarray:
        """`decode`, each row scaled to unit norm as the stored vectors are (an all-zero row
        stays zero): what a pool keeps of its members, so scoring reads float32 rows and
        information density may take a dot product for the cosine."""
        out = self.decode(codes)
        norms = np.sqrt(np.einsum("ij,ij->i", out, out))
        out /= np.where(norms > 0, norms, 1.0)[:, None]
        return out


def codes_fresh(store: EmbeddingStore, embeddings_path: Path) -> bool:
    """Whether saved codes beside `embeddings_path` were built from the store's current vectors."""
    try:
        return json.loads(source_path(embeddings_path).read_text()) == store.fingerprint
    except (OSError, ValueError):
        return False


def encode(block: np.ndarray, low: np.ndarray, step: np.ndarray) -> np.ndarray:
    """uint8 codes of float rows (values outside the range clip to the end codes)."""
    scaled = np.floor((np.asarray(block, dtype=np.float32) - low) / step)
    return np.clip(scaled, 0, LEVELS - 1).astype(np.uint8)


# -- when to use codes: `codes="auto"|"sq8"|"none"` of `run`, `experiment` and projects ------------
CODES_MODES = ("auto", "sq8", "index", "none")
"""What a run, an experiment or a project may ask of codes: "sq8" its own SQ8 codes always,
"index" the kNN index's codes (no second copy; sealsearch.index.shared_codes), "none" never, and
"auto" what `choose_codes` says for this file, index and machine."""
CACHE_SHARE = 0.5
"""The share of the memory a process may still take that the embeddings file may fill and still
count as staying in the page cache: the index, the kNN graph, the pool's buffers and other
programs take the rest (at 10^7 × 256 the index and graph alone were 6 GB beside a 10 GB file)."""


def choose_codes(file_bytes: int, available_bytes: int, *, index_codes: bool = False) -> str:
    """The rule of `codes="auto"`: "none" while the embeddings file stays in the page cache;
    beyond that "index" when the kNN index holds precise codes a pool can share (`index_codes`:
    `sealsearch.index.shared_codes.has_precise_codes`), else "sq8" when the codes fit in RAM,
    else "none".

    The file counts as staying cached while it fills at most CACHE_SHARE of `available_bytes`
    (`available_memory()`: what this process may still take). Beyond that a SEALS round reads
    its joining rows from disk (~200 ms a round at 10^7, bench/RESULTS.md). The index's codes
    remove those reads at no memory cost (the index holds them anyway); `Sq8Codes`, a quarter of
    the file held in anonymous memory, remove them as long as they fit in the same share. When
    even those do not (10^8 × 256 on a 24 GB box: 26 GB), "none": the codes would be paged out or
    kill the process, and the exact buffer at least reads only the rows a round needs. An
    explicit "sq8" or "index" is obeyed whatever this says.
    """
    share = CACHE_SHARE * max(int(available_bytes), 0)
    if int(file_bytes) <= share:
        return "none"
    if index_codes:
        return "index"
    codes_fit = -(-int(file_bytes) // 4) <= share  # one byte per float32 dimension, rounded up
    return "sq8" if codes_fit else "none"


def available_memory(root: Path = Path("/")) -> int:
    """Bytes this process may still take: `MemAvailable` of /proc/meminfo, lowered to the room
    left under every cgroup memory limit that holds it (v2 `memory.max` - `memory.current`, or v1
    `memory.limit_in_bytes` - `memory.usage_in_bytes`), since a cgroup charges page cache too.
    The limits read are those of the process's own cgroup (/proc/self/cgroup: the v1 `memory`
    line, the v2 `0::` line) and of each of its ancestors, whose limits hold as well, down to
    the hierarchy's root (all a namespaced container sees of its own limit). `root` lets tests
    point it at a fake /proc and /sys."""
    available = _meminfo_available(root / "proc/meminfo")
    for folder, (limit_name, usage_name) in _cgroup_folders(root):
        limit, usage = _read_int(folder / limit_name), _read_int(folder / usage_name)
        if limit is not None and usage is not None and limit < 2**60:  # v1 "no limit" is ~2^63
            available = min(available, max(limit - usage, 0))
    return available


_V2_FILES = ("memory.max", "memory.current")
_V1_FILES = ("memory.limit_in_bytes", "memory.usage_in_bytes")


def _cgroup_folders(root: Path) -> list[tuple[Path, tuple[str, str]]]:
    """(folder, (limit file, usage file)) of the process's memory cgroups and their ancestors, v2
    under sys/fs/cgroup and v1 under sys/fs/cgroup/memory, each hierarchy's root always included."""
    hierarchies = {"v2": (root / "sys/fs/cgroup", _V2_FILES), "v1": (root / "sys/fs/cgroup/memory", _V1_FILES)}
    own = {"v2": "/", "v1": "/"}
    try:
        lines = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and not controllers:
            own["v2"] = path
        elif "memory" in controllers.split(","):
            own["v1"] = path
    folders = []
    for name, (base, files) in hierarchies.items():
        parts = [part for part in own[name].split("/") if part and part not in (".", "..")]
        folders += [(base.joinpath(*parts[:depth]), files) for depth in range(len(parts), -1, -1)]
    return folders


def _meminfo_available(path: Path) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 2**62  # unknown: assume the file fits, so "auto" keeps the exact path


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())  # "max" (no v2 limit) is not a number
    except (OSError, ValueError):
        return None


def check_codes_mode(mode: str) -> str:
    """`mode` if it is one of CODES_MODES, else an UnknownNameError naming `codes` (did you mean)."""
    return check_name(mode, CODES_MODES, "codes mode (codes)", param="codes")


def decide_codes(
    mode: str, embeddings_path: Path, *, available_bytes: int | None = None, index_codes: bool = False
) -> str:
    """ "sq8", "index" or "none": `mode` itself, or for "auto" `choose_codes` on the file's size,
    whether the index has precise codes to share, and the memory available now
    (`available_memory()` unless `available_bytes` is given)."""
    if check_codes_mode(mode) != "auto":
        return mode
    available = available_memory() if available_bytes is None else available_bytes
    return choose_codes(Path(embeddings_path).stat().st_size, available, index_codes=index_codes)


def resolve_codes(
    mode: str, store: EmbeddingStore, embeddings_path: Path, *, available_bytes: int | None = None
) -> Sq8Codes | None:
    """Deprecated (kept for a release): use `sealsearch.active.knn.open_codes(dataset, mode,
    knn_index=...)`, which can also share the kNN index's codes. This one knows only "sq8" and
    "none" (an "auto" that would pick the index's codes picks SQ8 here, as it did)."""
    warnings.warn(
        "resolve_codes is deprecated and goes in the next release; use sealsearch.active.knn.open_codes",
        DeprecationWarning,
        stacklevel=2,
    )
    if check_codes_mode(mode) == "index":
        raise InvalidParameterError('resolve_codes cannot open codes "index"; use sealsearch.active.knn.open_codes')
    if decide_codes(mode, embeddings_path, available_bytes=available_bytes) == "none":
        return None
    return Sq8Codes.open_or_build(store, embeddings_path)
