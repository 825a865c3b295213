"""Persistent boot counter and message sequence numbers.

``seq.json`` holds ``{"boot": b, "reserved": r}``: every sequence number below
``r`` may have been used. At each start the boot counter goes up and numbers are
handed out from ``r`` after first writing a new reservation, a block at a time, so
flash is written once per block rather than once per message and a power cut can
only skip numbers, never reuse one.
"""

from firmware import store

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


_BLOCK = const(256)


class SeqStore:
    """Hands out strictly increasing sequence numbers that survive power cuts."""

    def __init__(self, path="seq.json", block=_BLOCK):
        self.path = path
        self.block = block
        state = store.read_json(path, {"boot": 0, "reserved": 0})
        boot = state.get("boot") if isinstance(state, dict) else None
        reserved = state.get("reserved") if isinstance(state, dict) else None
        if not isinstance(boot, int) or not isinstance(reserved, int) or boot < 0 or reserved < 0:
            raise ValueError("state file %s has no valid boot/reserved numbers" % path)
        self.boot = boot + 1
        self._next = reserved
        self._limit = reserved
        self._reserve()

    def _reserve(self):
        self._limit = self._next + self.block
        store.write_json(self.path, {"boot": self.boot, "reserved": self._limit})

    def next(self):
        """Return the next sequence number."""
        if self._next >= self._limit:
            self._reserve()
        seq = self._next
        self._next += 1
        return seq

    def peek(self):
        """The number ``next()`` would return (for logs and tests)."""
        return self._next
