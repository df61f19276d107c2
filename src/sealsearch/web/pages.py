"""HTML pages (Jinja2 shells that call the JSON API), static files, media and the login URL."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from sealsearch.web.errors import error_response

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


def install_pages(app: FastAPI) -> None:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def page(request: Request, name: str, **context) -> HTMLResponse:
        project = request.app.state.project
        context.setdefault("project_name", Path(str(getattr(project, "path", "project"))).name)
        response = templates.TemplateResponse(request, name, context)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' http: https: data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request):
        return page(request, "home.html")

    @app.get("/c/{c}", response_class=HTMLResponse, include_in_schema=False)
    def label_page(request: Request, c: str):
        return page(request, "label.html", concept=c)

    @app.get("/-/auth", include_in_schema=False)
    def login(request: Request, token: str = "") -> Response:
        return request.app.state.guard.login(request, token)

    @app.get("/media/{path:path}", include_in_schema=False)
    def media(request: Request, path: str) -> Response:
        """A file under the media root; anything resolving outside it is refused."""
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
        return FileResponse(found, headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)
