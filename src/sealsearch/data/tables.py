"""The item and concept tables a dataset directory holds, checked before any vector is written:
ids unique (hashed, so 10^8 ids need no set of strings), splits pool or test, concept rows in range."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sealsearch.data.dataset import SPLITS
from sealsearch.data.id_map import first_duplicate, hash_ids
from sealsearch.errors import InvalidDataError


def check_item_chunk(chunk: pd.DataFrame, first_row: int, label: str) -> pd.DataFrame:
    """Items `first_row`.. as stored: row, id (str), text, uri, split ('pool'|'test', default pool).

    The one copy of the per-row item checks, used for a whole table and for streamed chunks alike.
    """
    out = pd.DataFrame({"row": np.arange(first_row, first_row + len(chunk), dtype=np.int64)})
    if "id" in chunk.columns:
        ids = chunk["id"]
        if ids.isna().any():
            where = first_row + int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise InvalidDataError(f"{label}: row {where} has no id (null); give every item an id")
        out["id"] = ids.astype(str).to_numpy()
    else:
        out["id"] = out["row"].astype(str)
    for column in ("text", "uri"):
        if column in chunk.columns:
            out[column] = chunk[column].astype("string").array  # nulls stay null, not "None"
    if "split" in chunk.columns:
        split = chunk["split"].astype(str)
        unknown = sorted(set(split.unique()) - set(SPLITS))  # unique first: set() of 10M strings takes ~10 s
        if unknown:
            raise InvalidDataError(f"{label}: column 'split' may hold only 'pool' or 'test', found {unknown[:3]}")
        out["split"] = split.to_numpy()
    else:
        out["split"] = "pool"
    return out


def duplicate_error(label: str, item_id: str, where: tuple[str, str]) -> InvalidDataError:
    return InvalidDataError(
        f"{label}: id {item_id!r} appears twice ({where[0]} and {where[1]}); ids must be unique: "
        "fix the source or choose another id column"
    )


def validate_items(items: pd.DataFrame, n: int, label: str) -> pd.DataFrame:
    if "row" in items.columns:
        rows = items["row"].to_numpy()
        if len(items) != n or not np.array_equal(np.sort(rows), np.arange(n)):
            raise InvalidDataError(f"{label}: column 'row' must hold each of 0..{n - 1} exactly once")
        items = items.sort_values("row").reset_index(drop=True)
    elif len(items) != n:
        raise InvalidDataError(
            f"{label}: has {len(items)} rows but the embeddings have {n}; they must match one to one"
        )
    checked = check_item_chunk(items, 0, label)
    ids = checked["id"].to_numpy()
    pair = first_duplicate(hash_ids(ids), lambda rows: ids[rows])
    if pair is not None:
        raise duplicate_error(label, ids[pair[0]], (f"row {pair[0]}", f"row {pair[1]}"))
    return checked


def validate_concepts(concepts: pd.DataFrame, n: int, label: str) -> pd.DataFrame:
    missing = {"row", "concept"} - set(concepts.columns)
    if missing:
        raise InvalidDataError(f"{label}: needs columns 'row' and 'concept' (long format), missing {sorted(missing)}")
    rows = pd.to_numeric(concepts["row"], errors="coerce")
    if rows.isna().any() or (rows % 1 != 0).any():
        raise InvalidDataError(f"{label}: column 'row' must hold integers")
    rows = rows.astype(np.int64)
    out_of_range = (rows < 0) | (rows >= n)
    if out_of_range.any():
        raise InvalidDataError(
            f"{label}: row {int(rows[out_of_range].iloc[0])} is outside 0..{n - 1} (the embeddings have {n} rows)"
        )
    return pd.DataFrame(
        {"row": rows.to_numpy(), "concept": concepts["concept"].astype(str).to_numpy()}
    ).drop_duplicates()
