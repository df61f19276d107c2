"""schemathesis against the app's own OpenAPI schema, in-process (ASGI) over a real Project on a
real SQLite file: no 5xx, and every response (status, content type, body, headers) matches the
schema. Each generated case runs twice: with the generated concept name (mostly unknown: 404)
and with an existing concept ("dog"), so the handlers behind the 404 are fuzzed as well."""

from __future__ import annotations

import collections

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sealsearch.sessions import Project
from sealsearch.web import create_app
from web_support import make_text_dataset

CASES: collections.Counter[str] = collections.Counter()
EXAMPLES = 30  # per operation


@pytest.fixture(scope="module")
def web_project(tmp_path_factory):
    base = tmp_path_factory.mktemp("schema")
    dataset = make_text_dataset(base / "texts")
    with Project.init(base / "project", dataset=dataset.path) as project:
        dog = dataset.items["id"].iloc[dataset.concept_rows("dog")[:3]].tolist()
        project.create_concept("dog", positives=dog)
        yield project
    print(f"\nschemathesis: {sum(CASES.values())} cases run ({dict(CASES)})")


@pytest.fixture(scope="module")
def web_schema(web_project):
    app = create_app(web_project, allowed_hosts={"testserver", "127.0.0.1", "localhost"})
    return schemathesis.openapi.from_asgi("/openapi.json", app)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def check_case(case) -> None:
    for concept in (None, "dog"):
        if concept is not None:
            if "c" not in (case.path_parameters or {}):
                return
            case.path_parameters["c"] = concept
        response = case.call()
        CASES[f"{case.method} {case.path}"] += 1
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
        )
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400 and "application/json" in str(response.headers.get("content-type")):
            message = response.json()["error"]
            assert message and "\n" not in message


def test_api_matches_its_schema_and_never_fails_with_5xx(web_schema):
    operations = [result.ok() for result in web_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):  # valid inputs, then invalid ones

            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                check_case(case)

            try:
                fuzz()
            except Unsatisfiable:  # no invalid request exists for this operation
                assert mode is GenerationMode.NEGATIVE  # e.g. only a string path parameter: any value is valid

    assert set(CASES) >= {f"{op.method.upper()} {op.path}" for op in operations}
