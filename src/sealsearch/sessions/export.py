"""Writing a project's final labels as CSV, JSON lines, Parquet or Label Studio tasks.

Every format has the same columns (sessions.insight.LABEL_COLUMNS), all strings, so an export of
an empty project still has a header (CSV) or a schema (Parquet) a downstream job can rely on.

CSV cells that a spreadsheet would run as a formula (text starting with =, +, -, @, a tab or a
carriage return: OWASP's "CSV injection") are written with a leading `'`, which spreadsheets show
as text; a cell that is a plain number ("-5", "+1.5e3") stays as it is. JSON lines and Parquet
are not opened by spreadsheets as formulas and keep the text verbatim.

`label-studio` writes Label Studio's task import JSON: the labels as annotations and the
concept models' scores as predictions, so a team can review or continue in Label Studio.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd

from sealsearch._util import atomic_write, check_name
from sealsearch.sessions.insight import LABEL_COLUMNS, empty_labels_frame

if TYPE_CHECKING:
    import numpy as np

FORMATS = ("csv", "jsonl", "parquet", "label-studio")
"""`label-studio` is Label Studio's task import JSON (see `label_studio_tasks`)."""
ScoresOf = Callable[[str, list[str]], "np.ndarray | None"]
"""scores_of(concept, item ids): the concept model's P(positive) of those items, None before it learned."""
URL_SCHEMES = ("http://", "https://", "s3://", "gs://", "azure-blob://", "/data/")

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a CSV cell as a formula."""
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every text cell a spreadsheet would run as a formula prefixed by `'`."""

    def escape(value: object) -> object:
        if isinstance(value, str) and value.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(value):
            return "'" + value
        return value

    return frame.map(escape)


def task_media(uri: object, media_file: Callable[[str], Path] | None) -> str | None:
    """What a Label Studio task shows for an item's uri: a URL as it is, a file under the dataset's
    media root as a local-files URL (Label Studio serves it with LOCAL_FILES_SERVING_ENABLED and
    LOCAL_FILES_DOCUMENT_ROOT=/), or None when the item has no image."""
    if not isinstance(uri, str) or not uri:
        return None
    if uri.startswith(URL_SCHEMES) or media_file is None:
        return uri
    return "/data/local-files/?d=" + quote(str(media_file(uri)).lstrip("/"))


def label_studio_tasks(
    frames: dict[str, pd.DataFrame], scores_of: ScoresOf, media_file: Callable[[str], Path] | None
) -> list[dict[str, Any]]:
    """One Label Studio task per labeled item: `data` (item_id, text, image or uri), one annotation
    per concept that labeled it (a `choices` result "positive"/"negative" from the control named
    after the concept; a skip is a cancelled annotation) and one prediction per concept whose
    model has learned (its P(positive) as `score`, the side of 0.5 as the choice)."""
    tasks: dict[str, dict[str, Any]] = {}
    for concept, frame in frames.items():
        ids = frame["id"].astype(str).tolist()
        scores = scores_of(concept, ids) if ids else None
        for i, row in enumerate(frame.itertuples(index=False)):
            task = tasks.setdefault(ids[i], _task(row, media_file))
            target = "image" if "image" in task["data"] else "text"
            result = [] if row.label == "skip" else [_choice(concept, target, row.label)]
            task["annotations"].append({"result": result, "was_cancelled": row.label == "skip", "created_at": row.time})
            task["data"]["labelers"][concept] = row.labeler
            if scores is not None:
                p = float(scores[i])
                choice = _choice(concept, target, "positive" if p >= 0.5 else "negative")
                task["predictions"].append({"model_version": f"sealsearch:{concept}", "score": p,
                                            "result": [{**choice, "score": p}]})  # fmt: skip
    return list(tasks.values())


def _task(row: Any, media_file: Callable[[str], Path] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"item_id": str(row.id)}
    if isinstance(row.text, str):
        data["text"] = row.text
    image = task_media(row.uri, media_file)
    if image is not None:
        data["image" if media_file is not None or image.startswith(URL_SCHEMES) else "uri"] = image
    data["labelers"] = {}
    return {"data": data, "annotations": [], "predictions": []}


def _choice(concept: str, target: str, label: str) -> dict[str, Any]:
    return {"from_name": concept, "to_name": target, "type": "choices", "value": {"choices": [label]}}


def export(
    labels_of: Callable[[str], pd.DataFrame],
    names: Iterable[str],
    path: Path,
    format: str = "csv",
    *,
    scores_of: ScoresOf | None = None,
    media_file: Callable[[str], Path] | None = None,
) -> Path:
    """The final labels of the concepts `names` (`labels_of(name)`: a concept's label table) to
    `path`, written atomically; returns the path. A bad format is refused before any is read.
    `label-studio` also takes `scores_of` (predictions) and `media_file` (image urls)."""
    check_name(format, FORMATS, "export format")
    if format == "label-studio":
        frames_by_name = {name: labels_of(name) for name in names}
        tasks = label_studio_tasks(frames_by_name, scores_of or (lambda *_: None), media_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(tasks, indent=1, ensure_ascii=False) + "\n")
        return path
    frames = [labels_of(name) for name in names]
    frame = pd.concat([empty_labels_frame(), *frames], ignore_index=True)[list(LABEL_COLUMNS)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        if format == "csv":
            # RFC 4180 line ends: the csv writer then quotes a cell holding a lone \r as well as \n
            csv_safe(frame).to_csv(tmp, index=False, lineterminator="\r\n")
        elif format == "jsonl":
            text = frame.to_json(orient="records", lines=True, force_ascii=False) if len(frame) else ""
            tmp.write_text(text if text.endswith("\n") or not text else text + "\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([(column, pa.string()) for column in LABEL_COLUMNS])
            pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), tmp)
    return path
