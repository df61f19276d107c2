"""Rank every item of a dataset with a classifier trained on a labels file (`seals predict`).

The labels a run or a person produced are what lasts; this turns them into a ranking of all N
items. Scoring uses the block scan of the All baseline (sealsearch.data.scan), so memory holds a few
blocks and one float per item, never the N×d matrix, and the item table is read only for the
top rows. What is already labeled (a labels file, or a project concept's labels) is marked in
the `label`/`labeled` columns, or left out with `unlabeled=True`, so "what the model finds" is not
mostly what a person already judged. A `Scanner("ray")` runs the same block scan as Ray tasks over shards of the file
(`seals predict --executor ray`, sealsearch.data.shards), with identical scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from sealsearch._util import Progress, single_threaded_blas
from sealsearch.active.learner import default_learner, fit_learner, positive_proba
from sealsearch.active.strategies import select_top
from sealsearch.data.dataset import Dataset
from sealsearch.data.shards import Scanner
from sealsearch.errors import InvalidDataError, InvalidParameterError, MissingFileError

LABEL_COLUMNS = ("round", "row", "label")
"""Columns of a labels file, as `RunResult.save` (`seals run --out`) writes them."""
SKIP = -1
"""The label value of a judged but skipped item: marked as labeled, never trained on."""
Known = tuple[np.ndarray, np.ndarray]
"""(rows sorted ascending, labels 1 / 0 / SKIP): what a person or a run already judged."""


def known_from_events(effective: Mapping[int, Any]) -> Known:
    """A concept's effective label events (row -> event with `.label` "positive", "negative" or
    "skip", as `ConceptSession.effective()` gives them) as known labels."""
    rows = np.fromiter(effective, dtype=np.int64, count=len(effective))
    values = {"positive": 1, "negative": 0}
    labels = np.array([values.get(event.label, SKIP) for event in effective.values()], dtype=np.int8)
    order = np.argsort(rows, kind="stable")
    return rows[order], labels[order]


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


def load_model(path: str | Path, dataset: Dataset) -> BaseEstimator:
    """A classifier exported by `seals export --model` (a joblib file), checked against the dataset.

    Accepts a fitted estimator with `predict_proba` and a class 1, or a dict holding one under
    "model". joblib files are pickles: load only files you trust.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: model file not found; `seals export PROJECT --concept C --model M.joblib`")
    try:
        model = joblib.load(path)
    except Exception as exc:  # a pickle of anything can fail in any way; the user only needs to know which file
        raise InvalidDataError(f"{path}: not a joblib model file ({type(exc).__name__}: {exc})") from None
    if isinstance(model, dict) and "model" in model:
        model = model["model"]
    classes = getattr(model, "classes_", None)
    if not hasattr(model, "predict_proba") or classes is None or 1 not in np.asarray(classes).tolist():
        raise InvalidDataError(
            f"{path}: holds a {type(model).__name__}, not a fitted classifier with predict_proba and a class 1; "
            "export one with `seals export --model`"
        )
    try:
        positive_proba(model, dataset.embeddings.take(np.array([0])))
    except Exception as exc:  # wrong dimension, wrong feature names, ...: one line naming both sides
        raise InvalidDataError(
            f"{path}: this model cannot score {dataset.path} (vectors of dimension {dataset.info.dim}): "
            f"{type(exc).__name__}: {exc}; was it trained on another dataset?"
        ) from None
    return model


def _rank(
    dataset: Dataset,
    model: BaseEstimator,
    top: int,
    progress: Progress | None,
    scanner: Scanner | None,
    excluded: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The `top` rows by score and their scores, leaving out the `excluded` rows."""
    with single_threaded_blas():  # one BLAS thread per block; the scan runs blocks on every core
        scores = (scanner or Scanner()).score_rows(
            dataset.embeddings, None, lambda vectors: positive_proba(model, vectors), progress=progress
        )
    if excluded is None or excluded.size == 0:
        best = select_top(scores, top)
        return best, scores[best]
    candidates = np.setdiff1d(np.arange(scores.size), excluded, assume_unique=True)
    best = candidates[select_top(scores[candidates], top)]
    return best, scores[best]


def _table(dataset: Dataset, best: np.ndarray, scores: np.ndarray, known: Known | None) -> pd.DataFrame:
    """row, id, text, uri (those the dataset has), score and, when labels are known, `label` (the
    given 1/0, <NA> for unlabeled or skipped items) and `labeled` (judged, skips included)."""
    items = dataset.items_at(best, ("id", "text", "uri"))
    columns = [pd.DataFrame({"row": best}), items, pd.DataFrame({"score": scores})]
    if known is not None:
        rows, labels = known
        rows, labels = np.append(rows, -1), np.append(labels, SKIP)  # a sentinel: searchsorted stays in range
        at = np.searchsorted(rows[:-1], best)
        hit = rows[at] == best
        label = pd.array(np.full(best.size, pd.NA), dtype="Int8")
        given = hit & (labels[at] != SKIP)
        label[given] = labels[at[given]]
        columns.append(pd.DataFrame({"label": label, "labeled": hit}))
    return pd.concat(columns, axis=1)


def _excluded(known: Known | None, unlabeled: bool) -> np.ndarray | None:
    if not unlabeled:
        return None
    if known is None:
        raise InvalidParameterError(
            "unlabeled needs to know what is labeled: give labels FILE, or project DIR concept NAME",
            params=["unlabeled", "labels", "project", "concept"],
        )
    return known[0]


def _check_top(top: int) -> None:
    if top <= 0:
        raise InvalidParameterError(f"top must be positive, got {top}", params=["top"])


def predict_top_with_model(
    dataset: Dataset,
    model_path: str | Path,
    *,
    top: int = 1000,
    progress: Progress | None = None,
    scanner: Scanner | None = None,
    known: Known | None = None,
    unlabeled: bool = False,
) -> pd.DataFrame:
    """The `top` items by P(positive) under an exported model (`load_model`), scored in blocks
    (by `scanner`: this machine's threads by default, or Ray tasks). `known` labels are marked
    (`label`, `labeled` columns), or left out with `unlabeled`.

    Columns: row, id, text and uri (those the dataset has), score; best first, ties to the lower row.
    """
    _check_top(top)
    excluded = _excluded(known, unlabeled)
    model = load_model(model_path, dataset)
    best, scores = _rank(dataset, model, top, progress, scanner, excluded)
    return _table(dataset, best, scores, known)


def predict_top(
    dataset: Dataset,
    labels_path: str | Path | None = None,
    *,
    known: Known | None = None,
    top: int = 1000,
    learner: BaseEstimator | None = None,
    progress: Progress | None = None,
    scanner: Scanner | None = None,
    unlabeled: bool = False,
) -> pd.DataFrame:
    """The `top` items by P(positive) under a learner (default: the loop's) trained on the labels
    of `labels_path` (or on `known`, e.g. a project concept's: skips are not trained on), scored
    by `scanner` (this machine's threads by default, or Ray tasks). With `unlabeled` only items
    without a label are ranked.

    Columns: row, id, text, uri (those the dataset has), score, label (the given label, or <NA>
    for unlabeled or skipped items), labeled; best first, ties to the lower row.
    """
    _check_top(top)
    if labels_path is not None:
        known = read_labels(labels_path, dataset.info.n)
    if known is None:
        raise InvalidParameterError("predict_top needs labels: a labels file or known labels")
    rows, labels = known
    trained = labels != SKIP
    with single_threaded_blas():
        model = fit_learner(
            learner if learner is not None else default_learner(),
            dataset.embeddings.take(rows[trained]),
            labels[trained],
        )
    best, scores = _rank(dataset, model, top, progress, scanner, _excluded(known, unlabeled))
    return _table(dataset, best, scores, known)
