"""The REST API: one module-level route function per endpoint on one `APIRouter`.

Adding an endpoint is one function here, its pydantic model in web/models.py and its test; the
route table in docs/labeling.md is checked against /openapi.json (tests/web/test_web_docs.py).

Endpoints are plain `def`s: FastAPI runs them in its threadpool, the Project serialises SQLite
writes and trains in the background, so no handler waits on anything but its own call. A GET
never changes the project file nor what a later call answers (tests/web/test_web_reads.py):
whatever reserves, draws or writes is a POST, behind the CSRF check of web/security.py.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from sealsearch.errors import ConflictError, InvalidParameterError
from sealsearch.web import models
from sealsearch.web.options import options

if TYPE_CHECKING:
    from sealsearch.sessions import ConceptSession, Project

EXPORT_TYPES = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/x-ndjson", "jsonl"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
}
NO_OPEN_BATCH = (
    "batch: labeler {labeler!r} has no open batch with undecided items in concept {c!r}; a GET never reserves "
    'one: POST /api/concepts/{c}/batch with {{"labeler": "{labeler}"}} to get the next batch'
)
GET_RESERVES = (
    "new/n: a GET never reserves a batch (a cross-site page could send it); POST /api/concepts/{c}/batch with "
    '{{"labeler": "{labeler}", "new": true, "n": N}} instead'
)


def get_project(request: Request) -> Project:
    """The app's Project (override in tests: `app.dependency_overrides[get_project] = ...`)."""
    return request.app.state.project


ProjectDep = Annotated[Any, Depends(get_project)]  # a Project (Any: FastAPI must not resolve it)
router = APIRouter(prefix="/api")


def plain(value: Any) -> Any:
    """JSON-safe copies of what the Project returns: numpy scalars as Python, NaN/inf as null."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _session(project: Project, name: str) -> ConceptSession:
    return project.concept(name)


@router.get("/options", response_model=models.Options, tags=["concepts"])
def list_options(project: ProjectDep):
    """The choices a new concept takes (strategies, pools, kNN sources, backends, label values) and
    the defaults, read from the library's registries: the create form is rendered from this."""
    return options(project)


@router.get("/concepts", response_model=list[models.Concept], tags=["concepts"])
def list_concepts(project: ProjectDep):
    """Every concept of the project with its label counts."""
    return plain(project.concepts())


@router.post("/concepts", response_model=models.Concept, status_code=201, tags=["concepts"])
def create_concept(body: models.ConceptCreate, project: ProjectDep):
    """A new concept seeded by a text query and/or known positive ids."""
    settings = body.model_dump(exclude_none=True, exclude={"name"})
    return plain(project.create_concept(body.name, **settings))


@router.get("/concepts/{c}/batch", response_model=models.Batch, tags=["labeling"])
def current_batch(
    c: str,
    project: ProjectDep,
    labeler: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$")],
    n: Annotated[int | None, Query(gt=0, le=1000, deprecated=True)] = None,
    new: Annotated[bool, Query(deprecated=True)] = False,
):
    """Read only: the undecided items of the labeler's open batch (409 when there are none). Reserving
    a batch is `POST .../batch`; `new` and `n` here are refused (they would reserve) and kept only so
    that an old client gets that one-line answer instead of a silent new batch."""
    if new or n is not None:
        raise InvalidParameterError(GET_RESERVES.format(labeler=labeler, c=c))
    batch = _session(project, c).current_batch(labeler)
    if batch is None:
        raise ConflictError(NO_OPEN_BATCH.format(labeler=labeler, c=c))
    return plain(batch)


@router.post("/concepts/{c}/batch", response_model=models.Batch, tags=["labeling"])
def next_batch(c: str, body: models.BatchIn, project: ProjectDep):
    """The labeler's batch: the undecided items of their open batch (same id) until every item is
    decided, then a new one leased to them; `new: true` asks for a new batch early. The model learns
    a batch as one round: when it is complete, or when a new batch is asked for."""
    return plain(_session(project, c).next_batch(labeler=body.labeler, n=body.n, new=body.new))


@router.post("/concepts/{c}/labels", response_model=models.Acknowledged, tags=["labeling"])
def add_labels(c: str, body: models.LabelsIn, project: ProjectDep):
    """Write labels; the response comes after the commit, so acknowledged labels survive a crash."""
    pairs = [(label.id, label.label) for label in body.labels]
    count = _session(project, c).label(labeler=body.labeler, labels=pairs, batch=body.batch)
    return {"acknowledged": int(count)}


@router.post("/concepts/{c}/undo", response_model=models.Undone, tags=["labeling"])
def undo(c: str, body: models.UndoIn, project: ProjectDep):
    """Undo the labeler's latest label (a new event that supersedes it)."""
    return {"undone": plain(_session(project, c).undo(labeler=body.labeler))}


@router.get("/concepts/{c}/labels", response_model=models.Labels, tags=["labeling"])
def list_labels(c: str, project: ProjectDep, n: Annotated[int, Query(gt=0, le=100_000)] = 50):
    """The final label of each labeled item, newest first (the labeling history)."""
    session = _session(project, c)
    frame = session.labels_frame(newest=n)  # labeling order; only these n items' texts are read
    columns = [col for col in ("id", "label", "labeler", "text", "uri", "time") if col in frame.columns]
    newest = frame[columns].iloc[::-1].astype(object)
    records = newest.where(newest.notna(), None).to_dict("records")
    return {"labels": plain(records), "total": len(session.effective())}


@router.get("/concepts/{c}/search", response_model=models.Items, tags=["explore"])
def search(
    c: str,
    project: ProjectDep,
    q: Annotated[str | None, Query(max_length=2000)] = None,
    like: Annotated[str | None, Query(max_length=500)] = None,
    n: Annotated[int, Query(gt=0, le=1000)] = 20,
):
    """Items nearest to a text query (`q`) or to an item (`like=ID`)."""
    if (q is None or not q.strip()) == (like is None):
        raise InvalidParameterError("q/like: give exactly one: ?q=TEXT for a text query or ?like=ITEM_ID")
    return {"items": plain(_session(project, c).search(q=q if like is None else None, like=like, n=n))}


@router.get("/concepts/{c}/random", response_model=models.Items, tags=["explore"])
def random_items(
    c: str,
    project: ProjectDep,
    n: Annotated[int, Query(gt=0, le=1000)] = 10,
    split: Literal["pool", "test"] = "pool",
):
    """Random unlabeled items (seeding negatives; split=test for held-out items that measure AP)."""
    return {"items": plain(_session(project, c).random_items(n=n, split=split))}


@router.get("/concepts/{c}/stats", response_model=models.Stats, tags=["explore"])
def stats(c: str, project: ProjectDep):
    """Progress: labels, positives, pool size, AP on labeled test items, the curve of positives,
    and the recall estimate with its 95% interval (`estimate`, null before the first round)."""
    return plain(_session(project, c).stats())


@router.get("/concepts/{c}/audit", response_model=models.Items, tags=["explore"])
def audit_pending(c: str, project: ProjectDep):
    """The audit items drawn earlier (POST .../audit) and not labeled positive/negative yet.
    Reads only: a GET never draws."""
    from sealsearch.sessions.estimate import pending_items

    return {"items": plain(pending_items(_session(project, c)))}


@router.post("/concepts/{c}/audit", response_model=models.Items, tags=["explore"])
def audit(c: str, body: models.AuditIn, project: ProjectDep):
    """Draw n random unlabeled pool items to label (ordinary label POSTs) so the recall estimate
    tightens: once they are labeled, `stats.estimate` is the audit's. The draws are recorded in
    the project file, which is why this is a POST (behind the same CSRF check as labels)."""
    return {"items": plain(_session(project, c).audit(n=body.n, labeler=body.labeler))}


@router.get("/concepts/{c}/top", response_model=models.Items, tags=["explore"])
def top(c: str, project: ProjectDep, n: Annotated[int, Query(gt=0, le=1000)] = 20):
    """What the model finds: unlabeled pool items ranked by the current classifier."""
    return {"items": plain(_session(project, c).top(n=n))}


@router.get(
    "/concepts/{c}/export",
    tags=["export"],
    response_class=Response,
    responses={200: {"content": {kind: {} for kind, _ in EXPORT_TYPES.values()}}},
)
def export(c: str, project: ProjectDep, format: Literal["csv", "jsonl", "parquet"] = "csv"):
    """The concept's labels (final label per item) as a file."""
    _session(project, c)  # 404 before writing anything
    media_type, suffix = EXPORT_TYPES[format]
    with tempfile.TemporaryDirectory(prefix="seals-export-") as tmp:
        written = project.export(Path(tmp) / f"labels.{suffix}", format=format, concept=c)
        content = Path(written).read_bytes()
    return Response(content, media_type=media_type, headers=_attachment(f"{c}-labels.{suffix}"))


@router.get(
    "/concepts/{c}/model",
    tags=["export"],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def model(c: str, project: ProjectDep):
    """The trained classifier, a joblib dump (load with `joblib.load`)."""
    content = _session(project, c).model_bytes()
    return Response(content, media_type="application/octet-stream", headers=_attachment(f"{c}-model.joblib"))


def _attachment(filename: str) -> dict[str, str]:
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in filename)
    return {"Content-Disposition": f'attachment; filename="{safe}"'}
