"""HMAC-SHA256 (RFC 2104) over ``hashlib``: MicroPython ships no ``hmac`` module."""

import hashlib

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


_BLOCK = const(64)
# The pads as compile-time numbers: as 64-byte strings they would sit in a device's
# heap for good.
_IPAD = const(0x36)
_OPAD = const(0x5C)


def _keyed(key, pad):
    """A SHA-256 started on the block-sized ``key`` XOR ``pad``."""
    return hashlib.sha256(bytes(b ^ pad for b in key))


class Hmac:
    """HMAC-SHA256 fed piece by piece (``update`` with bytes or ASCII text), then ``digest``."""

    def __init__(self, key):
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key + bytes(_BLOCK - len(key))
        self._inner = _keyed(key, _IPAD)
        self._outer = _keyed(key, _OPAD)

    def update(self, data):
        """Add ``data`` to the message."""
        self._inner.update(data.encode() if isinstance(data, str) else data)

    def digest(self):
        """The 32-byte tag of everything added (call once)."""
        self._outer.update(self._inner.digest())
        return self._outer.digest()


def hmac_sha256(key, *parts):
    """Return the 32-byte HMAC-SHA256 tag of the concatenation of ``parts`` under ``key``."""
    mac = Hmac(key)
    for part in parts:
        mac.update(part)
    return mac.digest()


def equal(a, b):
    """Compare two byte strings in time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
