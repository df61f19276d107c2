"""`seals import` and `seals embed`: bring your own vectors, or your own texts to embed.

Both commands call
one library function each; progress callbacks become bars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealsearch.cli import options as opt
from sealsearch.cli.data import check_new_dataset
from sealsearch.cli.output import out, progress_bar, progress_bars, user_errors
from sealsearch.embedders import embedder_choices  # the registry only: no model is loaded
from sealsearch.errors import InvalidParameterError

app = opt.Typer()
Column = Annotated[str | None, typer.Option(help="Column name (default: found by name).")]
ImportEmbedder = Annotated[
    str | None,
    typer.Option(
        help=f"The model that made the vectors, so text queries can use it: {embedder_choices()}. "
        "Left out: unknown (items are found by id and 'more like this', not by a text query)."
    ),
]
Weights = Annotated[
    Path | None,
    typer.Option(help="With --embedder clip: the local Hugging Face CLIP checkpoint directory (never downloaded)."),
]


FromSource = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="A Parquet table (id, text, vector, ...), a folder or glob of Parquet shards, a clip-retrieval "
        "output folder, or .npy shards (with --metadata).",
    ),
]
EmbeddingsFile = Annotated[
    Path | None, typer.Option(help="Or an N×d matrix: .npy, or .parquet with one vector column.")
]
ShardMetadata = Annotated[
    str | None, typer.Option(help="With .npy shards: their metadata Parquet (file, folder or glob), in row order.")
]
Modality = Annotated[str | None, typer.Option(help="clip-retrieval folder holding both: image or text embeddings.")]
LabelColumn = Annotated[
    str | None, typer.Option(help="A concept name or a list of them per item, written to concepts.parquet.")
]
MediaRoot = Annotated[Path | None, typer.Option(help="Directory the items' uris are relative to (local image files).")]
ImportDtype = Annotated[
    str | None, typer.Option(help="float32 or float16 on disk (default: keep float16, else float32).")
]
PcaDims = Annotated[
    int | None, typer.Option(min=1, max=opt.DIM_MAX, help="Reduce to this many PCA dimensions before normalising.")
]
PcaSample = Annotated[
    int | None,
    typer.Option(min=2, max=opt.COUNT_MAX, help="Rows (seeded random sample) the PCA is fitted on (default 100,000)."),
]


@app.command("import")
@user_errors
def import_command(
    out_dir: Annotated[Path, typer.Argument(help="Dataset directory to create (must not exist).")],
    source: FromSource = None,
    embeddings: EmbeddingsFile = None,
    items: Annotated[Path | None, typer.Option(help="items.parquet: id, text, uri, split ('pool'|'test').")] = None,
    labels: Annotated[Path | None, typer.Option(help="concepts.parquet: row, concept (long format).")] = None,
    metadata: ShardMetadata = None,
    modality: Modality = None,
    id_column: Column = None,
    vector_column: Annotated[str | None, typer.Option(help="List or fixed-size-list column of the vectors.")] = None,
    text_column: Column = None,
    uri_column: Column = None,
    split_column: Column = None,
    label_column: LabelColumn = None,
    row_ids: Annotated[bool, typer.Option(help="No id column: number the items 0..N-1.")] = False,
    media_root: MediaRoot = None,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the directory name).")] = None,
    embedder: ImportEmbedder = None,
    weights: Weights = None,
    dtype: ImportDtype = None,
    pca: PcaDims = None,
    whiten: Annotated[bool, typer.Option(help="With --pca: scale every kept component to unit variance.")] = False,
    pca_sample: PcaSample = None,
    pca_seed: Annotated[int, typer.Option(min=0, max=opt.SEED_MAX, help="Seed of that sample.")] = 0,
) -> None:
    """Validate your embeddings, L2-normalise them in chunks and write a dataset directory."""
    from sealsearch.data.importing import import_dataset, import_from
    from sealsearch.data.projection import PCA_SAMPLE_ROWS

    if (source is None) == (embeddings is None):
        raise InvalidParameterError("give exactly one of --from PATH or --embeddings FILE")
    check_new_dataset(out_dir, source, embeddings, items, labels, metadata, media_root)
    if source is not None:
        misplaced = [flag for flag, value in (("--items", items), ("--labels", labels), ("--pca", pca)) if value]
        if misplaced:
            raise InvalidParameterError(
                f"{misplaced[0]} goes with --embeddings; with --from, items and labels come from the columns "
                "(--label-column), and --pca is not supported yet"
            )
        columns = {
            "id": id_column, "vector": vector_column, "text": text_column, "uri": uri_column,
            "split": split_column, "label": label_column,
        }  # fmt: skip
        with progress_bar("importing rows") as progress:
            dataset = import_from(
                out_dir, source, metadata=metadata, modality=modality, columns=columns, row_ids=row_ids, name=name,
                embedder=embedder, dtype=dtype, media_root=media_root, progress=progress, weights=weights,
            )  # fmt: skip
        out.print(f"wrote {dataset.path}: {dataset.info.n} × {dataset.info.dim} {dataset.info.dtype}", highlight=False)
        return
    with progress_bars(*(["fitting PCA", "projecting"] if pca else ["normalising"])) as bars:
        dataset = import_dataset(
            out_dir, embeddings, items=items, labels=labels, name=name, embedder=embedder, dtype=dtype, pca=pca,
            whiten=whiten, pca_sample=PCA_SAMPLE_ROWS if pca_sample is None else pca_sample, pca_seed=pca_seed,
            progress=bars[-1], fit_progress=bars[0], media_root=media_root, weights=weights,
        )  # fmt: skip
    out.print(f"wrote {dataset.path}: {dataset.info.n} × {dataset.info.dim} {dataset.info.dtype}")
    if dataset.projection is not None:
        _print_projection(dataset.projection)


def _print_projection(p) -> None:
    """The PCA an import fitted, and the share of the variance it kept."""
    how = "whitened PCA" if p.whiten else "PCA"
    out.print(
        f"{how} {p.source_dim} → {p.dim} fitted on {p.sample_rows:,} sampled rows: "
        f"{p.variance_kept:.1%} of the variance kept"
    )


@app.command("embed")
@user_errors
def embed_command(
    out_dir: Annotated[Path, typer.Argument(help="Dataset directory to create (must not exist).")],
    source: Annotated[
        Path,
        typer.Option(
            "--from",
            help="Your texts: a .csv, .jsonl or .parquet table. With --embedder clip also images: a folder "
            "(searched recursively) or a table with an image path column.",
        ),
    ],
    text_column: Annotated[str | None, typer.Option(help="Column of the texts (default: found by name).")] = None,
    id_column: Annotated[
        str | None, typer.Option(help="Column of the item ids (default: id, else row numbers).")
    ] = None,
    split_column: Column = None,
    label_column: Annotated[str | None, typer.Option(help="A concept name (or list) per item.")] = None,
    image_column: Annotated[
        str | None, typer.Option(help="With clip: the column of image file paths (default: found by name).")
    ] = None,
    embedder: Annotated[
        str,
        typer.Option(
            help="glove: mean GloVe-50d, fast. minilm: all-MiniLM-L6-v2 384-d (text extra). "
            "clip: images and text in one space, from --weights DIR (image extra)."
        ),
    ] = "glove",
    weights: Weights = None,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the directory name).")] = None,
    executor: opt.LocalOrRay = "local",
    address: opt.Address = None,
) -> None:
    """Embed your own texts or images into a dataset (resumable: finished chunks are kept until it completes)."""
    from sealsearch.datasets.images import embed_image_source, is_image_source
    from sealsearch.datasets.texts import embed_text_table
    from sealsearch.embedders import resolve_embedder

    check_new_dataset(out_dir, source)
    if "image" in resolve_embedder(embedder).modalities and is_image_source(source, image_column):
        columns = {"id": id_column, "uri": image_column, "text": text_column, "split": split_column}
        with progress_bar(f"embedding images ({embedder}, {executor})") as progress:
            dataset = embed_image_source(
                out_dir, source, weights=weights, embedder=embedder, columns={**columns, "label": label_column},
                name=name, executor=executor, address=address, progress=progress,
            )  # fmt: skip
        out.print(f"wrote {dataset.path}: {dataset.info.n} images under {dataset.media_dir}", highlight=False)
        return
    if source.is_dir():
        raise InvalidParameterError(f"--from {source}: a folder of images needs an image embedder (--embedder clip)")
    with progress_bar(f"embedding ({embedder}, {executor})") as progress:
        dataset = embed_text_table(
            out_dir, source, text_column=text_column, id_column=id_column, split_column=split_column,
            label_column=label_column, embedder=embedder, weights=weights, name=name, executor=executor,
            address=address, progress=progress,
        )  # fmt: skip
    out.print(
        f"wrote {dataset.path}: {dataset.info.n} × {dataset.info.dim} embedded by {dataset.info.embedder}",
        highlight=False,
    )
