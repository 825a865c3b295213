"""HMAC-SHA256 (RFC 2104) over ``hashlib``: MicroPython ships no ``hmac`` module."""

import hashlib

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


_BLOCK = const(64)
_IPAD = bytes(0x36 for _ in range(256))
_OPAD = bytes(0x5C for _ in range(256))


def _xor(key, pad):
    return bytes(key[i] ^ pad[i] for i in range(_BLOCK))


def hmac_sha256(key, *parts):
    """Return the 32-byte HMAC-SHA256 tag of the concatenation of ``parts`` under ``key``."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(_xor(key, _IPAD))
    for part in parts:
        inner.update(part)
    outer = hashlib.sha256(_xor(key, _OPAD))
    outer.update(inner.digest())
    return outer.digest()


def equal(a, b):
    """Compare two byte strings in time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
