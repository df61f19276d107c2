"""Options shared by several commands, declared once so every command spells them alike, and
the one parser of their values.

Conventions:
- Multi-valued flags (`--strategy`, `--pool`, `--k`, `--seed-pos`, `--dedup`) take a value per
  repetition, a comma-separated list, or both: `--pool all --pool seals` = `--pool all,seals`.
  Commands that run a single setting (`seals run`) take exactly one.
- `--concepts` is a count to sample (seeded) or comma-separated names; `--concept NAME`
  (repeatable) names concepts verbatim, for names that hold a comma.
- `--out` is where a command writes; a bad value anywhere is a one-line `error:` and exit code 2.

Strategy and pool names and kNN sources, their help and their "did you mean" errors come from
the registries (`active.strategies.STRATEGY_NAMES`, `active.pools.POOL_NAMES`,
`active.knn.KNN_SOURCES`). Importing those loads Faiss and pandas, so help texts hold
`{strategies}` / `{pools}` / `{knn_sources}` and `RegistryHelp` fills them in only when a
command's help is shown; `seals --help` never imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from sealsearch.errors import InvalidParameterError

if TYPE_CHECKING:
    from sealsearch.data.dataset import Dataset


def strategy_names() -> tuple[str, ...]:
    from sealsearch.active.strategies import STRATEGY_NAMES

    return tuple(STRATEGY_NAMES)


def pool_names() -> tuple[str, ...]:
    from sealsearch.active.pools import POOL_NAMES

    return tuple(POOL_NAMES)


def knn_sources() -> tuple[str, ...]:
    from sealsearch.active.knn import KNN_SOURCES

    return tuple(KNN_SOURCES)


REGISTRIES: dict[str, Callable[[], tuple[str, ...]]] = {
    "strategy": strategy_names,
    "pool": pool_names,
    "knn": knn_sources,
}
"""The registry behind each `kind` of `names()`."""
PLACEHOLDERS = {"{strategies}": "strategy", "{pools}": "pool", "{knn_sources}": "knn"}
"""Help-text placeholders `RegistryHelp` replaces with a registry's names."""


class RegistryHelp(TyperCommand):
    """A command whose option help may name `{strategies}`, `{pools}` and `{knn_sources}`, filled from the
    registries the first time the command's parameters are needed (its help or its run)."""

    def get_params(self, ctx):  # noqa: ANN001 - click's signature
        params = super().get_params(ctx)
        for param in params:
            for placeholder, kind in PLACEHOLDERS.items():
                if placeholder in (getattr(param, "help", None) or ""):
                    param.help = param.help.replace(placeholder, ", ".join(REGISTRIES[kind]()))
        return params


# -- parsing: every multi-valued flag goes through `values` ---------------------------------
def values(given: Iterable[str] | str | None, flag: str) -> list[str]:
    """Repeated and comma-separated values of `flag`, flattened in order; never empty."""
    given = [given] if isinstance(given, str) else list(given or [])
    parts = [part.strip() for value in given for part in value.split(",")]
    if not given or not all(parts):
        raise InvalidParameterError(f"{flag} {','.join(given)!r}: give one or more comma-separated values")
    return parts


def names(given: Iterable[str] | str | None, flag: str, kind: str) -> list[str]:
    """`values` checked against the `kind` registry ("strategy" or "pool")."""
    from sealsearch._util import check_name

    choices = REGISTRIES[kind]()
    return [check_name(name, choices, kind) for name in values(given, flag)]


def knn(value: str) -> str:
    """A `--knn` value, checked against `sealsearch.active.knn.KNN_SOURCES` (did-you-mean on a typo)."""
    from sealsearch.active.knn import check_knn

    return check_knn(value)


def numbers(given: Iterable[str] | str | None, flag: str, convert: Callable[[str], Any] = int) -> list:
    """`values` converted (int by default); a bad one names the flag."""
    parts = values(given, flag)
    try:
        return [convert(part) for part in parts]
    except ValueError:
        raise InvalidParameterError(f"{flag} {','.join(parts)!r}: give comma-separated values, e.g. 10,100") from None


def threshold(value: str) -> float | None:
    """A `--dedup` value: a cosine, or none/off."""
    return None if value.lower() in ("none", "off") else float(value)


def concepts(dataset: Dataset, count_or_names: str, named: list[str] | None, *, seed_pos: int, seed: int) -> list[str]:
    """The concepts a command runs on: `--concept` names when given, else `--concepts` (a count
    to sample with at least `seed_pos` pool positives, or comma-separated names). Every name is
    checked, so an unknown concept fails before any work."""
    from sealsearch.experiments.simulate import pick_concepts

    if named:
        chosen = list(named)
    elif count_or_names.strip().isdigit():
        if int(count_or_names) <= 0:
            raise InvalidParameterError(f"--concepts must be positive, got {count_or_names}")
        return pick_concepts(dataset, int(count_or_names), seed_pos=seed_pos, seed=seed)
    else:
        chosen = values(count_or_names, "--concepts")
    for name in chosen:
        dataset.concept_rows(name)
    return chosen


def suffix(path: Path | None, flag: str, expected: str) -> Path | None:
    if path is not None and path.suffix != expected:
        raise InvalidParameterError(f"{flag} {path}: must end in {expected}")
    return path


# -- the shared options ------------------------------------------------------------------------
DatasetArg = Annotated[Path, typer.Argument(help="Dataset directory (see README: dataset layout).")]
ProjectDir = Annotated[Path, typer.Argument(help="Project directory (`seals project init`).")]
Concept = Annotated[str, typer.Option(help="Concept to find (see `seals concepts`).")]
Concepts = Annotated[str, typer.Option(help="A count of concepts to sample (seeded) or comma-separated names.")]
ConceptNames = Annotated[
    list[str] | None, typer.Option("--concept", help="Run this concept, verbatim (repeatable); overrides --concepts.")
]
Strategy = Annotated[str, typer.Option(help="Selection strategy: {strategies}.")]
Strategies = Annotated[
    list[str] | None, typer.Option("--strategy", help="Strategies, repeated or comma-separated: {strategies}.")
]
Pool = Annotated[str, typer.Option(help="Candidate pool: {pools}.")]
Pools = Annotated[list[str] | None, typer.Option("--pool", help="Pools, repeated or comma-separated: {pools}.")]
K = Annotated[int, typer.Option(help="Neighbours added per labeled item (seals, adaptive pools).")]
Ks = Annotated[list[str] | None, typer.Option("--k", help="Neighbour counts, repeated or comma-separated.")]
Budget = Annotated[int, typer.Option(help="Total labels per run, seed set included.")]
Knn = Annotated[
    str,
    typer.Option(
        help="Where seals/adaptive pools find neighbours: {knn_sources}. graph = a stored kNN graph (`seals index "
        "graph`, refused without one), index = search the index every round, auto = the graph when one fits."
    ),
]
Batch = Annotated[int, typer.Option(help="Labels per round.")]
SeedPos = Annotated[int, typer.Option(help="Positives in the seed set.")]
SeedPosList = Annotated[
    list[str] | None, typer.Option("--seed-pos", help="Seed positives, repeated or comma-separated; batch = seed size.")
]
NegRatio = Annotated[int, typer.Option(help="Seed negatives per seed positive.")]
Seed = Annotated[int, typer.Option(help="Random seed (same seed, same result).")]
Factory = Annotated[
    str,
    typer.Option(
        help='Faiss index_factory string ("Flat", "HNSW32", "IVF4096,SQ8"), optionally with an exact re-ranking '
        'suffix ("IVF4096,PQ32,Rerank4"), or "auto"; built on first use and reused.'
    ),
]
Jobs = Annotated[int, typer.Option(help="Processes running in parallel.")]
OutDir = Annotated[Path, typer.Option("--out", help="Directory the results are written to (created).")]
OutFile = Annotated[Path | None, typer.Option("--out", help="Write the result table here (.parquet).")]
Estimate = Annotated[
    str | None,
    typer.Option(
        help="Estimate recall each round: audit (labels a few random unlabeled items, which join the loop; "
        "a bound that holds) or model (free, biased, no guarantee)."
    ),
]
Audit = Annotated[
    int | None, typer.Option(help="Audit labels per round for --estimate audit (default: a tenth of the batch).")
]
Stop = Annotated[
    str | None,
    typer.Option(
        help="Stopping rule: target:R[:C] (the estimate's recall lower bound ≥ R at confidence C; with "
        "--estimate audit it holds at every look), zero:R[:C] (zero-label rule: assumes recent labels are at "
        "least as likely positive as random), knee[:MIN_LABELS], budget:N (both: no guarantee)."
    ),
]

# -- where the index lives and where cells run (`sealsearch[milvus]`, `sealsearch[ray]`) ----------
Backend = Annotated[
    str, typer.Option(help='Index backend: "faiss" (embedded, default) or "milvus" (milvus-lite or a server; --uri).')
]
Uri = Annotated[
    str | None,
    typer.Option(
        help="Milvus: a local path ending in .db (milvus-lite) or http://HOST:19530 (a server); "
        "default DATASET/index/milvus.db."
    ),
]
IndexType = Annotated[
    str | None,
    typer.Option(help="Milvus index type (FLAT, HNSW, HNSW_SQ, IVF_FLAT, IVF_SQ8[:nlist=N]); overrides --factory."),
]
ExecutorName = Annotated[str, typer.Option(help='Where cells run: "process" (local processes, --jobs) or "ray".')]
LocalOrRay = Annotated[
    str,
    typer.Option(
        "--executor",
        help='Where the batches run: "local" (this machine\'s cores) or "ray" (Ray tasks; `sealsearch[ray]`).',
    ),
]
ScanExecutor = Annotated[
    str,
    typer.Option(
        "--executor",
        help='Where --pool all/randpool scores its candidates each round: "local" (this machine\'s cores) or '
        '"ray" (shards of the embeddings file as Ray tasks; `sealsearch[ray]`). The same rows either way.',
    ),
]
Address = Annotated[
    str | None,
    typer.Option(
        help='With --executor ray: the Ray cluster to join ("auto" or HOST:PORT); default: a local Ray started for '
        "the command (of --jobs CPUs where the command has --jobs)."
    ),
]


def index_factory(factory: str, index_type: str | None, backend: str) -> str:
    """The factory a command builds: `--index-type` (Milvus only) or else `--factory`."""
    if index_type is None:
        return factory
    if backend != "milvus":
        raise InvalidParameterError(f"--index-type {index_type} names a Milvus index; add --backend milvus")
    return index_type
