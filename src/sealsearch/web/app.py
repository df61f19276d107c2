"""The labeling app: `create_app(project)` returns a FastAPI app whose state is the Project.

Every page is a shell that calls the same JSON API as any script (one code path): the API's
routes are in web/api.py, the pages beside them in web/pages.py, /docs in web/docs.py, and who
may call what in web/security.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request

from sealsearch.web import models
from sealsearch.web.api import get_project, plain, router
from sealsearch.web.docs import install_docs
from sealsearch.web.errors import install_error_handlers
from sealsearch.web.pages import install_pages
from sealsearch.web.security import SECURITY_HEADERS, BodyLimit, Guard

if TYPE_CHECKING:
    from sealsearch.sessions import Project

__all__ = ["create_app", "get_project", "plain"]
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": models.Error, "description": text}
    for code, text in (
        (400, "bad parameter"),
        (404, "unknown concept or item"),
        (409, "conflict: the concept exists, or the labeler has no open batch to read"),
        (422, "invalid input"),
        (503, "the project is busy (another process holds it for writing): retry after Retry-After seconds"),
        (507, "the disk refused the write (full or read-only); nothing of the call was recorded"),
    )
}


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
        docs_url=None,  # served from the package by web/docs.py, not from a CDN
        redoc_url=None,
    )
    app.state.project = project
    app.state.guard = guard = Guard(token, allowed_hosts)
    app.state.media_root = _media_root(project, media_root)
    install_error_handlers(app)

    @app.middleware("http")
    async def security(request: Request, call_next):
        refusal = guard.check(request)
        response = refusal if refusal is not None else await call_next(request)
        for name, value in SECURITY_HEADERS.items():  # pages, media and /docs set their own CSP first
            response.headers.setdefault(name, value)
        return response

    app.add_middleware(BodyLimit)  # outermost: refuses a huge body before anything reads it
    app.include_router(router)
    install_pages(app)
    install_docs(app)
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
