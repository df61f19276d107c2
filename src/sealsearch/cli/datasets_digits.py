"""`seals dataset digits`: the small real image dataset (registered on the `dataset` group in app.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealsearch.cli.app import dataset_app, out, progress_bar, user_errors


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
