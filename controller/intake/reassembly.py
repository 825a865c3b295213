"""A scanned sheet's image put together from its blob chunks, one sheet per scanner.

Image transfer problems (a chunk missing, a hash that does not match, a blob larger
than its own metadata allows) are not votes: ``finish`` raises ``ReassemblyFailed``
with the reason, and the sheet goes back to the voter, who can feed it again.

Chunks live in memory only: a blob interrupted by a controller restart cannot be
completed and is returned, as the wire contract expects of a scan interrupted on
the scanner's side.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from controller.intake.sheet_id import check_sheet_id
from protocol.blob import BlobAssembler
from protocol.errors import ProtocolError

log = logging.getLogger("shailoo.intake")

KIND = "ballot-image"
MAX_BLOB = 16 * 1024 * 1024
MAX_SIDE = 16384


class ReassemblyFailed(Exception):
    """A sheet's image could not be put together; ``reason`` is the return reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Scan:
    """A sheet's image as it arrived whole: grey pixels, their hash and the scan's dpi."""

    gray: np.ndarray
    sha256: str
    dpi: int


@dataclass
class _Blob:
    blob_id: str
    meta: dict[str, int]
    assembler: BlobAssembler | None
    failure: str | None = None


def image_meta(meta: object, max_blob: int) -> tuple[dict[str, int], str | None]:
    """Validate image metadata; return it and a failure code when it is too large."""
    if not isinstance(meta, dict):
        raise ProtocolError("malformed", "blob meta must be an object")
    out: dict[str, int] = {}
    for name in ("width", "height", "dpi", "bpp"):
        value = meta.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ProtocolError("malformed", f"blob meta {name} must be a positive integer")
        out[name] = value
    if out["bpp"] != 8:
        raise ProtocolError("malformed", "only 8-bit grey images are accepted")
    too_large = (
        out["width"] > MAX_SIDE
        or out["height"] > MAX_SIDE
        or out["width"] * out["height"] > max_blob
    )
    return out, "too_large" if too_large else None


class Reassembly:
    """The blob in flight of each scanner. Memory only; safe across threads."""

    def __init__(self, max_blob: int = MAX_BLOB) -> None:
        self.max_blob = max_blob
        self._blobs: dict[str, _Blob] = {}
        self._lock = threading.Lock()

    def begin(self, device: str, body: dict[str, Any]) -> None:
        """Start a blob. A blob too large for a sheet is refused (and later returned)."""
        sheet = check_sheet_id(device, body.get("blob"))
        if body.get("kind") != KIND:
            raise ProtocolError("malformed", f"blob kind must be {KIND!r}")
        meta, failure = image_meta(body.get("meta"), self.max_blob)
        with self._lock:
            current = self._blobs.get(device)
            if current and current.blob_id == sheet and current.meta == meta:
                return  # the same begin again: keep what has arrived
            if current and current.assembler and current.assembler.covered:
                log.warning("%s: blob %s abandoned for %s", device, current.blob_id, sheet)
            size = meta["width"] * meta["height"]
            assembler = None if failure else BlobAssembler(sheet, KIND, meta, size)
            self._blobs[device] = _Blob(sheet, meta, assembler, failure)
        if failure:
            raise ProtocolError(
                "too_large", f"blob {sheet} of {meta['width']}x{meta['height']} exceeds the limit"
            )

    def chunk(self, device: str, body: dict[str, Any], attachment: bytes) -> None:
        """Add a chunk. Only the first problem of a blob is raised; the rest are dropped."""
        sheet = check_sheet_id(device, body.get("blob"))
        with self._lock:
            blob = self._blobs.get(device)
            if blob is None or blob.blob_id != sheet:
                # Chunks of a blob whose begin never came: remember it as failed so
                # that its further chunks are not each refused and logged again.
                self._blobs[device] = _Blob(sheet, {}, None, "incomplete")
                raise ProtocolError("bad_chunk", f"chunk of {sheet} without blob.begin")
            if blob.failure or blob.assembler is None:
                return
            try:
                blob.assembler.add(body, attachment)
            except ProtocolError as err:
                blob.failure = "too_large" if err.code == "too_large" else "incomplete"
                raise

    def finish(self, device: str, sheet: str, body: dict[str, Any]) -> Scan:
        """The whole image of ``sheet`` named by a ``blob.end`` ``body``; the blob is
        forgotten either way. ``ReassemblyFailed`` when it did not arrive whole."""
        with self._lock:
            blob = self._blobs.pop(device, None)
            if blob is not None and blob.blob_id != sheet:
                self._blobs[device] = blob  # a different sheet is in flight; leave it be
                blob = None
        if blob is None:
            raise ReassemblyFailed("incomplete")
        if blob.failure or blob.assembler is None:
            raise ReassemblyFailed(blob.failure or "incomplete")
        try:
            data = blob.assembler.finish(body)
        except ProtocolError as err:
            log.warning("%s: blob %s: %s", device, sheet, err)
            raise ReassemblyFailed("bad_hash" if err.code == "bad_hash" else "incomplete") from None
        gray = np.frombuffer(data, dtype=np.uint8).reshape(blob.meta["height"], blob.meta["width"])
        return Scan(gray, body["sha256"].lower(), blob.meta["dpi"])
