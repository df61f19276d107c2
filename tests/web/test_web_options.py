"""The registries are the only lists: GET /api/options and the home page's create form are read
from them, so a strategy registered in the library appears in both with no web edit."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from sealsearch.active.knn import KNN_SOURCES
from sealsearch.active.pools import POOLS
from sealsearch.active.strategies import STRATEGIES, Strategy, random_scores
from sealsearch.index.backends import BACKENDS
from sealsearch.sessions import Project
from sealsearch.web import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory, text_dataset):
    base, dataset = tmp_path_factory.mktemp("options"), text_dataset
    with (
        Project.init(base / "project", dataset=dataset.path) as project,
        TestClient(create_app(project), base_url="http://127.0.0.1") as test_client,
    ):
        yield test_client


def form_choices(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.DOTALL).group(1)
    return re.findall(r'<option value="([^"]*)"', select)


def test_the_options_are_the_registries(client):
    options = client.get("/api/options").json()
    assert [s["name"] for s in options["strategies"]] == list(STRATEGIES)
    assert [p["name"] for p in options["pools"]] == list(POOLS)
    assert options["knn_sources"] == list(KNN_SOURCES) and options["backends"] == sorted(BACKENDS)
    assert options["labels"] == ["positive", "negative", "skip"]
    defaults = options["defaults"]
    assert [s["name"] for s in options["strategies"] if s["default"]] == [defaults["strategy"]]
    assert [p["name"] for p in options["pools"] if p["default"]] == [defaults["pool"]]
    assert options["project"] == {"knn": "auto", "backend": "faiss"}
    home = client.get("/").text
    assert form_choices(home, "strategy") == list(STRATEGIES)  # kcenter too: no list kept in the template
    assert form_choices(home, "pool") == list(POOLS)
    assert re.search(rf'<option value="{defaults["strategy"]}" selected', home)


def test_a_strategy_registered_in_the_library_shows_in_the_options_and_the_form(client, monkeypatch):
    toy = Strategy("toy", random_scores, uses_model=False, label="Toy")
    monkeypatch.setitem(STRATEGIES, "toy", toy)
    assert "toy" in [s["name"] for s in client.get("/api/options").json()["strategies"]]
    assert "toy" in form_choices(client.get("/").text, "strategy")
    monkeypatch.undo()
    assert "toy" not in [s["name"] for s in client.get("/api/options").json()["strategies"]]
