"""The depth gauge every JSON reader asks first: exact on any JSON, never fooled by
brackets, quotes or backslashes inside strings, and it stops the deep input that used
to raise ``RecursionError`` in the envelope parser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import envelope
from protocol.canonical import within
from protocol.errors import ProtocolError
from tests.fuzz.strategies import deep, depth, json_values


@given(json_values, st.integers(0, 8), st.booleans())
def test_the_gauge_agrees_with_the_parsed_value(value: Any, limit: int, ascii_: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_)
    assert within(text, limit) == (depth(value) <= limit)
    assert within(text.encode(), limit) == (depth(value) <= limit)
    assert within(memoryview(text.encode()), limit) == (depth(value) <= limit)


@given(st.text(max_size=40), st.integers(0, 4))
def test_a_string_of_anything_is_depth_zero(text: str, limit: int) -> None:
    assert within(json.dumps(text), limit)
    assert within(json.dumps([text, [text]]), 2) and not within(json.dumps([[[text]]]), 2)


@pytest.mark.parametrize("opener", ["[", "{"])
def test_input_that_made_the_envelope_parser_recurse_is_a_protocol_error(opener: str) -> None:
    # As deep as fits in a header: the parser recursed once per bracket.
    payload = ('{"body":{"a":%s},"dev":"scan-1","dir":"up","seq":1,"type":"x","v":1,'
               '"tag":"%s"}\n' % (deep(2500, opener), "0" * 64)).encode()
    assert len(payload) < envelope.MAX_HEADER
    with pytest.raises(ProtocolError) as err:
        envelope.parse(payload)
    assert err.value.code == "malformed"
    deep_body = ('{"body":{"a":%s},"dev":"scan-1","dir":"up","seq":1,"type":"x","v":1,'
                 '"tag":"%s"}\n' % (deep(2000, opener), "0" * 64)).encode()
    with pytest.raises(ProtocolError, match="nested deeper") as err:
        envelope.parse(deep_body)
    assert err.value.code == "malformed"


def test_the_deepest_header_a_device_can_seal_still_parses() -> None:
    body: Any = 1
    for _ in range(15):  # the body sits one level inside the header
        body = {"a": body}
    payload = envelope.seal(b"k" * 32, "scan-1", "up", 1, "x", body)
    assert envelope.parse(payload).body == body
    with pytest.raises(ProtocolError):
        envelope.seal(b"k" * 32, "scan-1", "up", 1, "x", {"a": body})
