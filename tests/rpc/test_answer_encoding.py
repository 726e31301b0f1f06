"""The JSON-RPC answer's encoding (msgspec): for every value an answer can hold, the bytes read back
as the value the standard library's encoding (Starlette's JSONResponse settings) reads back as, type
for type; text is raw UTF-8 as before; what the standard encoder refused still fails."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bson.int64 import Int64
from hypothesis import given
from hypothesis import strategies as st

from ee_retry.rpc.endpoint import json_response
from tests.service.test_values_fuzz import same

STDLIB = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
text = st.text(st.characters(codec="utf-8"), max_size=12)  # any character but a lone surrogate
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)


def body(value: Any) -> bytes:
    return bytes(json_response({"version": "1.1", "id": "1", "result": [value]}, 200).body)


@given(values)
def test_an_answer_reads_back_as_the_standard_encoding_reads_back(value: Any) -> None:
    expected = json.loads(STDLIB.encode({"version": "1.1", "id": "1", "result": [value]}))

    assert same(json.loads(body(value)), expected)


@given(text)
def test_text_is_written_as_the_standard_encoder_writes_it(value: str) -> None:
    assert body(value) == STDLIB.encode({"version": "1.1", "id": "1", "result": [value]}).encode()


def test_integers_past_64_bits_and_non_ascii_text_are_kept_exactly() -> None:
    answer = json.loads(body({"big": 2**64 + 1, "small": -(2**63) - 1, "name": "naïve ✓ 😀"}))

    assert answer["result"] == [{"big": 2**64 + 1, "small": -(2**63) - 1, "name": "naïve ✓ 😀"}]


def test_a_store_s_integer_subclass_is_written_as_its_integer() -> None:
    """PyMongo reads 64-bit integers as bson's Int64, an int subclass."""
    assert json.loads(body({"n": Int64(2**40), "m": [Int64(-1)]}))["result"] == [{"n": 2**40, "m": [-1]}]


def test_a_value_json_cannot_write_still_fails_the_encoding() -> None:
    with pytest.raises(TypeError):
        body(object())


def test_a_lone_surrogate_still_fails_the_encoding() -> None:
    with pytest.raises(UnicodeEncodeError):
        body("\ud800")
