"""Durable outbox: signed messages that must reach the controller, kept in flash.

Each message is one file ``<dir>/<seq, 16 digits>.msg`` holding the sealed payload.
``add`` returns only after the file is in place (temp file + rename), so a message
the app was told is accepted survives a power cut. The link delivers entries in
sequence order with QoS 1 and removes each one after the broker's PUBACK; after a
restart whatever is left is sent again. A resent message keeps its seq, so the
controller recognises it as a duplicate and does not apply it twice.
"""

import asyncio
import os

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


from firmware import store

SUFFIX = ".msg"
_MAX_ENTRY = const(16 * 1024)
_PIECE = const(256)


class Outbox:
    """A directory of pending messages, oldest first."""

    def __init__(self, path="outbox"):
        self.path = path
        store.makedirs(path)
        self.changed = asyncio.Event()
        self._empty = asyncio.Event()
        for name in os.listdir(path):
            if name.endswith(".tmp"):
                # A write cut short by a power cut: it was never accepted.
                store.remove(store.join(path, name))
        self._seqs = self._scan()
        if not self._seqs:
            self._empty.set()

    def _scan(self):
        seqs = []
        for name in os.listdir(self.path):
            if name.endswith(SUFFIX):
                try:
                    seqs.append(int(name[: -len(SUFFIX)]))
                except ValueError:
                    pass
        seqs.sort()
        return seqs

    def _file(self, seq):
        return store.join(self.path, "%016d%s" % (seq, SUFFIX))

    def add(self, seq, fill, *args):
        """Store the payload of message ``seq``: the text ``fill``, or what ``fill(write,
        *args)`` writes piece by piece (no whole copy of it in RAM); durable on return."""
        store.write_atomic(self._file(seq), fill, args, _MAX_ENTRY)
        if seq not in self._seqs:
            self._seqs.append(seq)
            self._seqs.sort()
        self._empty.clear()
        self.changed.set()

    def pending(self):
        """Sequence numbers waiting for delivery, oldest first."""
        return list(self._seqs)

    def __len__(self):
        return len(self._seqs)

    def read(self, seq):
        """The stored payload of ``seq``."""
        return store.read_bytes(self._file(seq))

    def read_pieces(self, seq):
        """The stored payload of ``seq`` as a list of pieces of at most 256 bytes: small
        blocks still fit a heap that has no contiguous kilobyte left."""
        pieces = []
        with open(self._file(seq), "rb") as f:
            while True:
                piece = f.read(_PIECE)
                if not piece:
                    return pieces
                pieces.append(piece)

    def remove(self, seq):
        """Forget ``seq`` after it was delivered."""
        store.remove(self._file(seq))
        if seq in self._seqs:
            self._seqs.remove(seq)
        if not self._seqs:
            self._empty.set()

    def quarantine(self, seq):
        """Move an unreadable entry aside (kept for a technician, never resent)."""
        try:
            os.rename(self._file(seq), self._file(seq) + ".bad")
        except OSError:
            pass
        if seq in self._seqs:
            self._seqs.remove(seq)
        if not self._seqs:
            self._empty.set()

    def find(self, *needles):
        """Seq of the first entry whose header line contains every byte string in ``needles``."""
        for seq in self._seqs:
            try:
                head = self.read(seq).split(b"\n", 1)[0]
            except OSError:
                continue
            found = True
            for needle in needles:
                if needle not in head:
                    found = False
                    break
            if found:
                return seq
        return None

    async def wait_empty(self):
        """Return once every entry was delivered."""
        while self._seqs:
            await self._empty.wait()
