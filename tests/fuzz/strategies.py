"""Hostile input built from good input: the decoders' fuzz tests share these."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# JSON values as outside parties send them: any nesting, strings full of the
# characters JSON escapes and the brackets a naive depth count would take for real.
json_text = st.text(alphabet=st.sampled_from('ab"\\[]{}\n\u0416\u04a3\U0001f600 :,'), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=30,
)


def depth(value: Any) -> int:
    """Bracket nesting of ``value`` as JSON: 0 for a scalar."""
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@st.composite
def mutated(draw: st.DrawFn, good: bytes, max_edits: int = 4) -> bytes:
    """``good`` with a few bytes flipped, cut, inserted or repeated."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, max_edits))):
        edit = draw(st.sampled_from(("flip", "cut", "insert", "truncate", "repeat")))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if edit == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut" and data:
            del data[at : at + draw(st.integers(1, 16))]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "truncate":
            del data[at:]
        elif edit == "repeat" and data:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


def deep(depth_: int, opener: str = "[") -> str:
    """JSON text nested ``depth_`` levels: ``[[[…]]]`` or ``{"a":{"a":…}}``."""
    if opener == "[":
        return "[" * depth_ + "]" * depth_
    return '{"a":' * depth_ + "1" + "}" * depth_


def as_json(value: Any) -> bytes:
    """``value`` as UTF-8 JSON bytes, non-ASCII kept as it is."""
    return json.dumps(value, ensure_ascii=False).encode()
