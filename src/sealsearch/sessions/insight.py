"""What a labeler and an exporter read from a concept: stats, the top items, the label table, the model.

Kept apart from `ConceptSession` so the session module holds only the labeling protocol; every
function here reads the effective labels, the synced model and the dataset it is given (never the
session, so this module does not import it) and writes nothing.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from sealsearch.active.metrics import average_precision
from sealsearch.data.dataset import Dataset
from sealsearch.sessions.labelstore import Event
from sealsearch.sessions.replay import ConceptModel, ConceptSettings

LABEL_COLUMNS = ("id", "text", "uri", "concept", "label", "labeler", "time")


def stats(
    dataset: Dataset, effective: dict[int, Event], model: ConceptModel | None, rounds: int, wait_ms: dict
) -> dict[str, Any]:
    """Counts, pool size, AP on labeled test items, the positives-found curve and (given) rounds
    and wait times."""
    labels = [e.label for e in effective.values()]
    curve, n_labeled, n_positive = [], 0, 0
    for event in effective.values():  # in event order
        if event.label != "skip":
            n_labeled += 1
            n_positive += event.label == "positive"
            curve.append([n_labeled, n_positive])
    return {
        "labels": labels.count("positive") + labels.count("negative"),
        "positives": labels.count("positive"),
        "negatives": labels.count("negative"),
        "skipped": labels.count("skip"),
        "pool_size": model.loop.pool.size if model is not None else 0,
        "rounds": rounds,
        "ap_test": _ap_test(dataset, effective, model),
        "curve": curve,
        "wait_ms": dict(wait_ms),
        "test_items": int(dataset.split_rows("test").size),  # 0: no test split, so no AP to show
        "mode": "active" if model is not None and {y for y, _ in model.told.values()} == {0, 1} else "search",
    }


def _ap_test(dataset: Dataset, effective: dict[int, Event], model: ConceptModel | None) -> float | None:
    """Average precision of the current model on the labeled test-split items, when both classes exist."""
    if model is None:
        return None
    decided = np.array([row for row, e in effective.items() if e.label != "skip"], dtype=np.int64)
    test = dataset.rows_in_split(decided, "test")
    y = np.array([effective[row].label == "positive" for row in test.tolist()], dtype=np.int8)
    if np.unique(y).size < 2:
        return None
    return average_precision(y, model.loop.predict_proba(test))


def top_rows(
    dataset: Dataset, effective: dict[int, Event], model: ConceptModel, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The n unlabeled, unskipped pool rows with the highest P(positive), best first (the pool's
    scores are cached per trained model: `ConceptModel.pool_scores`)."""
    pool = dataset.split_rows("pool")
    done = np.fromiter(effective, dtype=np.int64, count=len(effective))
    open_ = np.ones(pool.size, dtype=bool)  # pool is sorted: find the labeled rows, O(labels log N)
    if done.size:  # (np.isin sorts the whole pool instead: ~240 ms at 10^7, against ~4 ms)
        at = np.searchsorted(pool, done).clip(max=pool.size - 1)
        open_[at[pool[at] == done]] = False
    rows = pool[open_]
    if rows.size == 0 or n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    proba = model.pool_scores()[open_]
    n = min(n, rows.size)
    best = np.argpartition(-proba, n - 1)[:n]
    best = best[np.lexsort((rows[best], -proba[best]))]
    return rows[best], proba[best].astype(np.float64)


def labels_frame(
    concept: str, effective: dict[int, Event], item_table: Callable[[np.ndarray], pd.DataFrame],
    newest: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """One row per item with an effective label (skips included), in labeling order; `item_table`
    gives the items' text and uri (`Project.item_table`). With `newest`, only the last `newest`
    labels: the page's history shows 15, and reading every labeled item's text for it cost a
    parquet row group per scattered label at 10^8 (seconds a batch)."""
    events = list(effective.values())
    if newest is not None:
        events = events[len(events) - min(max(int(newest), 0), len(events)) :]
    rows = np.array([e.row for e in events], dtype=np.int64)
    info = item_table(rows)
    frame = pd.DataFrame({
        "id": [e.item_id for e in events], "text": info["text"], "uri": info["uri"],
        "concept": concept, "label": [e.label for e in events], "labeler": [e.labeler for e in events],
        "time": [datetime.fromtimestamp(e.time, UTC).isoformat() for e in events],
    }, columns=list(LABEL_COLUMNS))  # fmt: skip
    return frame.astype(object)


def empty_labels_frame() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series([], dtype=object) for column in LABEL_COLUMNS})


def model_bytes(model: Any) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def summary(settings: ConceptSettings, effective: dict[int, Event]) -> dict[str, Any]:
    """A concept's row of `Project.concepts()`: its settings and label counts."""
    labels = [e.label for e in effective.values()]
    s = settings
    return {
        "name": s.name, "labels": labels.count("positive") + labels.count("negative"),
        "positives": labels.count("positive"), "negatives": labels.count("negative"),
        "skipped": labels.count("skip"), "strategy": s.strategy, "pool": s.pool, "k": s.k,
        "batch_size": s.batch_size, "query": s.query, "created": s.created,
    }  # fmt: skip
