"""Property test of check_job's read path: the JobState built straight from a stored document
(`doc_state`, what check_job and check_jobs answer) equals the JobState of the job `Job.from_doc` reads
from that document (`job_state`, what every other job listing answers), key order included, for any
document a store may hold: written by this service, edited field by field, or written by ee2 with
fields missing."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ee_retry.adapters.store.common import job_doc
from ee_retry.domain.model import EE2_ONLY_FIELDS, Job, JobStatus
from ee_retry.domain.policy.model import AutoRetry, AutoRetryState
from ee_retry.rpc.views import doc_state, job_state
from tests.adapters.store.conftest import full_job

ids = st.text("0123456789abcdef", min_size=24, max_size=24)
texts = st.text(max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
times = st.none() | st.integers(0, 2**34) | st.floats(0, 2**34)
small_ints = st.none() | st.integers(-5, 2**31)


def maybe(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict holding any subset of `fields`: a document may lack any of them."""
    return st.fixed_dictionaries({}, optional=fields)


requirements = st.none() | maybe(
    cpu=st.integers(1, 64),
    memory=st.integers(1, 2**20),
    disk=st.integers(1, 2**10),
    clientgroup=texts,
    account_group=st.none() | texts,
)
job_inputs: st.SearchStrategy[dict[str, Any] | None] = (
    st.none()
    | st.just({})
    | st.fixed_dictionaries(
        {"method": texts},
        optional={
            "service_ver": st.none() | texts,
            "params": json_values,
            "app_id": st.none() | texts,
            "source_ws_objects": st.none() | st.lists(texts, max_size=2),
            "wsid": small_ints,
            "parent_job_id": st.none() | ids,
            "requirements": requirements,
            "narrative_cell_info": st.none() | st.dictionaries(texts, json_values, max_size=2),
            "meta": st.none() | st.dictionaries(texts, json_values, max_size=2),
        },
    )
)
auto_retries = st.builds(
    AutoRetry,
    state=st.sampled_from(AutoRetryState),
    rule=st.none() | texts,
    attempts=st.integers(0, 9),
    max_attempts=st.integers(0, 9),
    next_at=st.none() | st.integers(0, 2**34),
    reason=texts,
    failed_id=ids,
).map(AutoRetry.to_doc)
stored_fields = maybe(
    **{
        "authstrat": st.none() | texts,
        "wsid": small_ints,
        "job_input": job_inputs,
        "created": times,
        "updated": times,
        "queued": times,
        "estimating": times,
        "running": times,
        "finished": times,
        "errormsg": st.none() | texts,
        "error": st.none() | st.dictionaries(texts, json_values, max_size=2),
        "error_code": small_ints,
        "terminated_code": small_ints,
        "scheduler_type": st.none() | texts,
        "scheduler_id": st.none() | texts,
        "job_output": json_values,
        "batch_job": st.none() | st.booleans(),
        "batch_id": st.none() | ids,
        "child_jobs": st.none() | st.lists(ids, max_size=3),
        "retry_ids": st.none() | st.lists(ids, max_size=3),
        "retry_parent": st.none() | ids,
        "retry_saved_toggle": st.none() | st.booleans(),
        "operation_id": st.none() | ids,
        "retry_active": ids,
        "failure": st.none() | st.dictionaries(texts, json_values, max_size=2),
        "auto_retry": st.none() | auto_retries,
        "auto_next_at": st.integers(0, 2**34),
        **dict.fromkeys(EE2_ONLY_FIELDS, json_values),
    }
)
documents = st.builds(
    lambda required, optional: {**required, **optional},
    st.fixed_dictionaries(
        {"_id": ids, "user": texts, "status": st.sampled_from([s.value for s in JobStatus])}
    ),
    stored_fields,
)


def stored(doc: dict[str, Any]) -> dict[str, Any]:
    """A document as the embedded store hands it back: JSON text decoded."""
    return dict(json.loads(json.dumps(doc)))


@given(documents, st.lists(st.sampled_from(["job_input", "job_id", "updated", "retry_count", "x"])))
def test_the_state_of_a_document_is_the_state_of_the_job_read_from_it(
    doc: dict[str, Any], exclude: list[str]
) -> None:
    expected = job_state(Job.from_doc(stored(doc)), exclude)

    state = doc_state(stored(doc), exclude)

    assert list(state.items()) == list(expected.items())


def test_the_state_of_a_stored_job_with_every_field_set_is_the_state_of_the_job() -> None:
    job = full_job()

    state = doc_state(stored(job_doc(job)))

    assert list(state.items()) == list(job_state(job).items())
    assert state["created"] == round(job.created * 1000) and "meta" not in state["job_input"]
