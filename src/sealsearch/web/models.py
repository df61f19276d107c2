"""Request and response bodies of the REST API (pydantic), so /docs documents the contract.

The field names follow PROJECT_API.md: the web layer renames nothing, it only checks the input
before the Project sees it and describes the output.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

LabelValue = Literal["positive", "negative", "skip"]
Labeler = Field(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$", examples=["alice"])


class Item(BaseModel):
    """One dataset item; `uri` is an http(s) URL, a path under the media root (served at
    /media/PATH) or anything else (shown as text)."""

    model_config = ConfigDict(extra="allow")
    id: str
    row: int
    text: str | None = None
    uri: str | None = None
    score: float | None = None


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
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f]+$", examples=["dog"])
    query: str | None = Field(default=None, max_length=2000, examples=["a dog"])
    positives: list[str] = Field(default_factory=list, max_length=10_000)
    strategy: str | None = Field(default=None, examples=["maxent"])
    pool: str | None = Field(default=None, examples=["seals"])
    k: int | None = Field(default=None, gt=0, le=10_000)
    batch_size: int | None = Field(default=None, gt=0, le=1_000)

    @field_validator("name")
    @classmethod
    def _not_a_path_step(cls, name: str) -> str:
        if name.strip() in (".", ".."):  # /api/concepts/.. would address another URL
            raise ValueError("'.' and '..' cannot name a concept; choose a word")
        return name


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
    batch: int | None = Field(default=None, description="the batch these labels answer (optional)")


class Acknowledged(BaseModel):
    acknowledged: int = Field(description="labels written and committed before this response")


class UndoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labeler: str = Labeler


class AuditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labeler: str = Labeler
    n: int = Field(default=20, gt=0, le=1000, description="how many random unlabeled pool items to draw")


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
    estimate: Estimate | None = Field(default=None, description="null until the model has learned a round")


class Error(BaseModel):
    error: str = Field(description="one line naming the field and the fix")
