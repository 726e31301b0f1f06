"""Errors name the value they refuse, but never echo more than a short excerpt of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from ee_retry.errors import ECHO_MAX_CHARS
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN

Rpc = Callable[..., tuple[int, Any]]
HUGE = "z" * 900_000  # fits in one request body, far longer than any excerpt


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("check_job", {"job_id": HUGE}),
        ("cancel_job", {"job_id": HUGE}),
        ("check_jobs", {"job_ids": [HUGE]}),
        ("retry_job", {"job_id": HUGE}),
        ("run_job", {"method": HUGE, "wsid": 1}),
        ("update_job_status", {"job_id": "0123456789abcdef01234567", "status": HUGE, "as_admin": 1}),
    ],
    ids=["check_job", "cancel_job", "check_jobs", "retry_job", "run_job", "update_job_status"],
)
def test_a_refused_value_is_echoed_cut_short_in_the_error(
    client: TestClient, rpc: Rpc, method: str, params: dict[str, Any]
) -> None:
    token = ADMIN_TOKEN if params.get("as_admin") else ALICE_TOKEN
    status, body = rpc(client, method, [params], token)

    assert status == 500, body
    assert len(repr(body)) < 4 * ECHO_MAX_CHARS + 1_000, f"the answer is {len(repr(body))} chars"
    assert "900000 characters" in body["error"]["message"]


def test_an_unknown_method_name_is_echoed_cut_short(client: TestClient, rpc: Rpc) -> None:
    status, body = rpc(client, "x" * 500_000, [{}], ALICE_TOKEN)

    assert status == 500
    assert body["error"]["code"] == -32601
    assert len(repr(body)) < 4 * ECHO_MAX_CHARS + 1_000


def test_a_per_item_error_of_retry_jobs_echoes_the_id_cut_short(client: TestClient, rpc: Rpc) -> None:
    status, body = rpc(client, "retry_jobs", [{"job_ids": [HUGE]}], ALICE_TOKEN)

    assert status == 200
    [item] = body["result"][0]
    assert len(item["error"]) < 2 * ECHO_MAX_CHARS
    assert "900000 characters" in item["error"]
