"""Which label events form a round, and when: the grouping rule of `ConceptSession`.

A round is a group of label events told to the concept's loop as one `tell`. Events are written
the moment a person gives them; a round closes

- when a labeler's batch is complete (every item has an effective label, skip included): the
  events given on that batch (`batch_id`) that no round holds yet;
- when a labeler asks for a new batch: first their open batch's such events (asked early, the
  batch may be incomplete), then the "free" events — given outside any batch, on a batch whose
  lease ran out, or on a batch already closed — except those on another labeler's live batch.

Only effective events (not undone or relabeled since) join a round; a superseded one that becomes
effective again (its relabel undone) joins the next round that takes its group. The closings are
recorded (`LabelStore.close_round`), so a replay tells exactly the same groups in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sealsearch.sessions.labelstore import Event


def batch_complete(items: Iterable[dict[str, Any]], effective: dict[int, Event]) -> bool:
    """Every item of a batch (rows of `batch_items`) has an effective label."""
    return all(item["row"] in effective for item in items)


def round_groups(
    pending: Sequence[Event], batch: int | None, free: bool, live: set[int]
) -> list[tuple[int | None, list[int]]]:
    """The rounds to close now, in order, as (batch id or None, event ids); empty groups left out.

    `pending`: effective events no round holds yet, in event order; `batch`: the batch whose events
    close; `free`: also close the free events; `live`: batches other labelers are still labeling."""
    groups: list[tuple[int | None, list[int]]] = []
    if batch is not None:
        groups.append((batch, [e.id for e in pending if e.batch_id == batch]))
    if free:
        outside = [e.id for e in pending if e.batch_id is None or (e.batch_id != batch and e.batch_id not in live)]
        groups.append((None, outside))
    return [(batch_id, members) for batch_id, members in groups if members]
