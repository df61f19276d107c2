"""Every failure as `{"error": "one line"}` with a 4xx status (503/507 for a busy project or a
refusing disk), never a traceback or a list; `SealsearchError`s carry their `http_status`
(sealsearch/errors.py). No answer shows a server path: the library's messages name files by
their absolute paths (right for a terminal), and `redact` turns the project's, the dataset's and
the media root's into their last component before a message leaves the server."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sealsearch.errors import SealsearchError

log = logging.getLogger("sealsearch.web")


def http_status(exc: SealsearchError) -> int:
    """The error class's `http_status` (400/404/409/422, 507 for a full or read-only disk), 400
    when it has none."""
    status = getattr(exc, "http_status", 400)
    return status if isinstance(status, int) and 400 <= status < 600 else 400


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def server_paths(app: FastAPI) -> list[tuple[str, str]]:
    """(absolute path, what to show instead) for every directory of this server an error may name,
    longest first so a file inside the project is cut at the project, not at its parent."""
    project = app.state.project
    dataset = getattr(project, "dataset", None)
    roots = [getattr(project, "path", None), getattr(dataset, "path", None), app.state.media_root]
    pairs = set()
    for root in roots:
        if root is None:
            continue
        for spelling in {str(Path(root)), str(Path(root).absolute()), str(Path(root).resolve())}:
            if spelling not in (".", "/"):
                pairs.add((spelling, Path(root).resolve().name or "."))
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def redact(app: FastAPI, message: str) -> str:
    for path, name in server_paths(app):
        message = message.replace(path, name)
    return message


def validation_message(exc: RequestValidationError) -> str:
    """The first problem, as `where: what; fix`, e.g.
    `labels[0].label: must be one of 'positive', 'negative', 'skip' (got 'yes')`."""
    errors = exc.errors()
    if not errors:
        return "request: invalid"
    first = errors[0]
    loc = [part for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    where = where or ("body" if first.get("loc", ("",))[0] == "body" else "request")
    what = first.get("msg", "invalid").removeprefix("Value error, ")
    kind = first.get("type", "")
    if kind == "missing":
        what = "required; add it"
    elif kind == "json_invalid":
        what = "not valid JSON; send a JSON object with Content-Type: application/json"
    elif kind == "string_pattern_mismatch":  # a person reads this, not the pattern (only labeler names have one)
        what = f"use letters, digits and . _ @ + - only, no spaces (got {first.get('input')!r})"
    elif kind == "extra_forbidden":
        what = "unknown field; remove it (see /docs)"
    elif "input" in first and kind not in ("model_type", "dict_type"):
        shown = repr(first["input"])
        what = f"{what} (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {what}{more}"


def wants_page(request: Request) -> bool:
    """A person's browser asking for a page (not the API, not a script): it gets an HTML page."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SealsearchError)
    async def _sealsearch(request: Request, exc: SealsearchError):
        retry = getattr(exc, "retry_after_s", None)
        headers = {"Retry-After": str(retry)} if retry is not None else None
        return error_response(http_status(exc), redact(request.app, str(exc)), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return error_response(422, redact(request.app, validation_message(exc)))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and detail == "Not Found" and wants_page(request):
            from sealsearch.web.pages import missing_page

            return missing_page(request, request.url.path)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"{request.url.path}: no such page or endpoint; see /docs for the API"
        elif exc.status_code == 405:
            detail = f"{request.method} {request.url.path}: method not allowed; see /docs"
        return JSONResponse({"error": one_line(detail)}, status_code=exc.status_code, headers=exc.headers)
