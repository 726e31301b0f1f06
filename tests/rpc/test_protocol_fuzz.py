"""Property tests of the JSON-RPC parser and framer: any bytes give a request or a clean JSON-RPC error,
never another exception, and whatever is accepted round-trips unchanged.

The default profile runs a few dozen examples per property; `pytest --hypothesis-profile=long` searches
far deeper (profiles are registered in tests/conftest.py).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ee_retry.app import create_app
from ee_retry.errors import InternalError, InvalidRequest, ParseError
from ee_retry.rpc import protocol
from ee_retry.rpc.protocol import SERVICE_PREFIX, error_body, frame, parse, peek_id, result_body
from ee_retry.service.deps import Deps
from ee_retry.testing.harness import ALICE_TOKEN

JSON_CODES = {-32700, -32600, -32601, -32602, *range(-32099, -32000 + 1)}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
rpc_ids = st.none() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(max_size=20)


def _bytes_like_requests() -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, JSON texts of any shape, and request bodies cut or corrupted at any point."""
    requests = st.fixed_dictionaries(
        {"version": st.just("1.1"), "method": st.text(max_size=40), "params": json_values, "id": rpc_ids}
    ).map(lambda d: json.dumps(d).encode())
    corrupted = st.tuples(requests, st.integers(min_value=0, max_value=200), st.binary(max_size=8)).map(
        lambda t: t[0][: t[1]] + t[2]
    )
    return st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()) | requests | corrupted


def _decode(raw: bytes) -> Any:
    """parse then frame, as the endpoint does; only the two framing errors may escape."""
    body = parse(raw)
    peek_id(body)
    return frame(body)


@given(_bytes_like_requests())
def test_any_bytes_give_a_request_or_a_parse_or_request_error(raw: bytes) -> None:
    try:
        _decode(raw)
    except (ParseError, InvalidRequest) as exc:
        error = error_body(None, exc, v2=False)
        assert error["error"]["code"] in (ParseError.code, InvalidRequest.code)
        json.dumps(error)  # the error answer itself is always encodable


def _json_texts() -> st.SearchStrategy[bytes]:
    """JSON a fast reader may read differently: numbers of any size and precision, strings with
    escapes, lone surrogates and non-ASCII (escaped or as UTF-8), duplicate keys, and whitespace."""
    numbers = st.from_regex(r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?\Z")
    strings = st.text(max_size=12).map(json.dumps) | st.text(max_size=12).map(
        lambda t: json.dumps(t, ensure_ascii=False)
    )
    leaves = numbers | strings | st.sampled_from(["true", "false", "null", "NaN", "-Infinity", "1e999"])
    pairs = st.lists(st.tuples(strings, leaves), max_size=4)
    objects = pairs.map(lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}")
    arrays = st.lists(leaves, max_size=4).map(lambda items: "[\t" + ",\n".join(items) + " ]")
    return (leaves | objects | arrays).map(lambda text: text.encode("utf-8", "surrogatepass"))


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types (so 1 is not 1.0, and -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return repr(a) == repr(b)


@given(_json_texts() | _bytes_like_requests())
def test_the_fast_reader_reads_what_the_standard_reader_reads(raw: bytes) -> None:
    """parse reads with msgspec first; what it gives or refuses must be what json would."""
    try:
        expected: Any = ("value", protocol._parse_exactly(raw))
    except ParseError as exc:
        expected = ("error", exc.message)
    try:
        got: Any = ("value", parse(raw))
    except ParseError as exc:
        got = ("error", exc.message)

    if got[0] == "error" and expected[0] == "value":  # only the depth limit refuses what json reads
        assert got[1] == protocol._TOO_DEEP
    else:
        assert got[0] == expected[0]
        assert _same(got[1], expected[1]) if got[0] == "value" else got[1] == expected[1]


@given(json_values)
def test_every_json_value_parses_to_itself(value: Any) -> None:
    assert parse(json.dumps(value).encode()) == value


@given(
    st.text(min_size=1, max_size=40),
    st.lists(json_values, max_size=3) | st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    rpc_ids,
    st.booleans(),
    st.booleans(),
)
def test_an_accepted_request_keeps_its_method_params_and_id(
    name: str, params: Any, req_id: Any, prefixed: bool, v2: bool
) -> None:
    head = {"jsonrpc": "2.0"} if v2 else {"version": "1.1"}
    method = SERVICE_PREFIX + name if prefixed else name
    raw = json.dumps({**head, "method": method, "params": params, "id": req_id}).encode()

    rpc = frame(parse(raw))

    if prefixed or not name.startswith(SERVICE_PREFIX):
        assert rpc.method == name
    assert rpc.params == (params if isinstance(params, list) else [params])
    assert (rpc.id, rpc.v2) == (req_id, v2)


@given(json_values, rpc_ids, st.booleans())
def test_a_result_answer_round_trips_through_json(result: Any, req_id: Any, v2: bool) -> None:
    body = json.loads(json.dumps(result_body(req_id, result, v2)))

    assert body["result"] == [result]
    assert body["id"] == req_id
    assert ("jsonrpc" in body) is v2


@given(st.text(max_size=200), rpc_ids, st.booleans())
def test_an_error_answer_round_trips_and_keeps_its_code(message: str, req_id: Any, v2: bool) -> None:
    body = json.loads(json.dumps(error_body(req_id, InternalError(message), v2)))

    assert body["id"] == req_id
    assert body["error"]["code"] == InternalError.code


def test_the_endpoint_answers_any_body_with_json_and_never_an_internal_error(deps: Deps) -> None:
    """Through the whole HTTP path (body reader, parser, framer, dispatch with real params readers)."""
    methods = st.sampled_from(["check_job", "check_jobs", "run_job", "retry_jobs", "cancel_job", "nope"])
    calls = st.builds(
        lambda m, params, req_id: json.dumps(
            {"version": "1.1", "method": SERVICE_PREFIX + m, "params": params, "id": req_id}
        ).encode(),
        methods,
        st.lists(json_values, max_size=2),
        rpc_ids,
    )
    with TestClient(create_app(deps, recover=False, poll=False)) as client:

        @given(_bytes_like_requests() | calls)
        def answers_cleanly(raw: bytes) -> None:
            response = client.post("/", content=raw, headers={"Authorization": ALICE_TOKEN})
            assert response.status_code in (200, 500)
            body = response.json()
            if response.status_code == 500:
                assert body["error"]["code"] in JSON_CODES
                assert body["error"]["code"] != InternalError.code, body

        answers_cleanly()
