"""Writing a project's final labels as CSV, JSON lines or Parquet.

Every format has the same columns (sessions.insight.LABEL_COLUMNS), all strings, so an export of
an empty project still has a header (CSV) or a schema (Parquet) a downstream job can rely on.

CSV cells that a spreadsheet would run as a formula (text starting with =, +, -, @, a tab or a
carriage return: OWASP's "CSV injection") are written with a leading `'`, which spreadsheets show
as text; a cell that is a plain number ("-5", "+1.5e3") stays as it is. JSON lines and Parquet
are not opened by spreadsheets as formulas and keep the text verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from sealsearch._util import atomic_write, check_name
from sealsearch.sessions.insight import LABEL_COLUMNS, empty_labels_frame

FORMATS = ("csv", "jsonl", "parquet")
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


def export(labels_of: Callable[[str], pd.DataFrame], names: Iterable[str], path: Path, format: str = "csv") -> Path:
    """The final labels of the concepts `names` (`labels_of(name)`: a concept's label table) to
    `path`, written atomically; returns the path. A bad format is refused before any is read."""
    check_name(format, FORMATS, "export format")
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
