"""Embedding batches of texts with Ray Data (`seals embed|dataset wordnet ... --executor ray`).

`embed_on_ray(name, batches)` makes a Ray Dataset of one block per batch (`ray.data.from_arrow`),
maps `embed_batch` over it with `map_batches(batch_size=None)` — a batch is a whole block, so each
call embeds exactly the texts the local loop embeds in one call — and yields each batch's vectors
in order (`preserve_order`) as they stream back, so the caller checkpoints and writes them as they
land. Only texts travel to the workers; each worker process loads the model once (`embed_batch`
keeps one per name) and embeds every batch it is given.

Vectors equal the local path's: GloVe means are computed per text, so they are bit-identical;
MiniLM's differ only by float rounding when a worker's torch runs another thread count
(tested to 1e-5). At 10^10 items the batches would be read from Parquet shards by the workers
(`ray.data.read_parquet`); here the driver reads the table, as the local path does, because the
dataset writer checks ids and splits before any text is embedded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from sealsearch._ray import ray_session
from sealsearch.embedders import embed_batch
from sealsearch.errors import MissingExtraError


def _ray_data() -> Any:
    try:
        import ray.data
    except ImportError as exc:  # ray without its data extra (pyarrow, pandas, fsspec)
        raise MissingExtraError(
            f"executor ray embeds with Ray Data ({exc.name} is missing): pip install 'sealsearch[ray]'",
            params=["executor"],
        ) from None
    return ray.data


def _embed_block(block: dict[str, np.ndarray], name: str, weights: str | None, modality: str) -> dict[str, np.ndarray]:
    """What `map_batches` runs on each block: the local path's `embed_batch`, rows carried along."""
    return {"row": block["row"], "vector": embed_batch(name, block["text"].tolist(), weights, modality)}  # type: ignore[arg-type]


def embed_on_ray(
    name: str,
    batches: Sequence[Sequence[str]],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    weights: str | None = None,
    modality: str = "text",
) -> Iterator[np.ndarray]:
    """The float32 vectors of each batch, in order, embedded by Ray Data workers (see the module
    docstring): a local Ray of `num_cpus` CPUs, or the cluster at `address`."""
    if not batches:
        return
    data = _ray_data()  # before starting Ray: a missing extra fails at once
    with ray_session(address, num_cpus):
        import pyarrow as pa

        context = data.DataContext.get_current()
        saved = context.execution_options.preserve_order, context.enable_progress_bars
        quiet = logging.getLogger("ray.data")
        level = quiet.level
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False  # the caller draws its own bar
        quiet.setLevel(logging.ERROR)  # no "Starting execution of Dataset ..." lines on the terminal
        try:
            lengths = [len(batch) for batch in batches]
            firsts = np.cumsum([0, *lengths])
            blocks = [
                pa.table({"row": np.arange(firsts[i], firsts[i + 1]), "text": pa.array(list(batch), pa.string())})
                for i, batch in enumerate(batches)
            ]
            model = {"name": name, "weights": weights, "modality": modality}
            dataset = data.from_arrow(blocks).map_batches(
                _embed_block, fn_kwargs=model, batch_size=None, batch_format="numpy"
            )
            yield from _regroup(dataset.iter_batches(batch_size=None, batch_format="numpy"), lengths)
        finally:
            context.execution_options.preserve_order, context.enable_progress_bars = saved
            quiet.setLevel(level)


def _regroup(outputs: Iterator[dict[str, np.ndarray]], lengths: list[int]) -> Iterator[np.ndarray]:
    """Cut the ordered stream of output blocks back into the batches (Ray may merge or split blocks)."""
    parts: list[np.ndarray] = []
    held = next_row = 0
    batch = 0
    for out in outputs:
        rows, vectors = out["row"], np.asarray(out["vector"], dtype=np.float32)
        if rows.size and not np.array_equal(rows, np.arange(next_row, next_row + rows.size)):
            raise RuntimeError(f"Ray Data returned rows out of order (expected {next_row}, got {int(rows[0])})")
        next_row += rows.size
        parts.append(vectors)
        held += rows.size
        while batch < len(lengths) and held >= lengths[batch]:
            joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
            yield joined[: lengths[batch]]
            parts, held = [joined[lengths[batch] :]], held - lengths[batch]
            batch += 1
    if batch != len(lengths):
        raise RuntimeError(f"Ray Data returned {next_row} of {sum(lengths)} embedded rows")
