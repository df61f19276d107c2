"""Whether a saved index was built from the embeddings it is about to search.

An index stores its own copy (or codes) of the vectors and answers with row numbers. If
embeddings.npy changes under it (rows shuffled, re-embedded, re-imported with the same shape),
the old index keeps answering with the old rows: wrong neighbours, silently. So a save records
the store's fingerprint (`EmbeddingStore.fingerprint`: n, dim, dtype and a sha256 of 1,000
seeded rows; ~30 ms at 10^7 x 256, bench/freshness_cost.py) in the index's meta.json, and `open_or_build_index`
reuses an index only when the recorded fingerprint equals the current one.

An index saved before fingerprints were recorded has none: it is treated as stale and rebuilt
once (there is no cheap way to tell whether its rows still match), with a warning saying why.
meta.json is rewritten by every save, so a rebuild never keeps an old fingerprint, and the
fingerprint is added after the save completes: an interruption in between leaves an index
without one, which is rebuilt, never one that vouches for other vectors.
"""

from __future__ import annotations

import json
from pathlib import Path

from sealsearch._util import write_text_atomic
from sealsearch.data.embeddings import EmbeddingStore
from sealsearch.index.base import META_FILE

SOURCE_KEY = "embeddings"
"""meta.json's key for the fingerprint of the embeddings an index was built from."""

FRESH, CHANGED, UNRECORDED, MISSING = "fresh", "changed", "unrecorded", "missing"
BUILT_FROM_OTHER_ROWS = "built from other embeddings (the rows changed since: shuffled, re-embedded or edited)"
NO_FINGERPRINT = "records no fingerprint of its embeddings (saved by an older sealsearch, or interrupted)"


def record_source(directory: Path, store: EmbeddingStore) -> None:
    """Add the store's fingerprint to the meta.json of the index just saved in `directory`."""
    path = Path(directory) / META_FILE
    meta = json.loads(path.read_text())
    meta[SOURCE_KEY] = store.fingerprint
    write_text_atomic(path, json.dumps(meta, indent=2) + "\n")


def recorded_source(directory: Path) -> dict | None:
    """The fingerprint an index's meta.json records, or None (none recorded, or unreadable)."""
    try:
        source = json.loads((Path(directory) / META_FILE).read_text()).get(SOURCE_KEY)
    except (OSError, ValueError, AttributeError):
        return None
    return source if isinstance(source, dict) else None


def source_state(directory: Path, store: EmbeddingStore) -> str:
    """FRESH (built from these embeddings), CHANGED (from others), UNRECORDED (saved before
    fingerprints were recorded, or the save was interrupted) or MISSING (no index there)."""
    if not (Path(directory) / META_FILE).is_file():
        return MISSING
    source = recorded_source(directory)
    if source is None:
        return UNRECORDED
    return FRESH if source == store.fingerprint else CHANGED


def stale_reason(directory: Path, state: str) -> str:
    """Why an index in `directory` is not reused, in words (for a warning or a doctor's table)."""
    if state == CHANGED:
        return f"{directory}: {BUILT_FROM_OTHER_ROWS}"
    if state == UNRECORDED:
        return f"{directory}: {NO_FINGERPRINT}"
    return f"{directory}: {state}"
