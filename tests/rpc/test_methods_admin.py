"""ver, status and the admin-role methods, and the check_jobs_date_range listings."""

from __future__ import annotations

from typing import Any

import pytest

from ee_retry import __version__
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.harness import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN, READONLY_ADMIN_TOKEN
from tests.rpc.conftest import T0_MS, T0_S, Api, failed, ok

# ---------------------------------------------------------------- ver, status, admin


def test_ver_returns_the_version_string(api: Api) -> None:
    assert ok(api.call("ver", [], None)) == __version__


def test_status_needs_no_token_and_has_ee2s_fields(api: Api) -> None:
    """ee2's Status: git_commit, version, service and server_time (float epoch seconds)."""
    status = ok(api.call("status", [], None))

    assert {"git_commit", "version", "service", "server_time"} <= set(status)
    assert status["version"] == __version__
    assert isinstance(status["server_time"], float)
    assert 1e9 < status["server_time"] < 1e11  # seconds, not milliseconds


@pytest.mark.parametrize(
    ("token", "is_admin", "permission"),
    [(ALICE_TOKEN, False, "n"), (ADMIN_TOKEN, True, "w"), (READONLY_ADMIN_TOKEN, True, "r")],
    ids=["user", "admin", "read-only-admin"],
)
def test_is_admin_and_get_admin_permission_report_the_callers_admin_role(
    api: Api, token: str, is_admin: bool, permission: str
) -> None:
    """As in ee2, is_admin is true for any admin role, read-only included."""
    assert ok(api.call("is_admin", [], token)) is is_admin
    assert ok(api.call("get_admin_permission", [], token)) == {"permission": permission}


# ---------------------------------------------------------------- date ranges


@pytest.fixture
def spread(api: Api, clock: FakeClock) -> list[str]:
    """Alice's jobs at T0, T0+10 s and T0+20 s; bob's at T0+5 s (in his own workspace)."""
    ids = [api.run()]
    clock.advance(5)
    api.run(BOB_TOKEN, wsid=2)
    clock.advance(5)
    ids.append(api.run())
    clock.advance(10)
    ids.append(api.run())
    return ids


def date_range(api: Api, method: str, token: str = ALICE_TOKEN, **fields: Any) -> Any:
    params = {"start_time": T0_MS, "end_time": T0_MS + 60_000, **fields}
    return ok(api.call(method, [params], token))


def test_date_range_for_user_lists_only_the_callers_jobs_in_the_window(api: Api, spread: list[str]) -> None:
    result = date_range(api, "check_jobs_date_range_for_user")

    assert [j["job_id"] for j in result["jobs"]] == spread
    assert result["count"] == 3
    assert result["query_count"] == 3
    assert result["sort_order"] == "+"


def test_date_range_pages_with_limit_and_offset(api: Api, spread: list[str]) -> None:
    result = date_range(api, "check_jobs_date_range_for_user", limit=1, offset=1)

    assert [j["job_id"] for j in result["jobs"]] == [spread[1]]
    assert result["count"] == 1
    assert result["query_count"] == 3
    assert result["skip"] == 1
    assert result["limit"] == 1


def test_date_range_descending_and_window_bounds(api: Api, spread: list[str]) -> None:
    newest_first = date_range(api, "check_jobs_date_range_for_user", ascending=False)
    later = date_range(api, "check_jobs_date_range_for_user", start_time=T0_MS + 10_000)
    earlier = date_range(api, "check_jobs_date_range_for_user", end_time=T0_MS + 10_000)

    assert [j["job_id"] for j in newest_first["jobs"]] == spread[::-1]
    assert [j["job_id"] for j in later["jobs"]] == spread[1:]  # start inclusive
    assert [j["job_id"] for j in earlier["jobs"]] == spread[:1]  # end exclusive


def test_date_range_accepts_iso_dates(api: Api, spread: list[str]) -> None:
    result = date_range(
        api,
        "check_jobs_date_range_for_user",
        start_time="2023-11-14T22:13:20Z",
        end_time="2023-11-14T22:14:00Z",
    )

    assert [j["job_id"] for j in result["jobs"]] == spread


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(T0_S - 0.5, T0_S + 60.5, id="float-seconds"),
        pytest.param(str(T0_MS), str(T0_MS + 60_000), id="int-string-milliseconds"),
        pytest.param(f"{T0_S - 0.5}", f"{T0_S + 60.5}", id="float-string-seconds"),
    ],
)
def test_date_range_reads_numeric_bounds_as_ee2_does(
    api: Api, spread: list[str], start: Any, end: Any
) -> None:
    """ee2: an int bound (or an int in a string) is epoch milliseconds; a float (or a float in a
    string) is epoch seconds."""
    result = date_range(api, "check_jobs_date_range_for_user", start_time=start, end_time=end)

    assert [j["job_id"] for j in result["jobs"]] == spread


def test_date_range_projection_keeps_only_the_named_fields(api: Api, spread: list[str]) -> None:
    result = date_range(api, "check_jobs_date_range_for_user", projection=["status"])

    assert result["jobs"][0] == {"job_id": spread[0], "status": "queued"}


def test_date_range_with_end_before_start_is_invalid(api: Api) -> None:
    params = {"start_time": T0_MS + 1_000, "end_time": T0_MS}

    assert "end_time must be after start_time" in failed(
        api.call("check_jobs_date_range_for_user", [params]), -32602
    )


@pytest.mark.parametrize("token", [ADMIN_TOKEN, READONLY_ADMIN_TOKEN], ids=["admin", "read-only-admin"])
def test_date_range_for_all_lists_every_users_jobs_for_admins(
    api: Api, spread: list[str], token: str
) -> None:
    result = date_range(api, "check_jobs_date_range_for_all", token, as_admin=1)

    assert result["query_count"] == 4
    assert {j["user"] for j in result["jobs"]} == {"alice", "bob"}


def test_date_range_of_others_is_refused_to_non_admins(api: Api, spread: list[str]) -> None:
    params = {"start_time": T0_MS, "end_time": T0_MS + 60_000}

    failed(api.call("check_jobs_date_range_for_all", [params]), -32002)
    failed(api.call("check_jobs_date_range_for_user", [{**params, "user": "bob"}]), -32002)
