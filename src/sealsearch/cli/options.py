"""Options shared by several commands, declared once so every command spells them alike, and
the one parser of their values.

Conventions:
- Multi-valued flags (`--strategy`, `--pool`, `--k`, `--seed-pos`, `--dedup`) take a value per
  repetition, a comma-separated list, or both: `--pool all --pool seals` = `--pool all,seals`.
  Commands that run a single setting (`seals run`) take exactly one.
- `--concepts` is a count to sample (seeded) or comma-separated names; `--concept NAME`
  (repeatable) names concepts verbatim, for names that hold a comma.
- `--out` is where a command writes (`cli/paths.py` checks it), `--force` replaces an existing
  output; a bad value anywhere is a one-line `error:` and exit code 2, and every numeric flag
  declares its range (`min=`/`max=`), so an out-of-range value names the flag and the range.
- Old spellings (`DEPRECATED_FLAGS`, `DEPRECATED_VALUES`) keep working for one release with a
  `deprecated:` note, through the one `Command` class every command uses (`Typer` below).

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


def codes_modes() -> tuple[str, ...]:
    from sealsearch.data.codes import CODES_MODES

    return tuple(CODES_MODES)


def backend_names() -> tuple[str, ...]:
    from sealsearch.index.backends import backend_names

    return backend_names()


REGISTRIES: dict[str, Callable[[], tuple[str, ...]]] = {
    "strategy": strategy_names,
    "pool": pool_names,
    "knn": knn_sources,
    "backend": backend_names,
    "codes": codes_modes,
}
"""The registry behind each `kind` of `names()`."""
PLACEHOLDERS = {
    "{strategies}": "strategy", "{pools}": "pool", "{knn_sources}": "knn", "{backends}": "backend",
    "{codes_modes}": "codes",
}  # fmt: skip
"""Help-text placeholders `RegistryHelp` replaces with a registry's names."""


class RegistryHelp(TyperCommand):
    """A command whose option help may name `{strategies}`, `{pools}` and `{knn_sources}`, filled from the
    registries the first time the command's parameters are needed (its help or its run)."""

    def get_params(self, ctx: typer.Context) -> list:
        params = super().get_params(ctx)
        for param in params:
            for placeholder, kind in PLACEHOLDERS.items():
                if placeholder in (getattr(param, "help", None) or ""):
                    param.help = param.help.replace(placeholder, ", ".join(REGISTRIES[kind]()))
        return params


# -- one command class for every command: deprecated spellings, one-line usage errors -----------
DEPRECATED_FLAGS = {
    "--output": "--out",  # export, until issue 22: outputs are --out in every command
    "--strategies": "--strategy",  # experiment, until the CLI split (9fc4f1c)
    "--pools": "--pool",  # experiment, until the CLI split (9fc4f1c)
    "--media": "--media-root",  # serve, until issue 22: the same name as import's
}
"""Old flag spellings that still work, with a one-line note, on every command that has the new one."""
DEPRECATED_VALUES = {"--executor": {"process": "local"}}
"""Old values of a flag that still work (experiment's `--executor process` is now `local`)."""


USAGE_ERROR: type[Exception] = typer.BadParameter.__base__
"""click's UsageError (typer vendors click): bad values, missing and unknown options."""


def deprecation_note(old: str, new: str) -> None:
    typer.echo(f"deprecated: {old} is now {new} (the old spelling still works for now)", err=True)


def modernise(args: list[str], flags: set[str]) -> list[str]:
    """`args` with every deprecated flag spelling and value replaced by the current one (a note
    each), for a command whose flags are `flags`."""
    result: list[str] = []
    for i, token in enumerate(args):
        if token == "--":
            return result + args[i:]
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            new = DEPRECATED_FLAGS.get(name)
            if new is not None and new in flags and name not in flags:
                deprecation_note(name, new)
                name = new
            token = f"{name}={_current_value(name, value)}" if eq else name
        elif result and result[-1] in DEPRECATED_VALUES:
            token = _current_value(result[-1], token)
        result.append(token)
    return result


def _current_value(flag: str, value: str) -> str:
    new = DEPRECATED_VALUES.get(flag, {}).get(value)
    if new is None:
        return value
    deprecation_note(f"{flag} {value}", f"{flag} {new}")
    return new


class Command(RegistryHelp):
    """Every seals command: registry names in help, deprecated spellings accepted with a note
    (`DEPRECATED_FLAGS`, `DEPRECATED_VALUES`), and a bad flag value as one `error:` line (exit 2)
    instead of click's boxed usage text."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        flags = {name for param in self.get_params(ctx) for name in getattr(param, "opts", [])}
        return super().parse_args(ctx, modernise(list(args), flags))

    def make_context(self, info_name: str | None, args: list[str], parent: typer.Context | None = None, **extra: Any):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except USAGE_ERROR as exc:
            path = f"{parent.command_path} {info_name}" if parent is not None else info_name
            message = " ".join(usage_message(exc).split()).rstrip(".")
            typer.echo(f"error: {message}; see: {path} --help", err=True)
            raise typer.Exit(exc.exit_code) from None  # type: ignore[attr-defined]


def usage_message(exc: Exception) -> str:
    """click's message, plus the allowed range when the flag declares one."""
    message = exc.format_message()  # type: ignore[attr-defined]
    param = getattr(exc, "param", None)
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None or high is not None:
        message = f"{message.rstrip('.')} (allowed: {'' if low is None else low}..{'' if high is None else high})"
    return message


class Typer(typer.Typer):
    """`typer.Typer` whose commands are `Command`s, so no command misses the shared rules."""

    def command(self, *args: Any, cls: type | None = None, **kwargs: Any):
        return super().command(*args, cls=Command if cls in (None, RegistryHelp) else cls, **kwargs)


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


def codes(value: str) -> str:
    """A `--codes` value, checked against `sealsearch.data.codes.CODES_MODES` (did-you-mean on a typo)."""
    from sealsearch.data.codes import check_codes_mode

    return check_codes_mode(value)


def numbers(
    given: Iterable[str] | str | None, flag: str, convert: Callable[[str], Any] = int, low: int | None = None
) -> list:
    """`values` converted (int by default), each in `low`..COUNT_MAX when `low` is given; a bad one names the flag."""
    parts = values(given, flag)
    try:
        converted = [convert(part) for part in parts]
    except ValueError:
        raise InvalidParameterError(f"{flag} {','.join(parts)!r}: give comma-separated values, e.g. 10,100") from None
    for value in converted if low is not None else ():
        if not low <= value <= COUNT_MAX:
            raise InvalidParameterError(f"{flag} {value}: out of range (allowed: {low}..{COUNT_MAX})")
    return converted


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


# -- the shared options ------------------------------------------------------------------------
# Every numeric flag declares its range (click's min=/max=): an out-of-range value is one line
# naming the flag and the range, before any library code runs.
COUNT_MAX = 2**31 - 1
"""Largest count a flag takes (items, labels, neighbours): row numbers are int32-safe below it."""
SEED_MAX = 2**32 - 1
"""Largest seed numpy and scikit-learn accept."""
JOBS_MAX = 1024
DIM_MAX = 65536
"""Largest embedding dimension a flag takes."""

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
K = Annotated[
    int, typer.Option(min=1, max=COUNT_MAX, help="Neighbours added per labeled item (seals, adaptive pools).")
]
Ks = Annotated[list[str] | None, typer.Option("--k", help="Neighbour counts, repeated or comma-separated.")]
Budget = Annotated[int, typer.Option(min=1, max=COUNT_MAX, help="Total labels per run, seed set included.")]
Knn = Annotated[
    str,
    typer.Option(
        help="Where seals/adaptive pools find neighbours: {knn_sources}. graph = a stored kNN graph (`seals index "
        "graph`, refused without one), index = search the index every round, auto = the graph when one fits."
    ),
]
Codes = Annotated[
    str,
    typer.Option(
        help="Codes for seals pools: {codes_modes}. sq8 = score candidates on 1-byte-per-dimension codes held in "
        "RAM (built beside embeddings.npy on first use) and re-rank the best exactly; index = the same on the kNN "
        "index's own codes (an IVF index such as IVF4096,SQ8; no second copy); none = the exact float32 buffer; "
        "auto = when embeddings.npy exceeds half the memory available (cgroup limit included): index if the index "
        "holds codes of a byte or more per dimension, else sq8 if its codes (a quarter of it) fit in that half, "
        "else none (docs/scale.md)."
    ),
]
Batch = Annotated[int, typer.Option(min=1, max=COUNT_MAX, help="Labels per round.")]
SeedPos = Annotated[int, typer.Option(min=1, max=COUNT_MAX, help="Positives in the seed set.")]
SeedPosList = Annotated[
    list[str] | None, typer.Option("--seed-pos", help="Seed positives, repeated or comma-separated; batch = seed size.")
]
NegRatio = Annotated[int, typer.Option(min=0, max=COUNT_MAX, help="Seed negatives per seed positive.")]
Seed = Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Random seed (same seed, same result).")]
Factory = Annotated[
    str,
    typer.Option(
        help='Faiss index_factory string ("Flat", "HNSW32", "IVF4096,SQ8"), optionally with an exact re-ranking '
        'suffix ("IVF4096,PQ32,Rerank4"), or "auto"; built on first use and reused.'
    ),
]
Jobs = Annotated[int, typer.Option(min=1, max=JOBS_MAX, help="Processes running in parallel.")]
OutDir = Annotated[Path, typer.Option("--out", help="Directory the results are written to (created).")]
OutFile = Annotated[Path | None, typer.Option("--out", help="Write the result table here (.parquet).")]
Force = Annotated[
    bool, typer.Option("--force", help="Replace output files that already exist (never a file the command reads).")
]
Estimate = Annotated[
    str | None,
    typer.Option(
        help="Estimate recall each round: audit (labels a few random unlabeled items, which join the loop; "
        "a bound that holds) or model (free, biased, no guarantee)."
    ),
]
Audit = Annotated[
    int | None,
    typer.Option(
        min=1, max=COUNT_MAX, help="Audit labels per round for --estimate audit (default: a tenth of the batch)."
    ),
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
    str, typer.Option(help="Index backend: {backends} (the first is the default; a served one takes --uri).")
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
ExecutorName = Annotated[
    str,
    typer.Option(
        "--executor", help='Where cells run: "local" (processes of this machine, --jobs) or "ray" (Ray tasks).'
    ),
]
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
