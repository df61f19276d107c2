"""HTML pages (Jinja2 shells that call the JSON API), static files, media and the login URL."""

from __future__ import annotations

import difflib
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from sealsearch.errors import UnknownNameError
from sealsearch.web.errors import error_response
from sealsearch.web.options import options

HERE = Path(__file__).parent
MEDIA_TYPES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".bmp", ".svg"}


def resolve_media(root: Path | None, relative: str) -> Path | None:
    """The file `relative` names inside `root`, or None when it is absent or would leave the root
    (`..`, absolute paths, backslashes, NUL, or a symlink anywhere on the way out of the root)."""
    if root is None or not relative or "\x00" in relative or "\\" in relative:
        return None
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or any(part in ("..", ".") for part in parts):
        return None
    candidate = root.joinpath(*parts)
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        return None
    return resolved


PAGE_POLICY = (
    "default-src 'self'; img-src 'self' http: https: data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
MEDIA_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"
"""Media files are the dataset's, not ours: opened directly (an SVG with a script), they run nothing
and reach nothing (`sandbox` gives them an opaque origin); shown in an <img> they look the same."""
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


def page(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    project = request.app.state.project
    context.setdefault("project_name", Path(str(getattr(project, "path", "project"))).name)
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request):
    """The concept list and the create form, whose choices come from the registries (web/options.py)."""
    return page(request, "home.html", options=options(request.app.state.project))


@router.get("/c/{c}", response_class=HTMLResponse)
def label_page(request: Request, c: str):
    """The labeling page of concept `c`; an unknown concept is a 404 page, not an empty labeling page."""
    try:
        request.app.state.project.concept(c)
    except UnknownNameError:  # in the page's words (the library's names Python and terminal fixes)
        names = [row["name"] for row in request.app.state.project.concepts()]
        close = difflib.get_close_matches(c, names, n=1)
        message = f"This project has no concept of that name. Did you mean “{close[0]}”?" if close else (
            "This project has no concept of that name: create it from the list of concepts."
        )  # fmt: skip
        return page(request, "missing.html", status_code=404, concept=c, message=message, close=close)
    return page(request, "label.html", concept=c)


def missing_page(request: Request, path: str) -> HTMLResponse:
    """The not-found page of a browser's request for a page that does not exist (a concept name
    with '/' in it, a mistyped address)."""
    return page(request, "missing.html", status_code=404, concept=None, message=f"There is no page at {path}.")


@router.get("/-/auth")
def login(request: Request, token: str = "") -> Response:
    return request.app.state.guard.login(request, token)


@router.get("/media/{path:path}")
def media(request: Request, path: str) -> Response:
    """A file under the media root; anything resolving outside it is refused. Served inert (see
    MEDIA_POLICY) and never sniffed as another type."""
    root = request.app.state.media_root
    found = resolve_media(root, path)
    if found is None:
        return error_response(
            404,
            f"media path {path!r}: no such file inside the media root; item URIs must be relative paths under it",
        )
    if found.suffix.lower() not in MEDIA_TYPES:
        return error_response(
            404, f"media path {path!r}: only image files ({', '.join(sorted(MEDIA_TYPES))}) are served"
        )
    headers = {"Cache-Control": "private, max-age=3600", "Content-Security-Policy": MEDIA_POLICY}
    return FileResponse(found, headers=headers)


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


def install_pages(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(router)
