"""retry_job / retry_jobs: every preflight rule with its message, and ee2's own retry checklist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ee_retry.adapters.kbase.static import FileCatalog, FileWorkspace
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import Job, JobInput, JobStatus
from ee_retry.errors import InvalidParams, PermissionDenied, TooManyIds
from ee_retry.service.jobs import cancel_job
from ee_retry.service.submit.requests import RequirementsOverride
from ee_retry.settings import demo_file
from tests.service.conftest import Env

RELEASE = "52ea58866b80a931944b028dd66b9b3a906be270"
BETA = "b2051874499e4ce56f1ade1c35cdd488b35b21b5"


def use_workspaces(env: Env, tmp_path: Path, workspaces: dict[str, dict[str, str]]) -> None:
    path = tmp_path / "ws.json"
    path.write_text(json.dumps({"workspaces": workspaces}))
    env.deps.workspace = FileWorkspace(path)


async def test_retry_creates_an_attempt_that_copies_inputs_and_pins_the_commit(env: Env) -> None:
    """The attempt runs the exact commit the original ran (resolved from 'beta'), with the same inputs."""
    cell = {"cell_id": "c1", "run_id": "r1"}
    job_id = await env.failed_job(
        method="Demo.fail",
        service_ver="beta",
        params=[{"x": 1}],
        app_id="Demo/fail",
        source_ws_objects=("1/2/3",),
        parent_job_id="p1",
        narrative_cell_info=cell,
    )
    [item] = await env.retry(job_id)
    attempt = await env.job(item["retry_id"])
    original = await env.job(job_id)
    assert item["job_id"] == job_id
    assert attempt.job_input is not None and original.job_input is not None
    assert attempt.job_input.service_ver == BETA
    assert attempt.job_input == original.job_input
    assert attempt.retry_parent == job_id and attempt.wsid == 1
    assert attempt.status is JobStatus.QUEUED and attempt.retry_saved_toggle
    assert original.retry_ids == (attempt.id,) and original.retry_count == 1
    assert env.sched.spec(attempt.id).service_ver == BETA  # type: ignore[union-attr]


async def test_attempt_belongs_to_the_caller_as_in_ee2(env: Env) -> None:
    job_id = await env.failed_job()
    [item] = await env.retry(job_id, user=env.admin, as_admin=True)
    assert (await env.job(item["retry_id"])).user == env.admin.name


async def test_retry_of_a_running_job_is_refused(env: Env) -> None:
    job_id = await env.run()
    await env.sched.start(job_id)
    [item] = await env.retry(job_id)
    assert item == {
        "job_id": job_id,
        "error": f"Error retrying job {job_id} with status running: "
        "can only retry jobs with status 'error' or 'terminated'",
        "code": -32005,
        "error_class": "RetryNotAllowed",
    }


async def test_retry_of_a_completed_job_is_refused(env: Env) -> None:
    job_id = await env.run(method="Demo.succeed")
    await env.sched.complete(job_id, exit_code=0)
    [item] = await env.retry(job_id)
    assert "with status completed" in item["error"]


async def test_retry_after_terminate_works(env: Env) -> None:
    job_id = await env.run()
    await cancel_job(env.deps, env.alice, job_id, False)
    assert (await env.job(job_id)).status is JobStatus.TERMINATED
    [item] = await env.retry(job_id)
    assert "retry_id" in item


async def test_retry_of_a_retry_attaches_to_the_original(env: Env) -> None:
    job_id, first = await env.failed_attempt()
    [second] = await env.retry(first)
    assert second["job_id"] == job_id
    attempt = await env.job(second["retry_id"])
    assert attempt.retry_parent == job_id
    assert (await env.job(first)).retry_ids == ()
    assert (await env.job(job_id)).retry_ids == (first, second["retry_id"])


async def test_three_retries_give_retry_ids_in_order_and_count_three(env: Env) -> None:
    job_id = await env.failed_job()
    made = []
    for _ in range(3):
        [item] = await env.retry(job_id)
        made.append(item["retry_id"])
        await env.sched.complete(item["retry_id"], exit_code=1)
        env.clock.advance(1)
    original = await env.job(job_id)
    assert original.retry_ids == tuple(made) and original.retry_count == 3


async def test_batch_container_is_refused(env: Env) -> None:
    batch_id, _ = await env.failed_batch()
    [item] = await env.retry(batch_id)
    assert item["error"] == "Cannot retry batch job parents. Must retry individual jobs"


async def test_batch_child_retry_is_appended_to_child_jobs_and_keeps_batch_id(env: Env) -> None:
    batch_id, children = await env.failed_batch(2)
    [item] = await env.retry(children[0])
    container = await env.job(batch_id)
    assert container.child_jobs == (*children, item["retry_id"])
    assert (await env.job(item["retry_id"])).batch_id == batch_id


async def test_invalid_ids_are_per_item_errors_beside_a_success(env: Env) -> None:
    job_id = await env.failed_job()
    missing = "0" * 24
    items = await env.retry("not-an-id", job_id, missing)
    assert "24 hexadecimal" in items[0]["error"] and items[0]["job_id"] == "not-an-id"
    assert "retry_id" in items[1]
    assert items[2]["job_id"] == missing and "No job with id" in items[2]["error"]


async def test_empty_list_is_refused_with_ee2s_message(env: Env) -> None:
    with pytest.raises(InvalidParams, match="No job_ids provided to retry"):
        await env.retry()


async def test_the_same_id_twice_is_refused_with_ee2s_message(env: Env) -> None:
    job_id = await env.failed_job()
    with pytest.raises(InvalidParams) as err:
        await env.retry(job_id, job_id)
    assert err.value.message == (
        f"Retry of the same id in the same request is not supported. Offending ids: ['{job_id}']"
    )
    assert (await env.job(job_id)).retry_ids == ()


async def test_more_than_a_thousand_ids_are_refused_before_any_read(env: Env) -> None:
    env.store.reset()
    with pytest.raises(TooManyIds):
        await env.retry(*[f"{i:024x}" for i in range(1001)])
    assert env.store.total == 0


async def test_an_attempt_in_flight_blocks_another_and_is_named(env: Env) -> None:
    job_id = await env.failed_job()
    [first] = await env.retry(job_id)
    [second] = await env.retry(job_id)
    assert first["retry_id"] in second["error"] and second["code"] == -32006
    assert (await env.job(job_id)).retry_ids == (first["retry_id"],)


async def test_a_finished_attempt_frees_the_original_for_another_retry(env: Env) -> None:
    job_id, _ = await env.failed_attempt()
    [second] = await env.retry(job_id)
    assert "retry_id" in second


async def test_a_job_and_its_retry_in_one_request_yield_one_attempt(env: Env) -> None:
    job_id, first = await env.failed_attempt()
    items = await env.retry(job_id, first)
    assert "retry_id" in items[0]
    assert items[1]["job_id"] == job_id and items[0]["retry_id"] in items[1]["error"]
    assert len((await env.job(job_id)).retry_ids) == 2


async def test_a_commit_the_catalog_no_longer_knows_is_refused_and_nothing_written(
    env: Env, tmp_path: Path
) -> None:
    job_id = await env.failed_job(service_ver="beta")
    catalog = json.loads(demo_file("catalog.json").read_text())
    catalog["modules"]["Demo"]["versions"] = catalog["modules"]["Demo"]["versions"][:1]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    env.deps.catalog = FileCatalog(path)
    env.store.reset()
    env.sched_proxy.reset()
    [item] = await env.retry(job_id)
    assert BETA in item["error"] and "no longer known" in item["error"]
    assert env.store.calls["insert_jobs"] == 0 and env.sched_proxy.calls["submit"] == 0
    assert (await env.job(job_id)).retry_ids == ()


async def test_admin_job_requirements_apply_to_every_item(env: Env) -> None:
    a, b = await env.failed_job(), await env.failed_job()
    reqs = RequirementsOverride(cpus=8, memory_mb=4096, client_group="bigmem")
    items = await env.retry(a, b, user=env.admin, as_admin=True, job_requirements=reqs)
    for item in items:
        attempt = await env.job(item["retry_id"])
        assert attempt.job_input is not None
        assert (attempt.job_input.requirements.cpus, attempt.job_input.requirements.client_group) == (
            8,
            "bigmem",
        )
        assert env.sched.spec(attempt.id).requirements.memory_mb == 4096  # type: ignore[union-attr]


async def test_a_retry_reproduces_the_originals_admin_set_requirements(env: Env) -> None:
    job_id = await env.failed_job(
        user=env.admin, as_admin=True, job_requirements=RequirementsOverride(cpus=4, client_group="kb_upload")
    )
    [item] = await env.retry(job_id, user=env.admin)
    attempt = await env.job(item["retry_id"])
    assert attempt.job_input is not None
    assert (attempt.job_input.requirements.cpus, attempt.job_input.requirements.client_group) == (
        4,
        "kb_upload",
    )


@pytest.mark.parametrize("who", ["alice", "admin_without_as_admin"])
async def test_job_requirements_from_anyone_but_an_admin_with_as_admin_are_refused(
    env: Env, who: str
) -> None:
    job_id = await env.failed_job()
    user = env.alice if who == "alice" else env.admin
    with pytest.raises(PermissionDenied, match="EE2_ADMIN with as_admin"):
        await env.retry(job_id, user=user, job_requirements=RequirementsOverride(cpus=2))


async def test_another_user_cannot_tell_the_job_exists(env: Env) -> None:
    job_id = await env.failed_job(wsid=None)
    [theirs] = await env.retry(job_id, user=env.bob)
    [missing] = await env.retry("f" * 24, user=env.bob)
    assert theirs["error"].replace(job_id, "X") == missing["error"].replace("f" * 24, "X")
    assert theirs["code"] == missing["code"] == -32003


async def test_a_read_only_workspace_user_cannot_retry(env: Env) -> None:
    job_id = await env.failed_job()  # workspace 1: bob may only read
    [item] = await env.retry(job_id, user=env.bob)
    assert "No job with id" in item["error"]


async def test_a_workspace_writer_may_retry(env: Env, tmp_path: Path) -> None:
    use_workspaces(env, tmp_path, {"1": {"alice": "a", "bob": "w"}})
    job_id = await env.failed_job()
    [item] = await env.retry(job_id, user=env.bob)
    assert "retry_id" in item


async def test_a_read_only_admin_cannot_retry(env: Env) -> None:
    job_id = await env.failed_job()
    with pytest.raises(PermissionDenied, match=r"Read-only admins .* cannot retry jobs"):
        await env.retry(job_id, user=env.ro_admin, as_admin=True)


async def test_an_admin_with_as_admin_may_retry_anyones_job(env: Env) -> None:
    job_id = await env.failed_job(wsid=None)
    [item] = await env.retry(job_id, user=env.admin, as_admin=True)
    assert "retry_id" in item


async def test_retrying_a_batch_child_needs_write_access_to_its_batch(env: Env, tmp_path: Path) -> None:
    use_workspaces(env, tmp_path, {"1": {"alice": "a", "bob": "w"}, "3": {"alice": "a", "bob": "w"}})
    from ee_retry.service.submit.requests import RunRequest
    from ee_retry.service.submit.run import run_job_batch

    answer = await run_job_batch(env.deps, env.alice, [RunRequest("Demo.fail", wsid=3)], None, False)
    child = answer["child_job_ids"][0]
    await env.sched.complete(child, exit_code=1)
    [item] = await env.retry(child, user=env.bob)
    assert "you may not write" in item["error"] and "needs write access to its batch" in item["error"]


async def test_naming_an_own_attempt_does_not_retry_an_original_the_caller_may_no_longer_write(
    env: Env, tmp_path: Path
) -> None:
    """bob retried alice's job while he could write its workspace; now he can only read it. Naming his
    own failed attempt retries alice's original, so it is refused like naming the original is."""
    use_workspaces(env, tmp_path, {"1": {"alice": "a", "bob": "w"}})
    original = await env.failed_job()
    [first] = await env.retry(original, user=env.bob)
    await env.sched.complete(first["retry_id"], exit_code=1)
    use_workspaces(env, tmp_path, {"1": {"alice": "a", "bob": "r"}})

    [via_original] = await env.retry(original, user=env.bob)
    [via_attempt] = await env.retry(first["retry_id"], user=env.bob)

    assert "No job with id" in via_original["error"]
    assert "may not write" in via_attempt["error"] and original in via_attempt["error"]
    assert (await env.job(original)).retry_ids == (first["retry_id"],)


async def test_naming_a_job_after_its_own_attempt_says_the_job_is_already_retried(env: Env) -> None:
    job_id, first = await env.failed_attempt()
    attempt_item, original_item = await env.retry(first, job_id)
    assert original_item["error"].startswith(f"Job {job_id} is already retried by this request as ")
    assert attempt_item["retry_id"] in original_item["error"]


async def test_an_original_that_records_no_pinned_commit_is_refused_not_re_resolved(env: Env) -> None:
    """A record with a tag in service_ver (as an old writer might leave) would run whatever 'release'
    is now; the retry is refused instead, and nothing is written."""
    created = env.clock.now()
    legacy = Job(
        new_id(created),
        "alice",
        JobStatus.ERROR,
        JobInput(method="Demo.fail", service_ver="release", wsid=1),
        created,
        created,
        wsid=1,
    )
    await env.deps.store.insert_jobs([legacy])
    [item] = await env.retry(legacy.id)
    assert "records no pinned commit" in item["error"] and "'release'" in item["error"]
    assert (await env.job(legacy.id)).retry_ids == ()


async def test_an_attempt_in_flight_that_another_writer_made_blocks_a_retry(env: Env) -> None:
    """ee2 retried the job before this service took over; its attempt is still queued and carries
    none of this service's in-flight marker. The latest linked attempt is checked before writing."""
    job_id = await env.failed_job()
    created = env.clock.now()
    ee2_attempt = Job(
        new_id(created),
        "alice",
        JobStatus.QUEUED,
        (await env.job(job_id)).job_input,
        created,
        created,
        wsid=1,
        retry_parent=job_id,
    )
    await env.deps.store.insert_jobs([ee2_attempt])
    await env.deps.store.link({job_id: [ee2_attempt.id]}, {}, [ee2_attempt.id])
    assert (await env.job(ee2_attempt.id)).retry_active is None

    [via_original] = await env.retry(job_id)
    assert ee2_attempt.id in via_original["error"] and via_original["code"] == -32006
    assert (await env.job(job_id)).retry_ids == (ee2_attempt.id,)
