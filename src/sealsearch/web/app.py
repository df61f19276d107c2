"""The labeling app: `create_app(project)` returns a FastAPI app whose state is the Project.

Every page is a shell that calls the same JSON API as any script (one code path). Endpoints
are plain `def`s: FastAPI runs them in its threadpool, the Project serialises SQLite writes
and trains in the background, so no handler waits on anything but its own call.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response

from sealsearch.errors import InvalidParameterError
from sealsearch.web import models
from sealsearch.web.errors import install_error_handlers
from sealsearch.web.pages import install_pages
from sealsearch.web.security import BodyLimit, Guard

if TYPE_CHECKING:
    from sealsearch.sessions import ConceptSession, Project

EXPORT_TYPES = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/x-ndjson", "jsonl"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": models.Error, "description": text}
    for code, text in (
        (400, "bad parameter"),
        (404, "unknown concept or item"),
        (409, "conflict"),
        (422, "invalid input"),
    )
}


def get_project(request: Request) -> Project:
    """The app's Project (override in tests: `app.dependency_overrides[get_project] = ...`)."""
    return request.app.state.project


ProjectDep = Annotated[Any, Depends(get_project)]  # a Project (Any: FastAPI must not resolve it)


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


def create_app(
    project: Project,
    *,
    token: str | None = None,
    media_root: str | Path | None = None,
    allowed_hosts: set[str] | None = None,
) -> FastAPI:
    """The app over one opened Project.

    token: required for any non-loopback use (Bearer header or the login URL's cookie).
    media_root: directory whose files `/media/PATH` serves for relative item URIs
    (default: the Project's `media_root`, else DATASET/media).
    allowed_hosts: Host names accepted (default: loopback names without a token, any with one).
    """
    app = FastAPI(
        title="sealsearch labeling",
        summary="Label rare concepts in batches chosen by SEALS active learning.",
        version="1",
        responses=ERROR_RESPONSES,
    )
    app.state.project = project
    app.state.guard = guard = Guard(token, allowed_hosts)
    app.state.media_root = _media_root(project, media_root)
    install_error_handlers(app)

    @app.middleware("http")
    async def security(request: Request, call_next):
        refusal = guard.check(request)
        if refusal is not None:
            return refusal
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    app.add_middleware(BodyLimit)  # outermost: refuses a huge body before anything reads it
    install_api(app)
    install_pages(app)
    return app


def _media_root(project: Any, media_root: str | Path | None) -> Path | None:
    if media_root is not None:
        return Path(media_root).resolve()
    root = getattr(project, "media_root", None)
    if root is not None:
        return Path(root).resolve()
    dataset = getattr(project, "dataset", None)
    path = getattr(dataset, "path", None)
    return (Path(path) / "media").resolve() if path is not None else None


def install_api(app: FastAPI) -> None:  # noqa: C901 - one closure per endpoint
    @app.get("/api/concepts", response_model=list[models.Concept], tags=["concepts"])
    def list_concepts(project: ProjectDep):
        """Every concept of the project with its label counts."""
        return plain(project.concepts())

    @app.post("/api/concepts", response_model=models.Concept, status_code=201, tags=["concepts"])
    def create_concept(body: models.ConceptCreate, project: ProjectDep):
        """A new concept seeded by a text query and/or known positive ids."""
        options = body.model_dump(exclude_none=True, exclude={"name"})
        return plain(project.create_concept(body.name, **options))

    @app.get("/api/concepts/{c}/batch", response_model=models.Batch, tags=["labeling"])
    def next_batch(
        c: str,
        project: ProjectDep,
        labeler: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$")],
        n: Annotated[int | None, Query(gt=0, le=1000)] = None,
        new: bool = False,
    ):
        """The labeler's batch: the undecided items of their open batch (same id) until every item
        is decided, then a new one; `new=true` asks for a new batch early. The model learns a
        batch as one round: when it is complete, or when a new batch is asked for."""
        return plain(_session(project, c).next_batch(labeler=labeler, n=n, new=new))

    @app.post("/api/concepts/{c}/labels", response_model=models.Acknowledged, tags=["labeling"])
    def add_labels(c: str, body: models.LabelsIn, project: ProjectDep):
        """Write labels; the response comes after the commit, so acknowledged labels survive a crash."""
        pairs = [(label.id, label.label) for label in body.labels]
        count = _session(project, c).label(labeler=body.labeler, labels=pairs, batch=body.batch)
        return {"acknowledged": int(count)}

    @app.post("/api/concepts/{c}/undo", response_model=models.Undone, tags=["labeling"])
    def undo(c: str, body: models.UndoIn, project: ProjectDep):
        """Undo the labeler's latest label (a new event that supersedes it)."""
        return {"undone": plain(_session(project, c).undo(labeler=body.labeler))}

    @app.get("/api/concepts/{c}/labels", response_model=models.Labels, tags=["labeling"])
    def list_labels(c: str, project: ProjectDep, n: Annotated[int, Query(gt=0, le=100_000)] = 50):
        """The final label of each labeled item, newest first (the labeling history)."""
        frame = _session(project, c).labels_frame()  # in labeling order
        columns = [col for col in ("id", "label", "labeler", "text", "uri", "time") if col in frame.columns]
        newest = frame[columns].iloc[::-1].head(n).astype(object)
        records = newest.where(newest.notna(), None).to_dict("records")
        return {"labels": plain(records), "total": len(frame)}

    @app.get("/api/concepts/{c}/search", response_model=models.Items, tags=["explore"])
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

    @app.get("/api/concepts/{c}/random", response_model=models.Items, tags=["explore"])
    def random_items(
        c: str,
        project: ProjectDep,
        n: Annotated[int, Query(gt=0, le=1000)] = 10,
        split: Literal["pool", "test"] = "pool",
    ):
        """Random unlabeled items (seeding negatives; split=test for held-out items that measure AP)."""
        return {"items": plain(_session(project, c).random_items(n=n, split=split))}

    @app.get("/api/concepts/{c}/stats", response_model=models.Stats, tags=["explore"])
    def stats(c: str, project: ProjectDep):
        """Progress: labels, positives, pool size, AP on labeled test items, the curve of positives,
        and the recall estimate with its 95% interval (`estimate`, null before the first round)."""
        return plain(_session(project, c).stats())

    @app.get("/api/concepts/{c}/audit", response_model=models.Items, tags=["explore"])
    def audit_pending(c: str, project: ProjectDep):
        """The audit items drawn earlier (POST .../audit) and not labeled positive/negative yet.
        Reads only: a GET never draws."""
        from sealsearch.sessions.estimate import pending_items

        return {"items": plain(pending_items(_session(project, c)))}

    @app.post("/api/concepts/{c}/audit", response_model=models.Items, tags=["explore"])
    def audit(c: str, body: models.AuditIn, project: ProjectDep):
        """Draw n random unlabeled pool items to label (ordinary label POSTs) so the recall estimate
        tightens: once they are labeled, `stats.estimate` is the audit's. The draws are recorded in
        the project file, which is why this is a POST (behind the same CSRF check as labels)."""
        return {"items": plain(_session(project, c).audit(n=body.n, labeler=body.labeler))}

    @app.get("/api/concepts/{c}/top", response_model=models.Items, tags=["explore"])
    def top(c: str, project: ProjectDep, n: Annotated[int, Query(gt=0, le=1000)] = 20):
        """What the model finds: unlabeled pool items ranked by the current classifier."""
        return {"items": plain(_session(project, c).top(n=n))}

    @app.get(
        "/api/concepts/{c}/export",
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

    @app.get(
        "/api/concepts/{c}/model",
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
