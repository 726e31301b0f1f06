"""The OpenAPI document is the REST contract: valid OpenAPI 3.1, complete, served as is, and the running
server keeps it (schemathesis fuzzes every operation against a real uvicorn process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route
from starlette.testclient import TestClient

from ee_retry.api.openapi import document
from ee_retry.api.routes import api_routes
from ee_retry.service.deps import Deps
from tests.e2e.server import Server

OPERATIONS = [(method.upper(), path) for path, ops in document()["paths"].items() for method in ops]
FUZZED = [  # every operation with valid input; with invalid input, every one that takes any input
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in ("positive", "negative")
    if mode == "positive" or path != "/api/v1/openapi.json"
]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 20  # per generation mode; keeps the whole fuzz run well under a minute


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(document())


def test_every_route_under_api_v1_is_documented_and_nothing_else(deps: Deps) -> None:
    served = set()
    for route in api_routes(deps):
        assert isinstance(route, Route) and route.methods is not None
        served |= {(m, route.path) for m in route.methods if m != "HEAD"}
    assert served == set(OPERATIONS)


def test_the_served_document_is_the_source(client: TestClient) -> None:
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.json() == document()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    made = Server(Path(tmp_path_factory.mktemp("fuzz")))
    made.start()
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture(scope="module")
def real_job(server: Server) -> str:
    """A failed job of alice's, so that fuzzed retries, cancels and reads also reach a real record."""
    job_id: str = server.result("run_job", [{"method": "Demo.fail", "params": [{}], "wsid": 1}])
    server.wait_status(job_id, {"error"})
    return job_id


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "mode"), FUZZED)
def test_the_running_server_keeps_the_contract(
    server: Server, real_job: str, method: str, path: str, mode: str
) -> None:
    schema = schemathesis.openapi.from_dict(document())
    operation = schema[path][method]
    fixed: dict[str, Any] = {"job_id": real_job} if "{job_id}" in path and mode == "positive" else {}
    strategy = operation.as_strategy(schemathesis.GenerationMode(mode), path_parameters=fixed or None)
    base = server.url.rstrip("/")

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
        case.call_and_validate(base_url=base, headers={"Authorization": "Bearer alice-token"}, checks=CHECKS)

    conforms()
