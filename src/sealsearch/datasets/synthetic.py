"""A synthetic clustered embedding pool with rare concepts, for benchmarks at any scale.

Real embedding pools of 10^7 items with ground truth are hard to come by, and random Gaussian
vectors have no neighbourhood structure for SEALS to exploit. This generator places every item
in a cluster: most in one of many background clusters (about sqrt(n), at most 4,096, of varied
size and spread), a few in rare concept clusters whose prevalence is drawn log-uniformly from a
range. A concept sits next to a host background cluster (its centre is the host's, shifted by
`offset`), so tight concepts are their own kNN neighbourhood while loose ones are surrounded by
the host's negatives. Some concepts are fragmented into several far-apart sub-clusters: starting from a few
positives in one fragment, kNN expansion never reaches the others, which is how SEALS fails on
the paper's hard OpenImages classes. `concept_meta.parquet` records each concept's prevalence,
spread, offset and fragment count so benchmarks can relate failures to them.

Geometry: a centre is a random unit vector; an item is centre + noise with per-coordinate
standard deviation spread / sqrt(dim), so `spread` is the noise norm relative to the centre's
and two items of one cluster have cosine about 1 / (1 + spread²) in any dimension, while random
centres are nearly orthogonal when dim is large.

Determinism: the layout (centres, concept members, split) comes from one generator seeded by
`seed`; the vectors are generated in fixed units of UNIT_ROWS rows, each from its own generator
seeded by (seed, unit). Any row range can therefore be regenerated on its own
(`SyntheticPlan.rows`), and how many rows are written at a time changes no value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sealsearch._util import Progress
from sealsearch.data.dataset import Dataset
from sealsearch.data.writer import DatasetWriter
from sealsearch.errors import InvalidParameterError

UNIT_ROWS = 4_096
WRITE_UNITS = 16  # units per block handed to the writer (64k rows, ~64 MB at d=256)
CHECKPOINT_ROWS = UNIT_ROWS * WRITE_UNITS * 16  # ~10^6 rows between fsyncs of a resumable run
ITEM_ROWS = 1 << 22  # item rows per streamed chunk of items.parquet
MAX_BACKGROUND_CLUSTERS = 4_096
BACKGROUND_SPREAD = (0.8, 1.6)  # within-cluster cosine ~0.3-0.6: loose, overlapping in low dim
CONCEPT_SPREAD = (0.3, 1.8)  # within-concept cosine ~0.2-0.9: from tight to looser than the background
CONCEPT_OFFSET = (0.5, 1.2)  # distance of a fragment's centre from its host background centre
FRAGMENTED_SHARE = 0.3  # share of concepts split into sub-clusters
MAX_FRAGMENTS = 8
MIN_FRAGMENT_ROWS = 2  # a concept is only split if every fragment keeps at least this many rows
_LAYOUT_STREAM, _UNIT_STREAM = 0, 1


def parse_prevalence(text: str) -> tuple[float, float]:
    """ "LO..HI" or a single value (then LO = HI), as given to `--prevalence`."""
    parts = text.split("..")
    try:
        if len(parts) > 2:
            raise ValueError
        lo, hi = float(parts[0]), float(parts[-1])
    except ValueError:
        raise InvalidParameterError(
            f"prevalence: expected LO..HI (e.g. 0.0002..0.002) or one value, got {text!r}", params=["prevalence"]
        ) from None
    return lo, hi


def parse_fragments(text: str | None) -> tuple[int, int] | None:
    """ "LO..HI" or one count, as given to `--fragments`; None keeps the default mix."""
    if text is None:
        return None
    parts = text.split("..")
    try:
        lo, hi = int(parts[0]), int(parts[-1])
        if len(parts) > 2 or not 1 <= lo <= hi:
            raise ValueError
    except ValueError:
        raise InvalidParameterError(
            f"fragments: expected LO..HI with 1 <= LO <= HI (e.g. 3..10), got {text!r}", params=["fragments"]
        ) from None
    return lo, hi


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], size: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]), size))


def _unit_vectors(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((count, dim), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _check_arguments(
    n: int, dim: int, n_concepts: int, prevalence: tuple[float, float], test_frac: float, seed: int
) -> None:
    lo, hi = prevalence
    problems = [
        (n <= 0, f"n must be positive, got {n}"),
        (dim <= 0, f"dim must be positive, got {dim}"),
        (n_concepts <= 0, f"concepts must be positive, got {n_concepts}"),
        (not 0 < lo <= hi < 1, f"prevalence must satisfy 0 < LO <= HI < 1, got {lo}..{hi}"),
        (not 0 <= test_frac < 1, f"test_frac must be in [0, 1), got {test_frac}"),
        (seed < 0, f"seed must be >= 0, got {seed}"),
    ]
    for bad, message in problems:
        if bad:
            raise InvalidParameterError(message)
    if n_concepts * hi > 1:
        raise InvalidParameterError(
            f"{n_concepts} concepts at prevalence up to {hi} need more than all {n} items "
            "(concepts × HI > 1); lower n_concepts or the prevalence",
            params=["n_concepts", "prevalence"],
        )
    if math.ceil(lo * n) > math.floor(hi * n):
        raise InvalidParameterError(
            f"no whole number of items out of n={n} has a prevalence in {lo}..{hi}; raise n or widen prevalence",
            params=["n", "prevalence"],
        )


@dataclass(frozen=True)
class SyntheticPlan:
    """Everything about the dataset except the vectors, which `rows` generates on demand."""

    n: int
    dim: int
    seed: int
    centres: np.ndarray  # (clusters, dim) float32 unit vectors: background first, then concept fragments
    scales: np.ndarray  # (clusters,) float32 per-coordinate noise deviation
    background_cdf: np.ndarray  # cumulative size shares of the background clusters
    member_rows: np.ndarray  # sorted int64 rows that belong to a concept
    member_cluster: np.ndarray  # int64 centre index of each member row
    concepts: pd.DataFrame  # row, concept: the ground truth
    concept_meta: pd.DataFrame  # concept, n_items, prevalence, spread, offset, fragments
    test: np.ndarray  # bool per row: in the test split

    def _unit(self, unit: int) -> np.ndarray:
        start = unit * UNIT_ROWS
        stop = min(start + UNIT_ROWS, self.n)
        rng = np.random.default_rng([self.seed, _UNIT_STREAM, unit])
        background = len(self.background_cdf)
        cluster = np.minimum(np.searchsorted(self.background_cdf, rng.random(stop - start)), background - 1)
        first, last = np.searchsorted(self.member_rows, [start, stop])
        cluster[self.member_rows[first:last] - start] = self.member_cluster[first:last]
        block = rng.standard_normal((stop - start, self.dim), dtype=np.float32)
        block *= self.scales[cluster, None]
        block += self.centres[cluster]
        return block

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 before L2 normalisation, float32."""
        if not 0 <= start < stop <= self.n:
            raise InvalidParameterError(f"row range {start}..{stop} is empty or outside 0..{self.n}")
        units = range(start // UNIT_ROWS, -(-stop // UNIT_ROWS))
        block = np.concatenate([self._unit(unit) for unit in units])
        offset = units.start * UNIT_ROWS
        return block[start - offset : stop - offset]


def _cluster_of_member(counts: np.ndarray, fragments: np.ndarray, n_background: int) -> np.ndarray:
    """The cluster of each concept member (members grouped by concept): a concept's members are
    dealt round-robin over its fragments, which come after the background clusters."""
    concept_of_member = np.repeat(np.arange(counts.size), counts)
    position = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    first_fragment = n_background + np.cumsum(fragments) - fragments
    return first_fragment[concept_of_member] + position % fragments[concept_of_member]


def _concept_meta(names, counts, n: int, spread, offset, fragments) -> pd.DataFrame:
    """One row per concept: its size, prevalence and the geometry it was drawn with."""
    return pd.DataFrame(
        {
            "concept": names,
            "n_items": counts,
            "prevalence": counts / n,
            "spread": spread,
            "offset": offset,
            "fragments": fragments,
        }
    )


def plan_synthetic(
    *,
    n: int,
    dim: int,
    n_concepts: int,
    prevalence: tuple[float, float],
    test_frac: float = 0.1,
    seed: int = 0,
    fragments: tuple[int, int] | None = None,
) -> SyntheticPlan:
    """Draw the clusters, the concept members and the split (see the module docstring).

    `fragments` (LO, HI) splits every concept into LO..HI separate clusters (uniform), the
    fragmented concepts the recall-estimate benchmark needs; None keeps the default mix
    (FRAGMENTED_SHARE of the concepts in 2..MAX_FRAGMENTS). The draws are the same either way,
    so the default layout does not change."""
    _check_arguments(n, dim, n_concepts, prevalence, test_frac, seed)
    if fragments is not None and not 1 <= fragments[0] <= fragments[1]:
        raise InvalidParameterError(
            f"fragments: expected LO..HI with 1 <= LO <= HI, got {fragments}", params=["fragments"]
        )
    lo, hi = prevalence
    rng = np.random.default_rng([seed, _LAYOUT_STREAM])
    n_background = min(max(round(math.sqrt(n)), 1), MAX_BACKGROUND_CLUSTERS)
    weights = rng.lognormal(0.0, 0.5, n_background)
    background_spread = _log_uniform(rng, BACKGROUND_SPREAD, n_background)

    counts = np.clip(np.round(_log_uniform(rng, prevalence, n_concepts) * n), math.ceil(lo * n), math.floor(hi * n))
    counts = counts.astype(np.int64)
    concept_spread = _log_uniform(rng, CONCEPT_SPREAD, n_concepts)
    wanted = np.where(rng.random(n_concepts) < FRAGMENTED_SHARE, rng.integers(2, MAX_FRAGMENTS + 1, n_concepts), 1)
    if fragments is not None:
        wanted = np.random.default_rng([seed, _LAYOUT_STREAM, 1]).integers(fragments[0], fragments[1] + 1, n_concepts)
    fragments = np.maximum(np.minimum(wanted, counts // MIN_FRAGMENT_ROWS), 1)
    members = rng.choice(n, int(counts.sum()), replace=False)  # random order: consecutive slices are random sets
    concept_of_member = np.repeat(np.arange(n_concepts), counts)
    cluster_of_member = _cluster_of_member(counts, fragments, n_background)

    offset = _log_uniform(rng, CONCEPT_OFFSET, n_concepts)
    background_centres = _unit_vectors(rng, n_background, dim)
    hosts = rng.integers(0, n_background, int(fragments.sum()))
    shifted = background_centres[hosts] + np.repeat(offset, fragments)[:, None] * _unit_vectors(rng, len(hosts), dim)
    centres = np.concatenate([background_centres, shifted / np.linalg.norm(shifted, axis=1, keepdims=True)])
    spread = np.concatenate([background_spread, np.repeat(concept_spread, fragments)])
    order = np.argsort(members)
    names = np.array([f"concept{i:0{len(str(n_concepts - 1))}d}" for i in range(n_concepts)])
    return SyntheticPlan(
        n=n,
        dim=dim,
        seed=seed,
        centres=centres.astype(np.float32),
        scales=(spread / math.sqrt(dim)).astype(np.float32),
        background_cdf=np.cumsum(weights) / weights.sum(),
        member_rows=members[order],
        member_cluster=cluster_of_member[order],
        concepts=pd.DataFrame({"row": members[order], "concept": names[concept_of_member[order]]}),
        concept_meta=_concept_meta(names, counts, n, concept_spread, offset, fragments),
        test=rng.random(n) < test_frac,
    )


def build_synthetic_dataset(
    out: str | Path,
    *,
    n: int,
    dim: int = 256,
    n_concepts: int = 100,
    prevalence: tuple[float, float] = (0.0002, 0.002),
    test_frac: float = 0.1,
    seed: int = 0,
    progress: Progress | None = None,
    fragments: tuple[int, int] | None = None,
    dtype: str = "float32",
) -> Dataset:
    """Generate and write the dataset directory `out` in blocks (never the whole matrix in memory).

    Besides the standard layout it holds `concept_meta.parquet` (concept, n_items, prevalence,
    spread, fragments). Same arguments, same bytes in embeddings.npy. `dtype` float16 halves the
    file (rows are rounded after normalisation).

    Resumable: the rows go into `.OUT.partial` beside `out`, recorded every CHECKPOINT_ROWS rows
    once they are on disk (`DatasetWriter.checkpoint`); a killed run called again with the same
    arguments regenerates only the rows after the last checkpoint, and the result is the same
    bytes as an uninterrupted run (every unit of rows has its own seed). The item table is
    streamed after the vectors (10^8 string ids would not fit in memory whole).
    """
    plan = plan_synthetic(
        n=n, dim=dim, n_concepts=n_concepts, prevalence=prevalence, test_frac=test_frac, seed=seed, fragments=fragments
    )
    lo, hi = prevalence
    with DatasetWriter(
        out, n, dim, dtype=dtype,
        embedder=f"synthetic(concepts={n_concepts}, prevalence={lo}..{hi}, seed={seed}"
        + (f", fragments={fragments[0]}..{fragments[1]})" if fragments else ")"),
        concepts=plan.concepts,
        tables={"concept_meta": plan.concept_meta},
        source_label="synthetic embeddings",
        resumable=True,
    ) as writer:  # fmt: skip
        step = UNIT_ROWS * WRITE_UNITS
        for start in range(writer.written, n, step):
            writer.append(plan.rows(start, min(start + step, n)))
            if writer.written % CHECKPOINT_ROWS == 0 or writer.written == n:
                writer.checkpoint()
            if progress:
                progress(writer.written, n)
        _stream_items(writer, plan.test)
        return writer.finish()


def _stream_items(writer: DatasetWriter, test: np.ndarray) -> None:
    """The item table (row, id, split) in chunks of ITEM_ROWS rows."""
    names = np.array(["pool", "test"])
    for start in range(0, len(test), ITEM_ROWS):
        split = names[test[start : start + ITEM_ROWS].astype(np.int8)]
        writer.append_items(pd.DataFrame({"split": split}), ("synthetic items", start))
