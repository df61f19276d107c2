"""Writing a project's final labels as CSV, JSON lines or Parquet.

Every format has the same columns (sessions.insight.LABEL_COLUMNS), all strings, so an export of
an empty project still has a header (CSV) or a schema (Parquet) a downstream job can rely on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from sealsearch._util import atomic_write, check_name
from sealsearch.sessions.insight import LABEL_COLUMNS, empty_labels_frame

FORMATS = ("csv", "jsonl", "parquet")


def export(labels_of: Callable[[str], pd.DataFrame], names: Iterable[str], path: Path, format: str = "csv") -> Path:
    """The final labels of the concepts `names` (`labels_of(name)`: a concept's label table) to
    `path`, written atomically; returns the path. A bad format is refused before any is read."""
    check_name(format, FORMATS, "export format")
    frames = [labels_of(name) for name in names]
    frame = pd.concat([empty_labels_frame(), *frames], ignore_index=True)[list(LABEL_COLUMNS)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        if format == "csv":
            frame.to_csv(tmp, index=False)
        elif format == "jsonl":
            text = frame.to_json(orient="records", lines=True, force_ascii=False) if len(frame) else ""
            tmp.write_text(text if text.endswith("\n") or not text else text + "\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([(column, pa.string()) for column in LABEL_COLUMNS])
            pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), tmp)
    return path
