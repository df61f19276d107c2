"""Who may talk to the app: loopback by default, a token otherwise, and browser POSTs only
from the app's own pages.

- Host check (DNS rebinding): without a token only requests whose Host is a loopback name pass.
- Token: `Authorization: Bearer TOKEN`, or a signed cookie set by the single-use login URL
  `/-/auth?token=CODE` (the code is printed by `seals serve` and cleared once used).
- CSRF, header-based as in Datasette: a POST carrying the cookie (a browser) passes only with
  `Sec-Fetch-Site: same-origin|none` or an `Origin` equal to the app's own; header-less clients
  (curl) and Bearer requests without the cookie pass.

Cookies are signed with HMAC-SHA256 (stdlib) under a key derived from the token, so a restarted
server (same token) still accepts them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # JSON, errors, files: nothing in them may run or load anything (pages and /docs set their own)
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}
MAX_BODY = 4 * 1024 * 1024  # a full 10,000-label request is ~0.6 MB
TOO_LARGE = f"body: larger than {MAX_BODY // 1024 // 1024} MiB; send the labels in several requests"
COOKIE = "seals_auth"
COOKIE_MAX_AGE = 30 * 24 * 3600
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
OPEN_PATHS = ("/-/auth", "/static/", "/favicon.ico")
BAD_HOST = "is not allowed; open the app at http://127.0.0.1:PORT/ (loopback only without --token)"
NO_TOKEN = (
    "authorization: missing or wrong token; send Authorization: Bearer TOKEN or open the login URL "
    "printed by `seals serve`"
)
USED_LOGIN = (
    "token: this login URL is invalid or was already used; restart `seals serve` for a new one, "
    "or send Authorization: Bearer TOKEN"
)
CROSS_SITE = (
    "origin: cross-site request refused (CSRF); send requests from the app's own pages or without browser cookies"
)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header, without the port ("[::1]:8765" -> "::1")."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Signer:
    """`sign(value)` -> "payload.signature"; `unsign` returns the value or None (tampered)."""

    def __init__(self, key: bytes):
        self.key = key

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self.key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, value: str) -> str:
        payload = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(payload.encode())}"

    def unsign(self, signed: str) -> str | None:
        payload, _, mac = signed.rpartition(".")
        if not payload or not secrets.compare_digest(mac, self._mac(payload.encode())):
            return None
        try:
            return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None


class Guard:
    """The security policy of one app; `check(request)` returns a refusal Response or None."""

    def __init__(self, token: str | None, allowed_hosts: set[str] | None = None):
        self.token = token
        self.login_code: str | None = secrets.token_urlsafe(24) if token else None
        key = hmac.new(token.encode(), b"sealsearch cookie v1", hashlib.sha256).digest() if token else b""
        self.signer = Signer(key or secrets.token_bytes(32))
        # Without a token the Host must be loopback (DNS rebinding); with one any Host may reach us.
        self.allowed_hosts = allowed_hosts if allowed_hosts is not None else (None if token else LOOPBACK_NAMES)

    # -- authentication ---------------------------------------------------------------------
    def _bearer_ok(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return bool(self.token) and scheme.lower() == "bearer" and secrets.compare_digest(value.strip(), self.token)

    def _cookie_ok(self, request: Request) -> bool:
        raw = request.cookies.get(COOKIE)
        value = self.signer.unsign(raw) if raw else None
        if not value:
            return False
        _, _, issued = value.partition(":")
        return issued.isdigit() and time.time() - int(issued) < COOKIE_MAX_AGE

    def authenticated(self, request: Request) -> bool:
        return self.token is None or self._bearer_ok(request) or self._cookie_ok(request)

    def login(self, request: Request, code: str) -> Response:
        """The single-use login URL: a valid code sets the cookie and redirects home."""
        if self.token is None:
            return RedirectResponse("/", status_code=303)
        if self.login_code is None or not secrets.compare_digest(code, self.login_code):
            return _refuse(403, USED_LOGIN)
        self.login_code = None
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE,
            self.signer.sign(f"user:{int(time.time())}"),
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
        )
        return response

    # -- the checks, in order ---------------------------------------------------------------
    def check(self, request: Request) -> Response | None:
        host = host_name(request.headers.get("host", ""))
        if self.allowed_hosts is not None and host.lower() not in self.allowed_hosts:
            return _refuse(400, f"Host: {host or '(none)'} {BAD_HOST}")
        path = request.url.path
        if not path.startswith(OPEN_PATHS) and not self.authenticated(request):
            return _refuse(401, NO_TOKEN)
        if request.method in UNSAFE_METHODS and not self._same_origin(request):
            return _refuse(403, CROSS_SITE)
        return None

    def _same_origin(self, request: Request) -> bool:
        if self._bearer_ok(request) and COOKIE not in request.cookies:
            return True
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser (curl, scripts): browsers send Origin on every POST
        return origin.rstrip("/") == f"{request.url.scheme}://{request.headers.get('host', '')}"


def _refuse(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 before it is read whole,
    whether it declares a Content-Length or streams chunks (at most `limit` bytes are buffered)."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _refuse(413, TOO_LARGE)(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await _refuse(413, TOO_LARGE)(scope, receive, send)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
