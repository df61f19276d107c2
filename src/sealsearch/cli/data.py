"""Datasets: `seals dataset wordnet|synthetic|digits|regroup`, `seals concepts` (`seals import` is in importing.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from sealsearch.cli import options as opt
from sealsearch.cli.options import Address, DatasetArg, LocalOrRay, Seed
from sealsearch.cli.output import out, progress_bar, user_errors
from sealsearch.cli.paths import Output, check_outputs

app = opt.Typer()
dataset_app = opt.Typer(
    help="Build the embedded demo datasets; rewrite a dataset's item table (regroup).", no_args_is_help=True
)


def check_new_dataset(out_dir: Path, *reads: Path | str | None) -> None:
    """A dataset builder's OUT_DIR: never one of the files it reads, nor inside a dataset or
    project; inside a source folder (a media root, a folder of shards) is fine. An existing one is
    the builder's own rule (refused, or resumed by `embed` and `dataset wordnet`)."""
    files = [Path(p) for p in reads if p is not None and not Path(p).is_dir()]
    check_outputs(Output("OUT_DIR", out_dir, is_dir=True, exists_ok=True), reads=files)


app.add_typer(dataset_app, name="dataset")


@dataset_app.command("wordnet")
@user_errors
def dataset_wordnet(
    out_dir: Annotated[Path, typer.Argument(help="Directory to create.")],
    wordnet_dir: Annotated[Path, typer.Option(help="WordNet 3.0 dict directory (Debian: wordnet-base).")] = Path(
        "/usr/share/wordnet"
    ),
    embedder: Annotated[
        str, typer.Option(help="glove: mean GloVe-50d, seconds. minilm: all-MiniLM-L6-v2 384-d, minutes (text extra).")
    ] = "glove",
    executor: LocalOrRay = "local",
    address: Address = None,
) -> None:
    """WordNet 3.0 nouns as items; concepts = synsets with 40–1,000 hyponyms."""
    from sealsearch.datasets.wordnet import build_wordnet_dataset

    check_new_dataset(out_dir, wordnet_dir)
    with progress_bar(f"embedding ({embedder}, {executor})") as progress:
        dataset = build_wordnet_dataset(
            out_dir, wordnet_dir=wordnet_dir, embedder=embedder, progress=progress, executor=executor, address=address
        )
    out.print(f"wrote {dataset.path}: {dataset.info.n} items, {len(dataset.concept_names())} concepts")


@dataset_app.command("regroup")
@user_errors
def dataset_regroup(dataset: DatasetArg) -> None:
    """Rewrite items.parquet in row groups of 65,536 rows (same rows), the layout datasets are
    written in since 2026-12-06: each item a labeler is shown decodes one group."""
    from sealsearch.data.dataset import Dataset
    from sealsearch.data.row_groups import regroup

    file = Dataset.open(dataset, verify=False).path / "items.parquet"
    if not file.is_file():
        out.print(f"{dataset}: no items.parquet (ids are row numbers); nothing to rewrite")
        return
    with progress_bar("rewriting items.parquet") as progress:
        before, after = regroup(file, progress)
    out.print(f"{file}: {before:,} row groups -> {after:,}", highlight=False)


@dataset_app.command("synthetic")
@user_errors
def dataset_synthetic(
    out_dir: Annotated[Path, typer.Argument(help="Directory to create (must not exist).")],
    n: Annotated[int, typer.Option(min=2, max=opt.COUNT_MAX, help="Number of items (10^7 × 256 is 10 GB on disk).")],
    dim: Annotated[int, typer.Option(min=1, max=opt.DIM_MAX, help="Embedding dimension.")] = 256,
    concepts: Annotated[int, typer.Option(min=1, max=opt.COUNT_MAX, help="Number of rare concepts.")] = 100,
    prevalence: Annotated[str, typer.Option(help="Concept prevalence range LO..HI, or one value.")] = "0.0002..0.002",
    test_frac: Annotated[float, typer.Option(min=0, max=1, help="Share of items in the test split.")] = 0.1,
    seed: Seed = 0,
    fragments: Annotated[
        str | None, typer.Option(help="Split every concept into LO..HI separate clusters (e.g. 3..10).")
    ] = None,
    dtype: Annotated[
        Literal["float32", "float16"], typer.Option(help="Values on disk (float16: half the file).")
    ] = "float32",
) -> None:
    """Clustered embeddings with rare (some fragmented) concepts, for scale benchmarks.

    A killed run continues where it stopped when run again with the same arguments."""
    from sealsearch.datasets.synthetic import build_synthetic_dataset, parse_fragments, parse_prevalence

    bounds = parse_prevalence(prevalence)
    check_new_dataset(out_dir)
    with progress_bar("generating embeddings") as progress:
        dataset = build_synthetic_dataset(
            out_dir, n=n, dim=dim, n_concepts=concepts, prevalence=bounds, test_frac=test_frac, seed=seed,
            progress=progress, fragments=parse_fragments(fragments), dtype=dtype,
        )  # fmt: skip
    out.print(
        f"wrote {dataset.path}: {dataset.info.n} × {dataset.info.dim} {dataset.info.dtype}, "
        f"{len(dataset.concept_names())} concepts"
    )


@app.command("concepts")
@user_errors
def concepts_command(dataset_dir: DatasetArg) -> None:
    """List the ground-truth concepts with their positives per split."""
    from sealsearch.data.dataset import Dataset

    out.print(Dataset.open(dataset_dir).concept_counts().to_string(index=False))


@dataset_app.command("digits")
@user_errors
def dataset_digits(
    out_dir: Annotated[Path, typer.Argument(help="Directory to create (must not exist).")],
    rare_digit: Annotated[
        int | None,
        typer.Option(min=0, max=9, help="Make this digit's concept rare: keep only --rare-keep of its images."),
    ] = None,
    rare_keep: Annotated[
        int, typer.Option(min=2, max=opt.COUNT_MAX, help="Images of --rare-digit kept (18 ≈ 1% of the rest).")
    ] = 18,
    seed: Annotated[
        int, typer.Option(min=0, max=opt.SEED_MAX, help="Seed of the test split and of the --rare-digit sample.")
    ] = 0,
    embedder: Annotated[
        str, typer.Option(help="pixels: the 64 pixel values. clip: the PNGs through CLIP (--weights), text-queryable.")
    ] = "pixels",
    weights: Annotated[
        Path | None, typer.Option(help="With --embedder clip: a local CLIP checkpoint directory.")
    ] = None,
) -> None:
    """scikit-learn's 1,797 handwritten digits as 64×64 PNGs, embedded by their pixels (or CLIP); concepts digit-0…9."""
    from sealsearch.datasets.digits import build_digits_dataset

    check_new_dataset(out_dir)
    with progress_bar("writing PNGs") as progress:
        dataset = build_digits_dataset(
            out_dir, rare_digit=rare_digit, rare_keep=rare_keep, seed=seed, progress=progress, embedder=embedder,
            weights=weights,
        )  # fmt: skip
    out.print(
        f"wrote {dataset.path}: {dataset.info.n} images under {dataset.media_dir}, "
        f"{len(dataset.concept_names())} concepts",
        soft_wrap=True, highlight=False,
    )  # fmt: skip
