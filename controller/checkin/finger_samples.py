"""Finger samples from the terminals: blobs assembled per device and transaction, in memory.

A terminal sends the finger of a check-in as a blob named by the transaction id
(``blob.begin`` with ``"kind": "finger"``, ``blob.chunk``s, ``blob.end``; see
docs/wire.md), then the ``checkin.request`` whose ``finger`` object references it.
``Fingers`` puts the chunks together (``protocol.blob.BlobAssembler``), checks size and
SHA-256 against ``blob.end``, and hands the sample to the check-in (``take``), which
checks it against the request's reference.

What it promises: bounded memory (at most ``MAX_PER_DEVICE`` samples per device and
``MAX_SAMPLES`` in all, each no larger than its kind allows), a clear
``ProtocolError`` for a forged, oversized, out-of-range or conflicting chunk and for a
hash that does not match, samples dropped when their check-in is done (``discard``) or
``TTL`` seconds after they arrived. What it does not: keep samples across a controller
restart (a request whose finger was lost that way is checked in with
``finger_status`` ``"not_received"``; the biometric decision is the check-in's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol.blob import BlobAssembler
from protocol.errors import ProtocolError

IMAGE = "zhiantec-image"
ISO = "iso19794-2"
BLOB_KIND = "finger"
IMAGE_SHAPE = {"width": 256, "height": 288, "bits": 4}
IMAGE_BYTES = 256 * 288 // 2
MAX_TEMPLATE = 16 * 1024
MAX_PER_DEVICE = 2
MAX_SAMPLES = 32
TTL = 120.0
MAX_ID = 80
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")

# finger_status of a check-in: what the terminal reports when it sent no finger, and
# what the controller finds when it looks for the one the request references.
DEVICE_STATUSES = ("no_finger", "sensor_error", "upload_failed", "no_sensor")
CAPTURED = "captured"
NOT_RECEIVED = "not_received"
MISMATCH = "mismatch"


@dataclass(frozen=True)
class FingerSample:
    """One finger as a terminal captured it.

    ``kind`` ``"zhiantec-image"``: ``data`` is ``width`` x ``height`` pixels at ``bits``
    (4) bits each, two pixels a byte, left pixel in the high nibble, rows top to bottom.
    ``kind`` ``"iso19794-2"``: ``data`` is an ISO/IEC 19794-2 record (``width`` and
    ``height`` from its header, ``bits`` 0).
    """

    kind: str
    width: int
    height: int
    bits: int
    data: bytes

    def pixels(self) -> Any:
        """An image sample as a uint8 numpy array (height, width), levels 0..255."""
        import numpy as np

        if self.kind != IMAGE:
            raise ValueError(f"a {self.kind} sample has no pixels")
        packed = np.frombuffer(self.data, dtype=np.uint8).reshape(self.height, self.width // 2)
        out = np.empty((self.height, self.width), dtype=np.uint8)
        out[:, 0::2] = packed >> 4
        out[:, 1::2] = packed & 0x0F
        return out * 17


@dataclass
class _Blob:
    device: str
    blob_id: str
    kind: str
    assembler: BlobAssembler | None
    arrived: float
    failure: str | None = None
    sample: FingerSample | None = None
    sha256: str | None = None


def check_blob_id(device: str, blob_id: object) -> str:
    """``blob_id`` if it is one of ``device``'s transaction ids (``<device>-...``)."""
    if (
        not isinstance(blob_id, str)
        or not blob_id.startswith(device + "-")
        or len(blob_id) > MAX_ID
        or not set(blob_id) <= _ID_CHARS
    ):
        raise ProtocolError("malformed", f"finger blob id {str(blob_id)[:90]!r} is not {device}'s")
    return blob_id


def _meta(meta: object) -> tuple[str, int]:
    """``(kind, largest size)`` of a finger blob's metadata; ProtocolError if malformed."""
    if not isinstance(meta, dict):
        raise ProtocolError("malformed", "finger blob meta must be an object")
    kind = meta.get("kind")
    if kind == IMAGE:
        for name, value in IMAGE_SHAPE.items():
            if meta.get(name) != value:
                raise ProtocolError(
                    "malformed", f"a {IMAGE} is 256 x 288 at 4 bits, not {name} {meta.get(name)!r}"
                )
        return kind, IMAGE_BYTES
    if kind == ISO:
        return kind, MAX_TEMPLATE
    raise ProtocolError("malformed", f"finger kind must be {IMAGE} or {ISO}, not {kind!r}")


def _sample(kind: str, data: bytes) -> FingerSample:
    if kind == IMAGE:
        if len(data) != IMAGE_BYTES:
            raise ProtocolError("bad_chunk", f"finger image of {len(data)} bytes")
        return FingerSample(IMAGE, 256, 288, 4, data)
    # Only the header is checked here: the matcher parses the record strictly.
    if len(data) < 24 or data[:8] != b"FMR\x00 20\x00":
        raise ProtocolError("malformed", "finger template is not an ISO/IEC 19794-2 record")
    width = int.from_bytes(data[14:16], "big")
    height = int.from_bytes(data[16:18], "big")
    return FingerSample(ISO, width, height, 0, data)


class Fingers:
    """Finger blobs of every terminal, by ``(device, blob id)``; thread-safe."""

    def __init__(self, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._blobs: dict[tuple[str, str], _Blob] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._blobs)

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, b in self._blobs.items() if now - b.arrived > self.ttl]:
            del self._blobs[key]

    def begin(self, device: str, body: dict[str, Any]) -> None:
        """``blob.begin``: start (or start over) the blob; older ones make room."""
        blob_id = check_blob_id(device, body.get("blob"))
        if body.get("kind") != BLOB_KIND:
            raise ProtocolError("malformed", f"a terminal's blob kind must be {BLOB_KIND!r}")
        kind, limit = _meta(body.get("meta"))
        with self._lock:
            self._expire()
            self._blobs.pop((device, blob_id), None)
            mine = sorted(
                (b for b in self._blobs.values() if b.device == device), key=lambda b: b.arrived
            )
            for old in mine[: max(0, len(mine) - MAX_PER_DEVICE + 1)]:
                del self._blobs[(device, old.blob_id)]
            while len(self._blobs) >= MAX_SAMPLES:
                oldest = min(self._blobs.values(), key=lambda b: b.arrived)
                del self._blobs[(oldest.device, oldest.blob_id)]
            assembler = BlobAssembler(blob_id, BLOB_KIND, {"kind": kind}, limit)
            self._blobs[(device, blob_id)] = _Blob(device, blob_id, kind, assembler, self.clock())

    def chunk(self, device: str, body: dict[str, Any], attachment: bytes) -> None:
        """``blob.chunk``: add it. Only the first problem of a blob is raised."""
        blob_id = check_blob_id(device, body.get("blob"))
        with self._lock:
            blob = self._blobs.get((device, blob_id))
            if blob is None:
                raise ProtocolError("bad_chunk", f"finger chunk of {blob_id} without blob.begin")
            if blob.failure or blob.assembler is None:
                return
            try:
                blob.assembler.add(body, attachment)
            except ProtocolError as err:
                blob.failure = err.code
                blob.assembler = None
                raise

    def end(self, device: str, body: dict[str, Any]) -> FingerSample:
        """``blob.end``: check count, size and SHA-256; keep the sample; return it."""
        blob_id = check_blob_id(device, body.get("blob"))
        with self._lock:
            blob = self._blobs.get((device, blob_id))
            if blob is None:
                raise ProtocolError("bad_chunk", f"end of finger blob {blob_id} without begin")
            if blob.sample is not None and blob.sha256 == body.get("sha256"):
                return blob.sample
            if blob.failure or blob.assembler is None:
                raise ProtocolError("bad_chunk", f"finger blob {blob_id} failed earlier")
            try:
                data = blob.assembler.finish(body)
                sample = _sample(blob.kind, data)
            except ProtocolError as err:
                blob.failure = err.code
                blob.assembler = None
                raise
            blob.assembler = None
            blob.sample = sample
            blob.sha256 = body["sha256"].lower()
            return sample

    def take(
        self, device: str, txn: str, finger: object, finger_status: object
    ) -> tuple[FingerSample | None, str]:
        """The sample a ``checkin.request`` references and its ``finger_status``.

        ``finger`` is the request's ``finger`` (an object, or None with
        ``finger_status`` saying why). Raises ``ProtocolError`` for a malformed pair;
        a reference to nothing returns ``(None, "not_received")``, to something else
        ``(None, "mismatch")``. A request with neither (a terminal from before the
        finger step) returns ``(None, None)``. The sample stays until ``discard``.
        """
        if finger is None and finger_status is None:
            return None, None
        if finger is None:
            if finger_status not in DEVICE_STATUSES:
                raise ProtocolError(
                    "malformed", f"finger_status must be one of {', '.join(DEVICE_STATUSES)}"
                )
            return None, str(finger_status)
        if not isinstance(finger, dict) or finger_status not in (None, CAPTURED):
            raise ProtocolError("malformed", "finger must be an object or null")
        with self._lock:
            self._expire()
            blob = self._blobs.get((device, txn)) if isinstance(txn, str) else None
        if blob is None or blob.sample is None:
            return None, NOT_RECEIVED
        sample = blob.sample
        expected = {"kind": sample.kind, "size": len(sample.data), "sha256": blob.sha256}
        if sample.kind == IMAGE:
            expected.update(IMAGE_SHAPE)
        digest = finger.get("sha256")
        given = {k: (digest.lower() if k == "sha256" and isinstance(digest, str) else finger.get(k))
                 for k in expected}
        if given != expected:
            return None, MISMATCH
        return sample, CAPTURED

    def discard(self, device: str, txn: str) -> None:
        """Forget the sample of a finished check-in."""
        with self._lock:
            self._blobs.pop((device, txn), None)
