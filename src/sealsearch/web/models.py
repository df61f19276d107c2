"""Request and response bodies of the REST API (pydantic), so /docs documents the contract.

The field names are the library's (`Project`, `ConceptSession`; see docs/labeling.md): the web
layer renames nothing, it only checks the input before the Project sees it and describes the
output. Every integer of a request is strict (JSON `true` is not 1, `"3"` is not 3) and bounded
(a batch id fits SQLite's INTEGER), so nothing out of range reaches the database.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from sealsearch.errors import InvalidParameterError
from sealsearch.sessions.names import MAX_NAME_LENGTH, check_concept_name

LabelValue = Literal["positive", "negative", "skip"]
Labeler = Field(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$", examples=["alice"])
SQLITE_INTEGER_MAX = 2**63 - 1  # a batch id beyond this cannot be a row of the project file


def _concept_name(name: str) -> str:
    try:
        return check_concept_name(name)
    except InvalidParameterError as exc:  # pydantic reports ValueErrors as 422 one-liners
        raise ValueError(str(exc)) from None


ConceptName = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME_LENGTH, examples=["dog"]), AfterValidator(_concept_name)
]


def strict_int(low: int, high: int, **extra) -> object:
    """A JSON integer in [low, high]: no bool, no float, no numeric string."""
    return Field(strict=True, ge=low, le=high, **extra)


class Item(BaseModel):
    """One dataset item; `uri` is an http(s) URL, a path under the media root (served at
    /media/PATH) or anything else (shown as text)."""

    model_config = ConfigDict(extra="allow")
    id: str
    row: int
    text: str | None = None
    uri: str | None = None
    score: float | None = None
    label: LabelValue | None = Field(
        default=None, description="the item's current label in this concept (search answers), None when unlabeled"
    )


class Items(BaseModel):
    items: list[Item]


class Concept(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    labels: int = 0
    positives: int = 0
    negatives: int = 0
    skipped: int = 0
    strategy: str | None = None
    pool: str | None = None
    k: int | None = None
    batch_size: int | None = None
    created: str | float | None = None


class ConceptCreate(BaseModel):
    """A new concept, seeded by a text query (nearest items first) and/or known positive ids."""

    model_config = ConfigDict(extra="forbid")
    name: ConceptName
    query: str | None = Field(default=None, max_length=2000, examples=["a dog"])
    positives: list[str] = Field(default_factory=list, max_length=10_000)
    strategy: str | None = Field(default=None, examples=["maxent"])
    pool: str | None = Field(default=None, examples=["seals"])
    k: int | None = strict_int(1, 10_000, default=None)
    batch_size: int | None = strict_int(1, 1_000, default=None)


class Batch(BaseModel):
    batch: int | None = Field(description="the batch id; null (and no items) when nothing is left to label")
    round: int
    mode: Literal["search", "active"]
    items: list[Item]


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    label: LabelValue


class LabelsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labeler: str = Labeler
    labels: list[Label] = Field(min_length=1, max_length=10_000)
    batch: int | None = strict_int(
        1, SQLITE_INTEGER_MAX, default=None, description="the batch these labels answer (optional)"
    )


class BatchIn(BaseModel):
    """Reserve the labeler's batch (POST: it leases items and may close a round)."""

    model_config = ConfigDict(extra="forbid")
    labeler: str = Labeler
    n: int | None = strict_int(1, 1000, default=None, description="the size of a new batch (default: the concept's)")
    new: StrictBool = Field(default=False, description="true: a new batch now, closing the open one as a round")


class Acknowledged(BaseModel):
    acknowledged: int = Field(description="labels written and committed before this response")


class UndoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labeler: str = Labeler


class AuditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labeler: str = Labeler
    n: int = strict_int(1, 1000, default=20, description="how many random unlabeled pool items to draw")


class Undone(BaseModel):
    undone: dict | None = Field(description="the label event undone ({id, label}), null when there was none")


class LabeledItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    label: str
    labeler: str | None = None
    text: str | None = None
    uri: str | None = None


class Labels(BaseModel):
    labels: list[LabeledItem]
    total: int


class Estimate(BaseModel):
    """How many of the pool's positives are found, with a 95% interval (docs/labeling.md, "Recall estimate")."""

    model_config = ConfigDict(extra="allow")
    method: Literal["model", "audit"] = Field(
        description="model: P(positive) summed over the unlabeled pool (free, biased: no guarantee); "
        "audit: from labeled audit items (a confidence sequence: holds at every look, whatever the model)"
    )
    found: int = Field(description="positives labeled, audit items included (audit labels are labels)")
    positives: float | None = Field(description="estimated positives in the pool split")
    positives_lo: float | None = None
    positives_hi: float | None = None
    recall: float | None = Field(description="found / positives, in [0, 1]")
    recall_lo: float | None = None
    recall_hi: float | None = None
    confidence: float = 0.95
    audit_labels: int = Field(0, description="audit items labeled so far")
    audit_pending: int = Field(0, description="audit items drawn but not labeled positive/negative yet")
    text: str = Field(
        examples=["with 95% confidence at least 61% of the positives are found (estimate ≈ 72%, up to 80%)"]
    )
    guarantee: str | None = Field(None, description="what the interval promises, in words")
    unreached: int = Field(0, description="audit positives that lay outside the loop's candidate pool when drawn")
    certificate: str | None = Field(None, description="the price of certifying recall 0.8 with a uniform sample")
    certificate_labels: int | None = Field(None, description="labels that certificate would cost")
    updating: bool = Field(False, description="from the last round's model while the newest one scores the pool")


class Stats(BaseModel):
    model_config = ConfigDict(extra="allow")
    labels: int
    positives: int
    negatives: int = 0
    skipped: int = 0
    pool_size: int | None = None
    rounds: int | None = None
    ap_test: float | None = None
    curve: list[list[float]] = Field(default_factory=list, description="[[n_labeled, n_positive], ...]")
    wait_ms: dict = Field(default_factory=dict)
    mode: str | None = None
    text_search: str | None = Field(
        default=None, description="the text model: ready, loading (at server start), cold or unavailable"
    )
    test_items: int | None = Field(default=None, description="items in the test split (0: no AP can be measured)")
    estimate: Estimate | None = Field(default=None, description="null until the model has learned a round")
    estimate_updating: bool = Field(
        default=False,
        description="the newest model's scores of the pool are being computed (pools over 2·10^6 items, in the "
        "background): the estimate is the last round's, or null until the first scan ends",
    )


class Choice(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    label: str
    description: str = ""
    default: bool = False


class Options(BaseModel):
    """What `POST /api/concepts` accepts, from the library's registries."""

    strategies: list[Choice]
    pools: list[Choice]
    knn_sources: list[str]
    backends: list[str]
    labels: list[str]
    defaults: dict[str, str | int]
    project: dict[str, str | None] = Field(default_factory=dict, description="this project's kNN source and backend")


class Error(BaseModel):
    error: str = Field(description="one line naming the field and the fix")
