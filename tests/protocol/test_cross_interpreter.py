"""Bytes sealed by one interpreter verify in the other, and forged bytes never do."""

from __future__ import annotations

import binascii
import random

import pytest

from protocol import envelope
from protocol.errors import ProtocolError
from tests.conftest import run_micropython

KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
BODY = {"name": "Асанов Нурбек ң ө ү", "rows": [1, 2, 3], "ok": True, "none": None, "emoji": "🗳"}

SEAL_ON_DEVICE = """
import sys, binascii
from protocol import envelope
key = binascii.unhexlify(sys.argv[1])
body = {"name": "Асанов Нурбек ң ө ү", "rows": [1, 2, 3], "ok": True, "none": None, "emoji": "🗳"}
p = envelope.seal(key, "scan-07", "up", 123456789, "blob.chunk", body, 77, bytes(range(256)))
print(binascii.hexlify(p).decode())
"""

VERIFY_ON_DEVICE = """
import sys, binascii
from protocol import envelope
key = binascii.unhexlify(sys.argv[1])
msg = envelope.parse(binascii.unhexlify(sys.stdin.read().strip()))
try:
    msg.verify(key)
    print("verified", msg.seq, msg.body["name"] == "Асанов Нурбек ң ө ү", len(msg.attachment))
except Exception as err:
    print("refused", err.code)
"""


def test_micropython_sealed_verifies_in_cpython() -> None:
    done = run_micropython(SEAL_ON_DEVICE, args=[KEY.hex()])
    assert done.returncode == 0, done.stderr
    msg = envelope.parse(binascii.unhexlify(done.stdout.strip()))
    msg.verify(KEY)
    assert msg.body == BODY and msg.seq == 123456789 and msg.re == 77
    assert msg.attachment == bytes(range(256))
    # Both interpreters produce the very same bytes for the same message.
    same = envelope.seal(KEY, "scan-07", "up", 123456789, "blob.chunk", BODY, 77, bytes(range(256)))
    assert binascii.unhexlify(done.stdout.strip()) == same


def test_cpython_sealed_verifies_in_micropython() -> None:
    payload = envelope.seal(KEY, "term-02", "down", 42, "checkin.result", BODY, 41, b"\x00\n\xff")
    done = run_micropython(VERIFY_ON_DEVICE, args=[KEY.hex()], stdin=payload.hex())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["verified", "42", "True", "3"]


def test_forgery_refused_in_micropython() -> None:
    payload = envelope.seal(KEY, "term-02", "down", 42, "checkin.result", BODY)
    forged = payload.replace(b'"seq":42', b'"seq":43')
    done = run_micropython(VERIFY_ON_DEVICE, args=[KEY.hex()], stdin=forged.hex())
    assert done.stdout.split() == ["refused", "bad_tag"], done.stdout + done.stderr


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes_never_crash_the_parser(seed: int) -> None:
    rng = random.Random(seed)
    good = envelope.seal(KEY, "term-01", "up", 5, "checkin.request", BODY)
    for _ in range(500):
        kind = rng.randrange(3)
        if kind == 0:
            data = rng.randbytes(rng.randrange(0, 300))
        elif kind == 1:
            data = bytearray(good)
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
        else:
            data = good[: rng.randrange(len(good))] + b"\n" + rng.randbytes(10)
        try:
            envelope.parse(data).verify(KEY)
        except ProtocolError as err:
            assert err.code in ("malformed", "bad_tag", "too_large")
        else:
            assert data == good
