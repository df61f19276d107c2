"""`seals serve PROJECT`: the labeling app on a local port (uvicorn, one worker).

A token must be at least `TOKEN_MIN_CHARS` characters with no whitespace (a guessable token on a
network port is no lock); without one, any host but loopback is refused with a freshly generated
token to paste. Media are served from `--media-root`, else the directory the dataset recorded at
import (`media_root` in dataset.json), else DATASET/media.
"""

from __future__ import annotations

import secrets
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from sealsearch.cli import options as opt
from sealsearch.cli.output import cli_message
from sealsearch.errors import InvalidParameterError, SealsearchError

app = opt.Typer()
TOKEN_MIN_CHARS = 16
"""Shortest accepted --token (`secrets.token_urlsafe(18)`, as suggested, is 24 characters)."""


def check_exposure(host: str, token: str | None) -> None:
    """Anything but loopback needs a token: otherwise anyone on the network could label and export.
    A token given anywhere must be strong, since it may later guard a network port."""
    from sealsearch.web.security import is_loopback

    if token is not None and (len(token) < TOKEN_MIN_CHARS or any(c.isspace() for c in token)):
        raise InvalidParameterError(
            f"--token: too weak (give at least {TOKEN_MIN_CHARS} characters and no spaces), e.g. "
            f"--token {secrets.token_urlsafe(18)}"
        )
    if not is_loopback(host) and not token:
        raise InvalidParameterError(
            f"--token: required with --host {host} (the app would be open to the network); pass "
            f"--token {secrets.token_urlsafe(18)} (or set SEALS_TOKEN), or keep --host 127.0.0.1"
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one (no race between choosing and binding).

    proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the
    socket says TCP, and without it every keep-alive response waited ~40 ms (Nagle + delayed ACK).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.getaddrinfo(host.strip("[]"), port, family, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidParameterError(
            f"--host {host}: cannot be resolved to an address of this machine; give an IP such as 127.0.0.1 or 0.0.0.0"
        ) from None
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise InvalidParameterError(
            f"--port {port}: cannot listen on {host}:{port} ({exc.strerror}); pick another port or -p 0"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@app.command("serve")
def serve(
    project_dir: opt.ProjectDir,
    host: Annotated[
        str,
        typer.Option(
            help="Interface to listen on. 127.0.0.1 keeps the app on this machine; "
            "0.0.0.0 exposes it to the network and needs --token."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port; 0 picks a free one.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(envvar="SEALS_TOKEN", help="Require this token (Bearer header or the printed login URL)."),
    ] = None,
    media: Annotated[
        Path | None,
        typer.Option(
            "--media-root",
            help="Directory of the items' image files (default: the dataset's media_root from import, else "
            "DATASET/media).",
        ),
    ] = None,
) -> None:
    """Serve the labeling app for PROJECT (loopback only unless --host and --token are given)."""
    import uvicorn

    from sealsearch.sessions import Project
    from sealsearch.web import create_app

    try:
        check_exposure(host, token)
        sock = bind(host, port)
        project = Project.open(project_dir)
        project.warm_up()  # the text model loads while the page opens, not on the first query
    except SealsearchError as exc:
        typer.echo(f"error: {' '.join(cli_message(exc).split())}", err=True)
        raise typer.Exit(exc.exit_code) from None
    app = create_app(project, token=token, media_root=media if media is not None else project.dataset.media_dir)
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/"
    login = f"{url}-/auth?token={app.state.guard.login_code}" if token else url
    print(f"serving {project_dir} at {url}", flush=True)
    if token:
        print(f"open (single use) {login}  — scripts: Authorization: Bearer $SEALS_TOKEN", flush=True)
    config = uvicorn.Config(app, lifespan="on", workers=1, log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        project.close()
        sock.close()
    sys.stdout.flush()
