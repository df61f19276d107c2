"""docs/labeling.md's endpoint table is the REST contract a person reads; /openapi.json is the one
the app serves. They must name the same routes: every route listed, no stale one."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from sealsearch.web import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "labeling.md"


class NoProject:
    """The schema needs no project: the routes are the same for every one."""

    path = Path("project")
    dataset = None


def documented() -> set[tuple[str, str]]:
    rows = re.findall(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \|", DOC.read_text(), re.MULTILINE)
    return {(method, path) for method, path in rows}


def test_the_endpoint_table_lists_every_route_and_no_stale_one():
    with TestClient(create_app(NoProject()), base_url="http://127.0.0.1") as client:
        schema = client.get("/openapi.json").json()
    served = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    listed = documented()
    assert listed, f"no endpoint table found in {DOC}"
    assert served - listed == set(), f"routes missing from {DOC.name}: {sorted(served - listed)}"
    assert listed - served == set(), f"stale rows in {DOC.name}: {sorted(listed - served)}"
