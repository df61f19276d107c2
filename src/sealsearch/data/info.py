"""dataset.json: `DatasetInfo` and the one table its fields are checked against.

A dataset directory outlives the code that wrote it and can be edited by hand, so every field is
checked when the file is read, in one place (`FIELDS`), before any number in it is used: `"n":
2000.0`, `"n": "2000"`, `"n": true`, `"media_root": 5`, a missing or unknown field and a
`format_version` newer than this code are each one line naming the file, the field, what was
found and the fix, instead of a TypeError or a misleading "shape does not match" later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealsearch._util import did_you_mean
from sealsearch.errors import InvalidDataError

FORMAT_VERSION = 1
DTYPES = ("float16", "float32")


@dataclass(frozen=True)
class DatasetInfo:
    """The content of `dataset.json`."""

    name: str
    n: int
    dim: int
    dtype: str
    normalized: bool
    embedder: str
    format_version: int = FORMAT_VERSION
    projection: dict[str, Any] | None = None  # set by `import --pca` (see projection.py)
    media_root: str | None = None  # where items' `uri`s point (relative: to the dataset directory)
    embedder_weights: str | None = None  # the local checkpoint directory of a `needs_weights` embedder (CLIP)


def _positive_int(value: object) -> bool:
    # bool is an int subclass: `true` must not pass as 1
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _string(value: object) -> bool:
    return isinstance(value, str)


Rule = tuple[bool, Callable[[object], bool], str]
"""(required, accepts(value), what a valid value is) for one field."""

FIELDS: dict[str, Rule] = {
    "format_version": (False, _positive_int, f"a positive integer, at most {FORMAT_VERSION}"),
    "name": (True, _string, "a string"),
    "n": (True, _positive_int, "a positive integer (the number of rows)"),
    "dim": (True, _positive_int, "a positive integer (values per row)"),
    "dtype": (True, lambda v: v in DTYPES, f"one of {', '.join(DTYPES)}"),
    "normalized": (True, lambda v: isinstance(v, bool), "true or false"),
    "embedder": (True, _string, "a string"),
    "projection": (False, lambda v: v is None or isinstance(v, dict), "null or an object"),
    "media_root": (False, lambda v: v is None or isinstance(v, str), "null or a directory path (a string)"),
    "embedder_weights": (False, lambda v: v is None or isinstance(v, str), "null or a directory path (a string)"),
}
assert set(FIELDS) == set(DatasetInfo.__dataclass_fields__)  # one table for every field


def parse_info(raw: object, file: Path) -> DatasetInfo:
    """`DatasetInfo` of the parsed JSON `raw` of `file`, refused with one line when any field is
    missing, unknown, of the wrong type or out of range (see `FIELDS`)."""
    fix = "fix it, or re-import the dataset"
    if not isinstance(raw, dict):
        raise InvalidDataError(f"{file}: must hold a JSON object, found {type(raw).__name__}; {fix}")
    version = raw.get("format_version", FORMAT_VERSION)
    if _positive_int(version) and version > FORMAT_VERSION:
        raise InvalidDataError(
            f"{file}: format_version {version} is newer than this sealsearch reads ({FORMAT_VERSION}); "
            "upgrade sealsearch to open this dataset"
        )
    for key in raw:
        if key not in FIELDS:
            close = did_you_mean(str(key), FIELDS).removeprefix("; ")
            hint = f" ({close})" if close else ""
            raise InvalidDataError(f"{file}: unknown field {key!r}{hint}; rename or remove it, or re-import")
    for key, (required, accepts, valid) in FIELDS.items():
        if key not in raw:
            if required:
                raise InvalidDataError(f"{file}: field {key!r} is missing (it must be {valid}); {fix}")
        elif not accepts(raw[key]):
            found = json.dumps(raw[key])[:60]
            raise InvalidDataError(f"{file}: field {key!r} is {found}, but it must be {valid}; {fix}")
    return DatasetInfo(**raw)


def read_info(file: Path) -> DatasetInfo:
    """Read and check `dataset.json` (see `parse_info`)."""
    try:
        raw = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidDataError(f"{file}: unreadable dataset description ({exc})") from None
    return parse_info(raw, file)
