"""JSON-RPC calls at POST / skip Starlette's router (ee_retry.app.ServiceApp); a service behind a proxy
with a root path gets its calls through the router. Both ways give the same answers, byte for byte."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from ee_retry.testing.harness import ALICE_TOKEN

ROOT = "/services/ee2"


def _body(method: str, params: object) -> bytes:
    return json.dumps(
        {"version": "1.1", "method": f"execution_engine2.{method}", "params": params, "id": "7"}
    ).encode()


def _both(client: TestClient, raw: bytes, token: str | None = ALICE_TOKEN) -> tuple[object, object]:
    """(status, headers, body) at POST /, and the same call through the router under ROOT."""
    headers = {"Content-Type": "application/json", **({"Authorization": token} if token else {})}
    routed = TestClient(client.app, root_path=ROOT)
    answers = []
    for sender, path in ((client, "/"), (routed, f"{ROOT}/")):
        response = sender.post(path, content=raw, headers=headers)
        answers.append((response.status_code, sorted(response.headers.items()), response.content))
    return answers[0], answers[1]


@pytest.mark.parametrize(
    ("raw", "token"),
    [
        (_body("ver", []), None),
        (_body("status", []), None),
        (_body("check_job", [{"job_id": "0123456789abcdef01234567"}]), ALICE_TOKEN),
        (_body("check_job", [{"job_id": "not-an-id"}]), ALICE_TOKEN),
        (_body("check_job", [{"job_id": "0123456789abcdef01234567"}]), None),
        (_body("no_such_method", []), ALICE_TOKEN),
        (b'{"version": "1.1", "method": ', ALICE_TOKEN),
        (b'{"version": "1.1", "method": "execution_engine2.ver", "params": [NaN], "id": 1}', None),
        (b"[]", None),
    ],
    ids=["ver", "status", "unknown-job", "bad-id", "no-token", "no-method", "cut-json", "nan", "batch"],
)
def test_a_call_at_the_root_and_under_a_root_path_get_the_same_answer(
    client: TestClient, raw: bytes, token: str | None
) -> None:
    direct, routed = _both(client, raw, token)

    assert direct == routed
    assert json.loads(direct[2])["version"] == "1.1"  # type: ignore[index]


def test_a_job_read_at_the_root_and_under_a_root_path_is_the_same(client: TestClient) -> None:
    run = client.post(
        "/",
        content=_body("run_job", [{"method": "Demo.succeed", "wsid": 1}]),
        headers={"Authorization": ALICE_TOKEN},
    )
    job_id = run.json()["result"][0]

    direct, routed = _both(client, _body("check_job", [{"job_id": job_id}]))

    assert direct == routed
    assert json.loads(direct[2])["result"][0]["job_id"] == job_id  # type: ignore[index]


def test_other_methods_and_paths_still_go_through_the_router(client: TestClient) -> None:
    assert client.get("/").json()["service"] == "ee-retry"
    assert client.put("/", content=_body("ver", [])).status_code == 405
    assert client.post("/metrics", content=_body("ver", [])).status_code == 405
