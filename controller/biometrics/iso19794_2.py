"""ISO/IEC 19794-2:2005 finger minutiae records: strict reading and exact writing.

A record is big-endian bytes::

    header (24)   "FMR\\0", " 20\\0", total length (4), capture equipment (2: bit 15
                  certified, bits 12-14 reserved, bits 0-11 device id), width, height,
                  x and y resolution in pixels per cm (2 each), number of views (1),
                  reserved (1)
    view header   finger position (1), view number << 4 | impression type (1),
                  finger quality (1), minutiae count (1)
    minutia (6)   type << 14 | x (2), reserved << 14 | y (2), angle in 2π/256 (1),
                  quality (1)
    extended data length (2), then blocks: type (2), block length (2, counting these
                  four header bytes), data

``parse`` refuses anything it cannot vouch for with an ``IsoRecordError`` that names the
field and its byte offset; zero bytes after the stated length (padding that some
producers add) are the only leniency. Extended data blocks (ridge counts, cores and
deltas, zonal quality, vendor blocks) are framed and checked, then skipped: the matcher
uses positions and angles only, and ``encode`` writes no extended data, so
``encode(parse(b)) == b`` for every record without extended data or padding.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from controller.biometrics.template import (
    BIFURCATION,
    ENDING,
    OTHER,
    FingerRecord,
    FingerView,
    Minutiae,
)

MAGIC = b"FMR\x00"
VERSION = b" 20\x00"
HEADER_SIZE = 24
VIEW_HEADER_SIZE = 4
MINUTIA_SIZE = 6
BLOCK_HEADER_SIZE = 4
MAX_RECORD_BYTES = 64 * 1024  # a record with every view full is under 16 KiB
MAX_VIEWS = 11 * 16  # finger positions 0-10, view numbers 0-15
MIN_PPCM = 99  # 250 dpi: below that minutiae cannot be located
MAX_PPCM = 2000
MAX_COORDINATE = (1 << 14) - 1
FINGER_POSITIONS = range(0, 11)  # 0 unknown, 1 right thumb .. 10 left little
IMPRESSION_TYPES = (0, 1, 2, 3, 8)  # live plain, live rolled, non-live plain/rolled, swipe
ANGLE_UNIT = 2 * math.pi / 256

_KIND_FROM_CODE = {0: OTHER, 1: ENDING, 2: BIFURCATION}
_CODE_FROM_KIND = {OTHER: 0, ENDING: 1, BIFURCATION: 2}


class IsoRecordError(ValueError):
    """The bytes are not a valid ISO/IEC 19794-2:2005 finger minutiae record."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def _fail(field: str, offset: int, problem: str) -> IsoRecordError:
    return IsoRecordError("%s at byte %d: %s" % (field, offset, problem))


class _Reader:
    """Reads big-endian fields from the stated extent of the record, naming each one."""

    def __init__(self, data: bytes, end: int) -> None:
        self.data = data
        self.end = end
        self.offset = 0

    def take(self, size: int, field: str) -> bytes:
        if self.offset + size > self.end:
            raise _fail(
                field,
                self.offset,
                "record ends (stated length %d) before this %d-byte field" % (self.end, size),
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u16(self, field: str) -> int:
        return struct.unpack(">H", self.take(2, field))[0]

    def u32(self, field: str) -> int:
        return struct.unpack(">I", self.take(4, field))[0]


def parse(data: bytes) -> FingerRecord:
    """Read one record; raise IsoRecordError naming the field and offset of any fault."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("an ISO record is bytes, not %s" % type(data).__name__)
    data = bytes(data)
    if len(data) > MAX_RECORD_BYTES:
        raise _fail(
            "record", 0, "%d bytes, more than the %d accepted" % (len(data), MAX_RECORD_BYTES)
        )
    if len(data) < 12:
        raise _fail("header", 0, "only %d bytes, a header needs %d" % (len(data), HEADER_SIZE))
    if data[0:4] != MAGIC:
        raise _fail("format identifier", 0, "%r is not %r" % (data[0:4], MAGIC))
    if data[4:8] != VERSION:
        raise _fail("version", 4, "%r is not %r (ISO/IEC 19794-2:2005)" % (data[4:8], VERSION))
    stated = struct.unpack(">I", data[8:12])[0]
    if stated < HEADER_SIZE:
        raise _fail(
            "record length", 8, "%d is shorter than the %d-byte header" % (stated, HEADER_SIZE)
        )
    if stated > len(data):
        raise _fail(
            "record length", 8, "states %d bytes but only %d are present" % (stated, len(data))
        )
    padding = data[stated:]
    if padding.strip(b"\x00"):
        first = stated + next(i for i, b in enumerate(padding) if b)
        raise _fail("trailing data", first, "non-zero bytes after the stated length %d" % stated)

    reader = _Reader(data, stated)
    reader.offset = 12
    equipment = reader.u16("capture equipment")
    if equipment & 0x7000:
        raise _fail("capture equipment", 12, "reserved bits 12-14 are set (0x%04x)" % equipment)
    width = reader.u16("image width")
    height = reader.u16("image height")
    for name, value, offset in (("image width", width, 14), ("image height", height, 16)):
        if value == 0:
            raise _fail(name, offset, "is zero")
    x_ppcm = reader.u16("x resolution")
    y_ppcm = reader.u16("y resolution")
    for name, value, offset in (("x resolution", x_ppcm, 18), ("y resolution", y_ppcm, 20)):
        if not MIN_PPCM <= value <= MAX_PPCM:
            raise _fail(
                name,
                offset,
                "%d pixels per cm is outside %d-%d" % (value, MIN_PPCM, MAX_PPCM),
            )
    count = reader.u8("number of finger views")
    if count == 0:
        raise _fail("number of finger views", 22, "is zero")
    if count > MAX_VIEWS:
        raise _fail("number of finger views", 22, "%d is more than %d" % (count, MAX_VIEWS))
    if reader.u8("reserved byte"):
        raise _fail("reserved byte", 23, "is not zero")

    views = []
    seen: dict[tuple[int, int], int] = {}
    for index in range(count):
        start = reader.offset
        view = _parse_view(reader, index, width, height)
        key = (view.finger, view.view)
        if key in seen:
            raise _fail(
                "view %d" % index,
                start,
                "finger %d view %d already appears as view %d" % (key[0], key[1], seen[key]),
            )
        seen[key] = index
        views.append(view)
    if reader.offset != stated:
        raise _fail(
            "record length",
            8,
            "states %d bytes but the views end at byte %d" % (stated, reader.offset),
        )
    return FingerRecord(
        width=width,
        height=height,
        views=views,
        x_ppcm=x_ppcm,
        y_ppcm=y_ppcm,
        equipment=equipment & 0x0FFF,
        certified=bool(equipment & 0x8000),
    )


def _parse_view(reader: _Reader, index: int, width: int, height: int) -> FingerView:
    name = "view %d" % index
    offset = reader.offset
    finger = reader.u8(name + " finger position")
    if finger not in FINGER_POSITIONS:
        raise _fail(name + " finger position", offset, "%d is not a finger code 0-10" % finger)
    packed = reader.u8(name + " view number and impression type")
    impression = packed & 0x0F
    if impression not in IMPRESSION_TYPES:
        raise _fail(
            name + " impression type",
            offset + 1,
            "%d is not one of %s" % (impression, ", ".join(str(t) for t in IMPRESSION_TYPES)),
        )
    quality = reader.u8(name + " finger quality")
    if quality > 100:
        raise _fail(name + " finger quality", offset + 2, "%d is above 100" % quality)
    count = reader.u8(name + " minutiae count")
    needed = count * MINUTIA_SIZE + 2
    if reader.offset + needed > reader.end:
        raise _fail(
            name + " minutiae",
            reader.offset,
            "%d minutiae need %d bytes but the record ends at byte %d"
            % (count, needed, reader.end),
        )
    raw = np.frombuffer(
        reader.take(count * MINUTIA_SIZE, name + " minutiae"),
        dtype=np.dtype([("tx", ">u2"), ("ry", ">u2"), ("angle", "u1"), ("quality", "u1")]),
    )
    codes = raw["tx"] >> 14
    xs = raw["tx"] & 0x3FFF
    reserved = raw["ry"] >> 14
    ys = raw["ry"] & 0x3FFF
    first = offset + VIEW_HEADER_SIZE
    _check_minutiae(name, first, codes, xs, reserved, ys, raw["quality"], width, height)
    minutiae = Minutiae.from_columns(
        xs.astype(np.float32),
        ys.astype(np.float32),
        raw["angle"].astype(np.float32) * np.float32(ANGLE_UNIT),
        np.array([_KIND_FROM_CODE[int(c)] for c in codes], dtype=np.uint8),
        raw["quality"].copy(),
    )
    _skip_extended_data(reader, name)
    return FingerView(
        minutiae=minutiae,
        finger=finger,
        view=packed >> 4,
        impression=impression,
        quality=quality,
    )


def _check_minutiae(
    name: str,
    first: int,
    codes: np.ndarray,
    xs: np.ndarray,
    reserved: np.ndarray,
    ys: np.ndarray,
    quality: np.ndarray,
    width: int,
    height: int,
) -> None:
    checks = (
        (codes == 3, "type", 0, "type code 3 is reserved"),
        (xs >= width, "x", 0, "lies outside the image width %d" % width),
        (reserved != 0, "reserved bits", 2, "the two bits above y are set"),
        (ys >= height, "y", 2, "lies outside the image height %d" % height),
        (quality > 100, "quality", 5, "is above 100"),
    )
    for bad, field, within, problem in checks:
        hits = np.flatnonzero(bad)
        if hits.size:
            i = int(hits[0])
            raise _fail(
                "%s minutia %d %s" % (name, i, field), first + i * MINUTIA_SIZE + within, problem
            )


def _skip_extended_data(reader: _Reader, name: str) -> None:
    offset = reader.offset
    length = reader.u16(name + " extended data length")
    end = reader.offset + length
    if end > reader.end:
        raise _fail(
            name + " extended data length",
            offset,
            "%d bytes run past the end of the record (byte %d)" % (length, reader.end),
        )
    while reader.offset < end:
        block = reader.offset
        if end - block < BLOCK_HEADER_SIZE:
            raise _fail(
                name + " extended data block",
                block,
                "%d bytes left, a block header needs %d" % (end - block, BLOCK_HEADER_SIZE),
            )
        kind = reader.u16(name + " extended data type")
        size = reader.u16(name + " extended data block length")
        if kind == 0:
            raise _fail(name + " extended data type", block, "type 0 is reserved")
        if size < BLOCK_HEADER_SIZE or block + size > end:
            raise _fail(
                name + " extended data block length",
                block + 2,
                "%d does not fit the %d bytes of extended data left" % (size, end - block),
            )
        reader.offset = block + size


def encode(record: FingerRecord) -> bytes:
    """Write ``record`` as ISO/IEC 19794-2:2005 bytes; ValueError if it cannot be written.

    Coordinates are rounded to whole pixels and angles to units of 2π/256, which is what
    a record can hold; a minutia within half a pixel of the far edge is kept on the edge.
    """
    _check_record(record)
    body = bytearray()
    for index, view in enumerate(record.views):
        body += _encode_view(index, view, record.width, record.height)
    equipment = (record.equipment & 0x0FFF) | (0x8000 if record.certified else 0)
    header = (
        MAGIC
        + VERSION
        + struct.pack(
            ">IHHHHHBB",
            HEADER_SIZE + len(body),
            equipment,
            record.width,
            record.height,
            record.x_ppcm,
            record.y_ppcm,
            len(record.views),
            0,
        )
    )
    out = header + bytes(body)
    if len(out) > MAX_RECORD_BYTES:
        raise IsoRecordError("record of %d bytes exceeds %d" % (len(out), MAX_RECORD_BYTES))
    return out


def _check_record(record: FingerRecord) -> None:
    for name, value, low, high in (
        ("width", record.width, 1, MAX_COORDINATE),
        ("height", record.height, 1, MAX_COORDINATE),
        ("x_ppcm", record.x_ppcm, MIN_PPCM, MAX_PPCM),
        ("y_ppcm", record.y_ppcm, MIN_PPCM, MAX_PPCM),
        ("equipment", record.equipment, 0, 0x0FFF),
    ):
        if not low <= int(value) <= high:
            raise IsoRecordError("record %s %r is outside %d-%d" % (name, value, low, high))
    if not 1 <= len(record.views) <= MAX_VIEWS:
        raise IsoRecordError("a record holds 1-%d views, not %d" % (MAX_VIEWS, len(record.views)))
    seen = set()
    for index, view in enumerate(record.views):
        if (view.finger, view.view) in seen:
            raise IsoRecordError(
                "view %d repeats finger %d view %d" % (index, view.finger, view.view)
            )
        seen.add((view.finger, view.view))


def _encode_view(index: int, view: FingerView, width: int, height: int) -> bytes:
    name = "view %d" % index
    if view.finger not in FINGER_POSITIONS:
        raise IsoRecordError("%s finger position %r is not 0-10" % (name, view.finger))
    if not 0 <= view.view <= 15:
        raise IsoRecordError("%s view number %r is not 0-15" % (name, view.view))
    if view.impression not in IMPRESSION_TYPES:
        raise IsoRecordError("%s impression type %r is not allowed" % (name, view.impression))
    if not 0 <= view.quality <= 100:
        raise IsoRecordError("%s quality %r is not 0-100" % (name, view.quality))
    m = view.minutiae
    if len(m) > 255:
        raise IsoRecordError("%s has %d minutiae, a view holds 255" % (name, len(m)))
    xs = _pixels(m.x, width, name + " x")
    ys = _pixels(m.y, height, name + " y")
    kinds = np.asarray(m.kind)
    unknown = ~np.isin(kinds, list(_CODE_FROM_KIND))
    if unknown.any():
        raise IsoRecordError("%s minutia kind %d is unknown" % (name, int(kinds[unknown][0])))
    quality = np.asarray(m.quality, dtype=np.int64)
    if (quality > 100).any():
        raise IsoRecordError("%s minutia quality above 100" % name)
    angles = np.asarray(m.angle, dtype=np.float64)
    if not np.isfinite(angles).all():
        raise IsoRecordError("%s minutia angle is not finite" % name)
    codes = np.array([_CODE_FROM_KIND[int(k)] for k in kinds], dtype=np.uint16)
    rows = np.zeros(
        len(m), dtype=np.dtype([("tx", ">u2"), ("ry", ">u2"), ("angle", "u1"), ("quality", "u1")])
    )
    rows["tx"] = (codes << 14) | xs
    rows["ry"] = ys
    rows["angle"] = np.mod(np.rint(angles / ANGLE_UNIT), 256).astype(np.uint8)
    rows["quality"] = quality.astype(np.uint8)
    head = struct.pack(
        ">BBBB", view.finger, (view.view << 4) | view.impression, view.quality, len(m)
    )
    return head + rows.tobytes() + b"\x00\x00"


def _pixels(values: np.ndarray, limit: int, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if not np.isfinite(v).all():
        raise IsoRecordError("%s is not finite" % name)
    rounded = np.rint(v)
    rounded[(rounded == limit) & (v < limit)] = limit - 1
    bad = (rounded < 0) | (rounded >= limit)
    if bad.any():
        raise IsoRecordError("%s %.1f lies outside 0-%d" % (name, float(v[bad][0]), limit - 1))
    return rounded.astype(np.uint16)
