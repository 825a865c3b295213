"""The link between the scanner board and its scan engine (line sensor + feeder).

Frames in both directions (see docs/wire.md)::

    A5 5A | type (1) | length (2, BE) | payload | CRC-32 (4, BE) over type..payload

The codec (``encode``, ``FrameDecoder``, payload helpers) is shared by the board
firmware and the engine simulator. ``ScanEngine`` is the board side over an
asyncio stream pair; it never holds more rows than it asked for with NEXT.
"""

import binascii
import struct

try:
    import asyncio
except ImportError:  # pragma: no cover - every supported interpreter has asyncio
    asyncio = None

SYNC = b"\xa5\x5a"
MAX_PAYLOAD = 8192

STATUS = 0x01
FEED = 0x02
NEXT = 0x03
DROP = 0x04
RETURN = 0x05
R_STATUS = 0x81
SHEET = 0x82
ROW = 0x83
END = 0x84
FAULT = 0x85
DONE = 0x86
PAPER = 0x87

PAPER_PRESENT = 1
JAM = 2
DOUBLE = 4
COVER_OPEN = 8

F_JAM = 1
F_DOUBLE = 2
F_COVER = 3
F_NO_PAPER = 4
F_BAD_COMMAND = 5
FAULT_NAMES = {
    F_JAM: "paper jam",
    F_DOUBLE: "two sheets fed at once",
    F_COVER: "cover open",
    F_NO_PAPER: "no paper",
    F_BAD_COMMAND: "engine refused the command",
}


class ScanFault(Exception):
    """The engine reported a fault (``code`` from ``FAULT_NAMES``) or did not answer."""

    def __init__(self, code, message=None):
        super().__init__(message or FAULT_NAMES.get(code, "fault %d" % code))
        self.code = code


class LinkTimeout(ScanFault):
    """The engine stayed silent past the timeout."""

    def __init__(self, what):
        super().__init__(0, "scan engine did not answer " + what)


def crc32(data):
    """CRC-32 as in IEEE 802.3 and zlib (check value 0xCBF43926 for b"123456789").

    Computed by ``binascii`` in C on both interpreters: a pure-Python CRC over every
    scan line would cost the scanner board more time than the scan itself.
    """
    return binascii.crc32(data) & 0xFFFFFFFF


def encode(ftype, payload=b""):
    """Return the bytes of one frame."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload of %d bytes exceeds %d" % (len(payload), MAX_PAYLOAD))
    body = struct.pack(">BH", ftype, len(payload)) + payload
    return SYNC + body + struct.pack(">I", crc32(body))


class FrameDecoder:
    """Turns a byte stream into frames; skips garbage and frames whose CRC fails."""

    def __init__(self):
        self.buf = b""
        self.bad_frames = 0
        self.skipped = 0

    def feed(self, data):
        """Add received bytes; return the list of complete ``(type, payload)`` frames."""
        self.buf += data
        frames = []
        while True:
            start = self.buf.find(SYNC)
            if start < 0:
                keep = 1 if self.buf[-1:] == SYNC[:1] else 0
                self.skipped += len(self.buf) - keep
                self.buf = self.buf[len(self.buf) - keep :]
                return frames
            if start:
                self.skipped += start
                self.buf = self.buf[start:]
            if len(self.buf) < 5:
                return frames
            ftype, length = struct.unpack(">BH", self.buf[2:5])
            if length > MAX_PAYLOAD:
                # A length no frame can have: this SYNC was noise; look for the next one.
                self.bad_frames += 1
                self.buf = self.buf[2:]
                continue
            total = 5 + length + 4
            if len(self.buf) < total:
                return frames
            body = self.buf[2 : 5 + length]
            (crc,) = struct.unpack(">I", self.buf[5 + length : total])
            if crc32(body) != crc:
                self.bad_frames += 1
                self.buf = self.buf[2:]
                continue
            frames.append((ftype, bytes(body[3:])))
            self.buf = self.buf[total:]


def sheet_payload(width, height, dpi):
    """Payload of SHEET."""
    return struct.pack(">HHH", width, height, dpi)


def parse_sheet(payload):
    """``(width, height, dpi)`` of a SHEET payload."""
    if len(payload) != 6:
        raise ScanFault(F_BAD_COMMAND, "SHEET payload of %d bytes" % len(payload))
    return struct.unpack(">HHH", payload)


def row_payload(index, row):
    """Payload of ROW: the row index then the grey levels."""
    return struct.pack(">H", index) + bytes(row)


def parse_row(payload):
    """``(index, row bytes)`` of a ROW payload."""
    if len(payload) < 3:
        raise ScanFault(F_BAD_COMMAND, "ROW payload of %d bytes" % len(payload))
    return struct.unpack(">H", payload[:2])[0], payload[2:]


class ScanEngine:
    """Board side of the link over an asyncio ``(reader, writer)`` pair.

    Unsolicited PAPER frames are remembered in ``paper`` and wake ``wait_paper``;
    every other call sends one command and waits, with a timeout, for its answer.
    """

    def __init__(self, reader, writer, timeout_ms=3000):
        self.reader = reader
        self.writer = writer
        self.timeout = timeout_ms / 1000
        self.decoder = FrameDecoder()
        self.frames = []
        self.paper = None
        self.paper_events = []
        self.width = 0
        self.height = 0
        self.dpi = 0
        self.ended = False

    async def _send(self, ftype, payload=b""):
        self.writer.write(encode(ftype, payload))
        await self.writer.drain()

    async def _fill(self):
        data = await self.reader.read(4096)
        if not data:
            raise ScanFault(0, "scan engine link closed")
        for frame in self.decoder.feed(data):
            if frame[0] == PAPER:
                present = bool(frame[1][:1] == b"\x01")
                self.paper = present
                self.paper_events.append(present)
            else:
                self.frames.append(frame)

    async def _next_frame(self, what):
        while not self.frames:
            try:
                await asyncio.wait_for(self._fill(), self.timeout)
            except asyncio.TimeoutError:
                raise LinkTimeout(what)
        return self.frames.pop(0)

    async def _expect(self, answer, what):
        ftype, payload = await self._next_frame(what)
        if ftype == FAULT:
            raise ScanFault(payload[0] if payload else 0)
        if ftype != answer:
            raise ScanFault(F_BAD_COMMAND, "expected frame 0x%02x, got 0x%02x" % (answer, ftype))
        return payload

    async def status(self):
        """Return the engine's sensor flags (``PAPER_PRESENT`` | ``JAM`` | ...)."""
        await self._send(STATUS)
        payload = await self._expect(R_STATUS, "to STATUS")
        flags = payload[0] if payload else 0
        self.paper = bool(flags & PAPER_PRESENT)
        return flags

    async def feed(self):
        """Pull the sheet in; return ``(width, height, dpi)`` of the scan."""
        self.ended = False
        await self._send(FEED)
        self.width, self.height, self.dpi = parse_sheet(await self._expect(SHEET, "to FEED"))
        return self.width, self.height, self.dpi

    async def rows(self, count):
        """Ask for ``count`` more rows; return them as ``[(index, bytes)]`` (fewer at the end)."""
        if self.ended:
            return []
        await self._send(NEXT, bytes((count,)))
        out = []
        while len(out) < count:
            ftype, payload = await self._next_frame("with rows")
            if ftype == ROW:
                index, row = parse_row(payload)
                if len(row) != self.width:
                    raise ScanFault(
                        F_BAD_COMMAND,
                        "row %d has %d pixels, not %d" % (index, len(row), self.width),
                    )
                out.append((index, row))
            elif ftype == END:
                self.ended = True
                break
            elif ftype == FAULT:
                raise ScanFault(payload[0] if payload else 0)
            else:
                raise ScanFault(F_BAD_COMMAND, "unexpected frame 0x%02x while scanning" % ftype)
        return out

    async def _finish(self, command):
        await self._send(command)
        payload = await self._expect(DONE, "to DROP/RETURN")
        if payload[:1] != bytes((command,)):
            raise ScanFault(F_BAD_COMMAND, "engine confirmed another movement")

    async def drop(self):
        """Move the sheet into the ballot box."""
        await self._finish(DROP)

    async def eject(self):
        """Push the sheet back out to the voter."""
        await self._finish(RETURN)

    async def wait_paper(self):
        """Wait for the next PAPER event (no timeout: voters come when they come)."""
        while not self.paper_events:
            await self._fill()
            while self.frames:
                # Answers nobody asked for (e.g. after a restart mid-command) are stale.
                self.frames.pop(0)
        return self.paper_events.pop(0)
