"""Rank every item of a dataset with a classifier trained on a labels file (`seals predict`).

The labels a run or a person produced are what lasts; this turns them into a ranking of all N
items. Scoring uses the block scan of the All baseline (sealsearch.data.scan), so memory holds a few
blocks and one float per item, never the N×d matrix, and the item table is read only for the
top rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from sealsearch._util import Progress, single_threaded_blas
from sealsearch.active.learner import default_learner, fit_learner, positive_proba
from sealsearch.active.strategies import select_top
from sealsearch.data.dataset import Dataset
from sealsearch.data.scan import score_rows
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError

LABEL_COLUMNS = ("round", "row", "label")
"""Columns of a labels file, as `RunResult.save` (`seals run --out`) writes them."""


def read_labels(path: str | Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows and their 0/1 labels from a labels file, checked against a dataset of n rows."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"{path}: labels file not found; `seals run --out RUN.parquet` writes RUN.labels.parquet"
        )
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InvalidDataError(f"{path}: not a readable parquet file ({exc})") from None
    missing = [c for c in LABEL_COLUMNS if c not in table.columns]
    if missing:
        raise InvalidDataError(f"{path}: needs columns {', '.join(LABEL_COLUMNS)} (as `seals run --out` writes them), "
                               f"missing {missing}")  # fmt: skip
    if table.empty:
        raise InvalidDataError(f"{path}: holds no labels; label a few items first")
    rows = pd.to_numeric(table["row"], errors="coerce")
    if rows.isna().any() or (rows % 1 != 0).any():
        raise InvalidDataError(f"{path}: column 'row' must hold integers")
    rows = rows.to_numpy(dtype=np.int64)
    outside = (rows < 0) | (rows >= n)
    if outside.any():
        raise InvalidDataError(
            f"{path}: row {rows[outside][0]} is outside 0..{n - 1} (the dataset has {n} rows); "
            "were these labels made on another dataset?"
        )
    labels = pd.to_numeric(table["label"], errors="coerce").to_numpy()
    if not np.isin(labels, (0, 1)).all():
        raise InvalidDataError(f"{path}: column 'label' must hold 0 (negative) or 1 (positive)")
    given = pd.DataFrame({"row": rows, "label": labels.astype(np.int8)}).drop_duplicates()
    twice = given["row"].duplicated()
    if twice.any():
        raise InvalidDataError(f"{path}: row {given['row'][twice].iloc[0]} is labeled both 0 and 1; keep one label")
    given = given.sort_values("row")
    return given["row"].to_numpy(), given["label"].to_numpy()


def predict_top(
    dataset: Dataset,
    labels_path: str | Path,
    *,
    top: int = 1000,
    learner: BaseEstimator | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The `top` items by P(positive) under a learner (default: the loop's) trained on the labels.

    Columns: row, id, text (when the dataset has texts), score, label (the given label, or <NA>
    for unlabeled items); best first, ties to the lower row.
    """
    if top <= 0:
        raise InvalidParameterError(f"top (--top) must be positive, got {top}")
    rows, labels = read_labels(labels_path, dataset.info.n)
    store = dataset.embeddings
    with single_threaded_blas():  # one BLAS thread per block; the scan runs blocks on every core
        model = fit_learner(learner if learner is not None else default_learner(), store.take(rows), labels)
        scores = score_rows(store, None, lambda vectors: positive_proba(model, vectors), progress=progress)
    best = select_top(scores, top)
    known = pd.array(np.full(best.size, pd.NA), dtype="Int8")
    labeled = np.searchsorted(rows, best).clip(max=rows.size - 1)
    hit = rows[labeled] == best
    known[hit] = labels[labeled[hit]]
    items = dataset.items_at(best)
    return pd.concat(
        [pd.DataFrame({"row": best}), items, pd.DataFrame({"score": scores[best], "label": known})], axis=1
    )
