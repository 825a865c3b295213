"""The depth gauge on both interpreters (MicroPython walks every byte; CPython
drops the bytes that cannot matter first): the same answers."""

import sys

sys.path.insert(0, ".")

from protocol.canonical import within  # noqa: E402
from tests.dual import run  # noqa: E402


def check_plain_nesting():
    assert within(b"[]", 1) and not within(b"[]", 0)
    assert within(b'{"a":[1,{"b":2}]}', 3) and not within(b'{"a":[1,{"b":2}]}', 2)
    assert within(b"1", 0) and within(b"", 0)


def check_brackets_inside_strings_do_not_count():
    assert within(b'["[[[[{{{{"]', 1)
    assert within(b'{"[[[": "]]]"}', 1)


def check_escapes_are_read_in_pairs():
    assert within(b'["\\"[[["]', 1)  # an escaped quote does not end the string
    assert not within(b'["\\\\",[[]]]', 2)  # an escaped backslash does not escape the quote
    assert within(b'["\\\\\\"[[["]', 1)  # escaped backslash, then an escaped quote
    assert within(b'["\\n[[[", "\\u005b"]', 1)


def check_text_memoryview_and_bytearray():
    assert not within("[[[]]]", 2) and within("[[[]]]", 3)
    assert not within(memoryview(b"[[[]]]"), 2)
    assert within(bytearray(b"[[[]]]"), 3)


def check_deep_input_is_judged_without_parsing():
    assert not within(b"[" * 20000 + b"]" * 20000, 16)
    assert within(b"[" * 16 + b"]" * 16, 16)


run(globals())
