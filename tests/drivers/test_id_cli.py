"""``shailoo id parse-mrz``: the ICAO specimens, a changed digit, garbage, oversized input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.drivers.dual_drivers import TD1, TD3


def parse_mrz(data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "shailoo.cli", "id", "parse-mrz"],
        input=data, capture_output=True, timeout=60,
    )


@pytest.mark.parametrize("lines", [TD1, TD3], ids=["TD1", "TD3"])
def test_specimens_parse_with_every_check_passing(lines: list[str]) -> None:
    done = parse_mrz(("\r\n".join(lines) + "\r\n").encode())
    assert done.returncode == 0, done.stderr
    fields = json.loads(done.stdout)
    assert fields["valid"] and all(fields["checks"].values())
    assert fields["surname"] == "ERIKSSON" and fields["given_names"] == "ANNA MARIA"
    assert fields["format"] == ("TD1" if len(lines) == 3 else "TD3")


def test_changed_digit_names_the_failing_check_and_exits_1() -> None:
    changed = [TD3[0], TD3[1][:14] + "5" + TD3[1][15:]]
    done = parse_mrz("\n".join(changed).encode())
    assert done.returncode == 1
    fields = json.loads(done.stdout)
    assert fields["checks"]["birth_date"] is False and fields["checks"]["document_number"]
    assert b"birth_date" in done.stderr and b"composite" in done.stderr


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", b"match no MRZ format"),
        (b"hello world\n", b"match no MRZ format"),
        (("\n".join([TD1[0], TD1[1][:3] + "o" + TD1[1][4:], TD1[2]])).encode(), b"line 2 column 4"),
        (b"\xd0\x90" * 20, b"not ASCII"),
    ],
    ids=["empty", "prose", "ocr-confusion", "cyrillic"],
)
def test_broken_input_exits_2_with_a_reason(data: bytes, message: bytes) -> None:
    done = parse_mrz(data)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert done.stdout == b""


def test_oversized_input_is_refused() -> None:
    done = parse_mrz(b"<" * 100_000)
    assert done.returncode != 0 and b"more than 4096 bytes" in done.stderr
