"""The sending half of a chunked blob transfer: what a device needs to stream one.

A blob (a ballot image, a finger) goes out as three kinds of signed messages
(``protocol.messages``): ``blob.begin`` ``{"blob": id, "kind": str, "meta": {...}}``,
one ``blob.chunk`` ``{"blob": id, "i": index, "off": byte offset}`` per piece with
the bytes as attachment, and ``blob.end`` ``{"blob": id, "chunks": n, "size": bytes,
"sha256": hex}``. ``BlobSender`` numbers the pieces and hashes them as they go, so
the sender never holds the whole blob. The receiving half, which a device never
needs, is ``protocol.blob.BlobAssembler``.
"""

import binascii
import hashlib

from protocol.errors import ProtocolError

MAX_CHUNK = 32 * 1024


class BlobSender:
    """Numbers chunks and hashes them as they are sent."""

    def __init__(self, blob_id):
        self.blob_id = blob_id
        self.index = 0
        self.offset = 0
        self._hash = hashlib.sha256()

    def begin(self, kind, meta):
        """Body of the ``blob.begin`` message."""
        return {"blob": self.blob_id, "kind": kind, "meta": meta}

    def chunk(self, data):
        """Body of the next ``blob.chunk`` message carrying ``data`` as its attachment."""
        if not 0 < len(data) <= MAX_CHUNK:
            raise ProtocolError("bad_chunk", "chunk of %d bytes" % len(data))
        body = {"blob": self.blob_id, "i": self.index, "off": self.offset}
        self._hash.update(data)
        self.index += 1
        self.offset += len(data)
        return body

    def end(self):
        """Body of the ``blob.end`` message."""
        return {
            "blob": self.blob_id,
            "chunks": self.index,
            "size": self.offset,
            "sha256": binascii.hexlify(self._hash.digest()).decode(),
        }
