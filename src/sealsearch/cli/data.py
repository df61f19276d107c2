"""Datasets: `seals dataset wordnet|synthetic|digits`, `seals import`, `seals concepts`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealsearch.cli.options import DatasetArg, Seed
from sealsearch.cli.output import out, progress_bar, progress_bars, user_errors

app = typer.Typer()
dataset_app = typer.Typer(help="Build the embedded demo datasets.", no_args_is_help=True)
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
) -> None:
    """WordNet 3.0 nouns as items; concepts = synsets with 40–1,000 hyponyms."""
    from sealsearch.datasets.wordnet import build_wordnet_dataset

    with progress_bars(f"embedding ({embedder})", "writing embeddings") as (embed_progress, progress):
        dataset = build_wordnet_dataset(
            out_dir, wordnet_dir=wordnet_dir, embedder=embedder, progress=progress, embed_progress=embed_progress
        )
    out.print(f"wrote {dataset.path}: {dataset.info.n} items, {len(dataset.concept_names())} concepts")


@dataset_app.command("synthetic")
@user_errors
def dataset_synthetic(
    out_dir: Annotated[Path, typer.Argument(help="Directory to create (must not exist).")],
    n: Annotated[int, typer.Option(help="Number of items (10^7 × 256 is 10 GB on disk).")],
    dim: Annotated[int, typer.Option(help="Embedding dimension.")] = 256,
    concepts: Annotated[int, typer.Option(help="Number of rare concepts.")] = 100,
    prevalence: Annotated[str, typer.Option(help="Concept prevalence range LO..HI, or one value.")] = "0.0002..0.002",
    test_frac: Annotated[float, typer.Option(help="Share of items in the test split.")] = 0.1,
    seed: Seed = 0,
) -> None:
    """Clustered embeddings with rare (some fragmented) concepts, for scale benchmarks."""
    from sealsearch.datasets.synthetic import build_synthetic_dataset, parse_prevalence

    bounds = parse_prevalence(prevalence)
    with progress_bar("generating embeddings") as progress:
        dataset = build_synthetic_dataset(
            out_dir, n=n, dim=dim, n_concepts=concepts, prevalence=bounds, test_frac=test_frac, seed=seed,
            progress=progress,
        )  # fmt: skip
    out.print(f"wrote {dataset.path}: {dataset.info.n} × {dataset.info.dim}, {len(dataset.concept_names())} concepts")


@app.command("import")
@user_errors
def import_command(
    out_dir: Annotated[Path, typer.Argument(help="Dataset directory to create (must not exist).")],
    embeddings: Annotated[Path, typer.Option(help="N×d matrix: .npy, or .parquet with one vector column.")],
    items: Annotated[Path | None, typer.Option(help="items.parquet: id, text, uri, split ('pool'|'test').")] = None,
    labels: Annotated[Path | None, typer.Option(help="concepts.parquet: row, concept (long format).")] = None,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the directory name).")] = None,
    embedder: Annotated[str, typer.Option(help="What produced the vectors, for the record.")] = "imported",
    dtype: Annotated[
        str | None, typer.Option(help="float32 or float16 on disk (default: keep float16, else float32).")
    ] = None,
    pca: Annotated[int | None, typer.Option(help="Reduce to this many PCA dimensions before normalising.")] = None,
    whiten: Annotated[bool, typer.Option(help="With --pca: scale every kept component to unit variance.")] = False,
    pca_sample: Annotated[
        int | None, typer.Option(help="Rows (seeded random sample) the PCA is fitted on (default 100,000).")
    ] = None,
    pca_seed: Annotated[int, typer.Option(help="Seed of that sample.")] = 0,
) -> None:
    """Validate your embeddings, L2-normalise them in chunks and write a dataset directory."""
    from sealsearch.data.importing import import_dataset
    from sealsearch.data.projection import PCA_SAMPLE_ROWS

    with progress_bars(*(["fitting PCA", "projecting"] if pca else ["normalising"])) as bars:
        dataset = import_dataset(
            out_dir,
            embeddings,
            items=items,
            labels=labels,
            name=name,
            embedder=embedder,
            dtype=dtype,
            pca=pca,
            whiten=whiten,
            pca_sample=PCA_SAMPLE_ROWS if pca_sample is None else pca_sample,
            pca_seed=pca_seed,
            progress=bars[-1],
            fit_progress=bars[0],
        )
    out.print(f"wrote {dataset.path}: {dataset.info.n} × {dataset.info.dim} {dataset.info.dtype}")
    if dataset.projection is not None:
        p = dataset.projection
        how = "whitened PCA" if p.whiten else "PCA"
        out.print(
            f"{how} {p.source_dim} → {p.dim} fitted on {p.sample_rows:,} sampled rows: "
            f"{p.variance_kept:.1%} of the variance kept"
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
        int | None, typer.Option(help="Make this digit's concept rare: keep only --rare-keep of its images.")
    ] = None,
    rare_keep: Annotated[int, typer.Option(help="Images of --rare-digit kept (18 ≈ 1% of the rest).")] = 18,
    seed: Annotated[int, typer.Option(help="Seed of the test split and of the --rare-digit sample.")] = 0,
) -> None:
    """scikit-learn's 1,797 handwritten digits as 64×64 PNGs, embedded by their pixels; concepts digit-0…9."""
    from sealsearch.datasets.digits import build_digits_dataset

    with progress_bar("writing PNGs") as progress:
        dataset = build_digits_dataset(
            out_dir, rare_digit=rare_digit, rare_keep=rare_keep, seed=seed, progress=progress
        )
    out.print(
        f"wrote {dataset.path}: {dataset.info.n} images under {dataset.media_dir}, "
        f"{len(dataset.concept_names())} concepts",
        soft_wrap=True, highlight=False,
    )  # fmt: skip
