"""Chunked transfer of a blob (a ballot image, a finger) with a hash of the whole: the
receiving half.

Messages (all signed envelopes):

``blob.begin``  body ``{"blob": id, "kind": str, "meta": {...}}``
``blob.chunk``  body ``{"blob": id, "i": index, "off": byte offset}``, the bytes as attachment
``blob.end``    body ``{"blob": id, "chunks": n, "size": bytes, "sha256": hex}``

The sender never needs the whole blob in memory: it hashes as it goes
(``protocol.blob_sender.BlobSender``, a module of its own so that a device loads
it without the assembler). The receiver (``BlobAssembler``) accepts chunks in any order,
treats an identical repeat as harmless (QoS 1 redelivery), refuses a conflicting
repeat, a gap, an overrun of the declared limit or a hash that does not match.
"""

import binascii
import hashlib

from protocol import messages
from protocol.blob_sender import MAX_CHUNK, BlobSender
from protocol.errors import ProtocolError

# The sender lives in its own module so that a device loads it without the assembler;
# hosts that send blobs (tests, tools) may still import it from here.
BEGIN = messages.BLOB_BEGIN
CHUNK = messages.BLOB_CHUNK
END = messages.BLOB_END
__all__ = ["BEGIN", "CHUNK", "END", "MAX_CHUNK", "BlobAssembler", "BlobSender"]


def _int(body, name, limit):
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise ProtocolError("bad_chunk", "field %s is missing or out of range" % name)
    return value


class BlobAssembler:
    """Collects the chunks of one blob into a bytearray of at most ``max_size`` bytes."""

    def __init__(self, blob_id, kind, meta, max_size):
        self.blob_id = blob_id
        self.kind = kind
        self.meta = meta
        self.max_size = max_size
        self.data = bytearray()
        self.chunks = {}  # index -> (offset, length)
        self.covered = 0

    def add(self, body, attachment):
        """Add the chunk of a ``blob.chunk`` body; return False for an identical repeat."""
        index = _int(body, "i", 1 << 30)
        offset = _int(body, "off", self.max_size)
        size = len(attachment)
        if size == 0 or size > MAX_CHUNK:
            raise ProtocolError("bad_chunk", "chunk %d has %d bytes" % (index, size))
        if offset + size > self.max_size:
            raise ProtocolError("too_large", "blob exceeds %d bytes" % self.max_size)
        if index in self.chunks:
            if (
                self.chunks[index] != (offset, size)
                or bytes(self.data[offset : offset + size]) != attachment
            ):
                raise ProtocolError("bad_chunk", "chunk %d repeated with other content" % index)
            return False
        if len(self.data) < offset + size:
            self.data.extend(bytes(offset + size - len(self.data)))
        self.data[offset : offset + size] = attachment
        self.chunks[index] = (offset, size)
        self.covered += size
        return True

    def finish(self, body):
        """Check a ``blob.end`` body against what arrived; return the blob as bytes."""
        count = _int(body, "chunks", 1 << 30)
        size = _int(body, "size", self.max_size)
        digest = body.get("sha256")
        if not isinstance(digest, str) or len(digest) != 64:
            raise ProtocolError("bad_chunk", "sha256 missing or malformed")
        if len(self.chunks) != count:
            raise ProtocolError("bad_chunk", "%d of %d chunks arrived" % (len(self.chunks), count))
        expected = 0
        for index in range(count):
            span = self.chunks.get(index)
            if span is None or span[0] != expected:
                raise ProtocolError("bad_chunk", "chunk %d missing or misplaced" % index)
            expected += span[1]
        if expected != size or len(self.data) != size:
            raise ProtocolError(
                "bad_chunk", "blob has %d bytes, sender says %d" % (len(self.data), size)
            )
        actual = binascii.hexlify(hashlib.sha256(self.data).digest()).decode()
        if actual != digest:
            raise ProtocolError("bad_hash", "sha256 of the blob does not match")
        return bytes(self.data)
