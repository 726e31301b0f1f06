"""The shipped demo files, and the demo module's program run as a real subprocess, as jobs run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ee_retry.adapters.kbase.static import FileAuth, FileCatalog, FileWorkspace
from ee_retry.domain.model import JobRequirements
from ee_retry.domain.values import Permission, User
from ee_retry.errors import AuthenticationError
from ee_retry.settings import demo_file

DEMO_COMMAND = (sys.executable, "-m", "ee_retry.demo.demo_app")
RUN_TIMEOUT_S = 60  # generous ceiling for a Python start-up on a loaded CI machine


def run_demo(
    method: str, params: Any, cwd: Path, command: Sequence[str] = DEMO_COMMAND, raw_params: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the demo program the way the local executor does: method and params in the environment."""
    env = dict(os.environ, EE_RETRY_METHOD=method)
    env["EE_RETRY_PARAMS"] = raw_params if raw_params is not None else json.dumps(params)
    return subprocess.run(
        list(command), env=env, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )


def result_line(stdout: str) -> Any:
    return json.loads(stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- shipped demo files


@pytest.mark.parametrize(
    ("token", "name", "roles"),
    [
        ("alice-token", "alice", set()),
        ("bob-token", "bob", set()),
        ("admin-token", "ee2admin", {"EE2_ADMIN"}),
        ("readonly-admin-token", "ee2readonly", {"EE2_ADMIN_RO"}),
    ],
)
async def test_the_demo_tokens_name_the_demo_users(token: str, name: str, roles: set[str]) -> None:
    found = await FileAuth(demo_file("tokens.json")).user_for_token(token)
    assert (found.name, set(found.roles)) == (name, roles)


async def test_the_demo_tokens_reject_anything_else() -> None:
    with pytest.raises(AuthenticationError):
        await FileAuth(demo_file("tokens.json")).user_for_token("mallory-token")


async def test_the_demo_workspaces_share_workspace_1_with_bob_and_keep_2_private() -> None:
    ws = FileWorkspace(demo_file("workspaces.json"))
    alice, bob = User("alice", token="alice-token"), User("bob", token="bob-token")
    assert await ws.permissions(alice, [1, 2]) == {1: Permission.ADMIN, 2: Permission.NONE}
    assert await ws.permissions(bob, [1, 2]) == {1: Permission.READ, 2: Permission.ADMIN}


async def test_the_demo_catalog_has_a_release_and_a_beta_version_of_demo() -> None:
    catalog = FileCatalog(demo_file("catalog.json"))
    release = await catalog.resolve("Demo", None)
    beta = await catalog.resolve("Demo", "beta")
    assert release.git_commit_hash != beta.git_commit_hash
    assert (await catalog.resolve("Demo", "dev")).git_commit_hash == beta.git_commit_hash
    assert release.requirements == JobRequirements(cpus=1, memory_mb=512, disk_gb=1, client_group="njs")
    assert release.command == DEMO_COMMAND


@pytest.mark.slow
async def test_the_demo_catalogs_command_runs_the_demo_program(tmp_path: Path) -> None:
    resolved = await FileCatalog(demo_file("catalog.json")).resolve("Demo", None)
    done = run_demo("Demo.succeed", [{"x": 1}], tmp_path, command=resolved.command)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_the_demo_program_loads_only_the_standard_library(tmp_path: Path) -> None:
    probe = (
        "import sys, ee_retry.demo.demo_app; "
        "loaded = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(loaded & {'httpx2', 'starlette', 'pymongo', 'htcondor2'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=True,
    )
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------- the demo program


@pytest.mark.slow
def test_succeed_prints_a_result_line_echoing_the_params(tmp_path: Path) -> None:
    params = [{"name": "demo", "n": 3}]
    done = run_demo("Demo.succeed", params, tmp_path)
    assert done.returncode == 0
    assert result_line(done.stdout) == {
        "version": "1.1",
        "result": [{"method": "Demo.succeed", "params": params}],
    }


@pytest.mark.slow
def test_fail_exits_with_the_exit_code_asked_for(tmp_path: Path) -> None:
    assert run_demo("Demo.fail", [{"exit_code": 7}], tmp_path).returncode == 7


@pytest.mark.slow
def test_sleep_waits_then_succeeds(tmp_path: Path) -> None:
    params = [{"seconds": 0.05}]
    done = run_demo("Demo.sleep", params, tmp_path)
    assert done.returncode == 0
    assert result_line(done.stdout)["result"][0]["params"] == params


@pytest.mark.slow
def test_fail_unless_file_succeeds_once_the_file_exists(tmp_path: Path) -> None:
    (tmp_path / "input.txt").write_text("data")
    done = run_demo("Demo.fail_unless_file", [{"path": "input.txt"}], tmp_path)
    assert done.returncode == 0
    assert result_line(done.stdout)["result"][0]["method"] == "Demo.fail_unless_file"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "params", "code", "says"),
    [
        pytest.param("Demo.fail", [{}], 1, "failing on purpose", id="fail-exits-1-failing-on-purpose"),
        pytest.param(
            "Demo.fail_unless_file",
            [{"path": "input.txt"}],
            1,
            "missing input: input.txt",
            id="fail-unless-file-exits-1-naming-the-missing-input",
        ),
        pytest.param("Demo.explode", [{}], 2, "Demo.explode", id="an-unknown-method-exits-2-naming-it"),
    ],
)
def test_a_method_that_does_not_succeed_exits_with_its_code_saying_why_on_stderr(
    tmp_path: Path, method: str, params: Any, code: int, says: str
) -> None:
    done = run_demo(method, params, tmp_path)
    assert done.returncode == code
    assert says in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "params", "raw"),
    [
        ("Demo.succeed", None, "{not json"),
        ("Demo.fail", [{"exit_code": 0}], None),
        ("Demo.sleep", [{"seconds": -1}], None),
        ("Demo.fail_unless_file", [{}], None),
    ],
)
def test_unusable_params_exit_2_with_a_message(
    tmp_path: Path, method: str, params: Any, raw: str | None
) -> None:
    done = run_demo(method, params, tmp_path, raw_params=raw)
    assert done.returncode == 2
    assert done.stderr.strip()


@pytest.mark.slow
def test_params_given_as_an_object_are_read_too(tmp_path: Path) -> None:
    assert run_demo("Demo.fail", {"exit_code": 5}, tmp_path).returncode == 5
