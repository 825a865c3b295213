"""The link between the scanner board and its scan engine (line sensor + feeder).

Frames in both directions (see docs/wire.md)::

    A5 5A | type (1) | length (2, BE) | payload | CRC-32 (4, BE) over type..payload

The codec (``encode``, ``FrameDecoder``, payload helpers) is shared by the board
firmware and the engine simulator. ``ScanEngine`` is the board side over an
asyncio stream pair; it never holds more rows than it asked for with NEXT, and
``rows_into`` puts them straight into the caller's buffer (``scanlink_host`` adds
what only a host wants).

Frames carry no sequence number, so the board keeps the line in step itself: the
engine goes on sending what it was asked for (the rows of a NEXT, an answer) when
the board restarts, times out or abandons a scan, and that tail must never be read
as the answer to the next command. ``ScanEngine`` starts out of step; before a
command it sends out of step, it throws away what is on the line until it has been
quiet (``drain``, bounded in time), and it never takes a ROW or END frame for the
answer to STATUS, FEED, DROP or RETURN. A timeout, a wrong answer or a scan stopped
in the middle of a frame puts it out of step again.

What it does not promise: an answer that arrives later than the timeout *and*
after the line was quiet for ``QUIET_MS`` looks like an answer to the next command
of the same kind (STATUS after STATUS); frames have no sequence number to tell.
"""

import binascii
import struct

try:
    import asyncio
except ImportError:  # pragma: no cover - every supported interpreter has asyncio
    asyncio = None
try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython: the same millisecond clock from monotonic()
    from time import monotonic

    def ticks_ms():
        return int(monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

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
SENSORS = 0x88

PAPER_PRESENT = 1
JAM = 2
DOUBLE = 4
COVER_OPEN = 8

F_JAM = 1
F_DOUBLE = 2
F_COVER = 3
F_NO_PAPER = 4
F_BAD_COMMAND = 5
# Found by the board, never sent by the engine: a row that failed its CRC, came out of
# order or had the wrong length. The image is incomplete; the sheet goes back.
F_CORRUPT = 0x10
FAULT_NAMES = {
    F_JAM: "paper jam",
    F_DOUBLE: "two sheets fed at once",
    F_COVER: "cover open",
    F_NO_PAPER: "no paper",
    F_BAD_COMMAND: "engine refused the command",
    F_CORRUPT: "a scan line arrived damaged",
}
# Frames other than rows are read in pieces of SMALL_READ bytes, into one buffer that
# lives as long as the link: a fragmented heap may have no bigger hole to give.
SMALL_READ = 64
# Resynchronising: the line counts as quiet after QUIET_MS without a byte, and an
# engine that does not fall quiet within RESYNC_MS is left to the frame checks (a
# NEXT of 255 rows of a wide sheet takes many seconds at a UART's baud rate).
QUIET_MS = 200
RESYNC_MS = 3000


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
    """Turns a byte stream into frames; skips garbage and frames whose CRC fails.

    Frames of a type in ``discard`` are passed over as their bytes arrive, without
    being held or checked (``discarded`` counts them): a board throwing away the rows
    of an abandoned scan needs no row-sized buffer for that.
    """

    def __init__(self):
        self.buf = b""
        self.bad_frames = 0
        self.skipped = 0
        self.discard = ()
        self.discarded = 0
        self._skip = 0

    def feed(self, data):
        """Add received bytes; return the list of complete ``(type, payload)`` frames."""
        if self._skip:
            n = min(self._skip, len(data))
            self._skip -= n
            data = data[n:]
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
            if ftype in self.discard:
                self.discarded += 1
                if len(self.buf) < total:
                    self._skip = total - len(self.buf)
                    self.buf = b""
                    return frames
                self.buf = self.buf[total:]
                continue
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

    Unsolicited PAPER and SENSORS frames are remembered (``paper``, ``flags``) and
    queued as events for ``wait_event``; every other call sends one command and
    waits, with a timeout, for its answer. Image rows go straight into the caller's
    buffer (``rows_into``: no allocation per row, CRC checked as the bytes arrive).
    Non-row frames are read in pieces of ``SMALL_READ`` bytes into one buffer, so
    that no read needs a large contiguous block of heap. Rows as lists, for hosts,
    are in ``drivers.scanlink_host``.
    """

    def __init__(self, reader, writer, timeout_ms=3000):
        self.reader = reader
        self.writer = writer
        self.timeout = timeout_ms / 1000
        self.decoder = FrameDecoder()
        self.frames = []
        self.paper = None
        self.flags = 0
        self.events = []
        self.width = 0
        self.height = 0
        self.dpi = 0
        self.ended = False
        self.row_index = 0
        # False until the line was resynchronised once: after a board restart the engine
        # may still be sending the rows a NEXT before the restart asked for.
        self.in_step = False
        # Frames thrown away because they answered nothing the board was waiting for.
        self.stale = 0
        self._head = bytearray(5)
        self._small = bytearray(8)
        self._rx = memoryview(bytearray(SMALL_READ))
        # Looked up once: a bound method made on every read is heap too.
        self._readinto = getattr(reader, "readinto", None)

    async def _send(self, ftype, payload=b""):
        """Send a command whose answer is awaited next: in step with the engine first.

        One coroutine for both (no helper): on the scanner it runs once per image
        chunk, and every coroutine call costs a frame of heap.
        """
        if not self.in_step:
            await self.drain()
        if self.frames:
            # Taken in before this command went out, so they cannot answer it.
            self.stale += len(self.frames)
            self.frames = []
        self.writer.write(encode(ftype, payload))
        await self.writer.drain()

    def _unsolicited(self, ftype, payload):
        """Record a PAPER or SENSORS frame; True if ``ftype`` was one."""
        if ftype == PAPER:
            self.paper = payload[:1] == b"\x01"
            self.events.append((PAPER, self.paper))
            return True
        if ftype == SENSORS:
            self.flags = payload[0] if payload else 0
            self.paper = bool(self.flags & PAPER_PRESENT)
            self.events.append((SENSORS, self.flags))
            return True
        return False

    async def _fill(self):
        if self._readinto is None:
            data = await self.reader.read(SMALL_READ)
        else:
            n = await self._readinto(self._rx)
            if n is None:
                return  # nothing yet on a non-blocking line: the caller reads again
            data = self._rx[:n]
        if not data:
            raise ScanFault(0, "scan engine link closed")
        for frame in self.decoder.feed(data):
            if not self._unsolicited(frame[0], frame[1]):
                self.frames.append(frame)

    async def _next_frame(self, what, skip_rows=False):
        """The next frame (``skip_rows``: the next that is no ROW or END) within ``timeout``
        in all, however many bytes arrive meanwhile: an engine babbling garbage (no
        complete frame) ends in ``LinkTimeout`` too.

        One coroutine with a clock rather than a wait_for around a loop: the scanner
        polls the engine through here, and each coroutine in the chain costs heap."""
        start = ticks_ms()
        limit = int(self.timeout * 1000)
        while True:
            while not self.frames:
                left = limit - ticks_diff(ticks_ms(), start)
                try:
                    if left <= 0:
                        raise asyncio.TimeoutError
                    await asyncio.wait_for(self._fill(), left / 1000)
                except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
                    # An answer may still come, late: it must not answer the next command.
                    self.in_step = False
                    raise LinkTimeout(what)
            frame = self.frames.pop(0)
            if not skip_rows or (frame[0] != ROW and frame[0] != END):
                return frame
            # The tail of a stream the board no longer reads (a scan abandoned by a
            # restart or a fault): never an answer to STATUS, FEED, DROP or RETURN.
            self.stale += 1

    async def _expect(self, answer, what):
        ftype, payload = await self._next_frame(what, True)
        if ftype == FAULT:
            raise ScanFault(payload[0] if payload else 0)
        if ftype != answer:
            # An answer to an earlier command: the line is out of step until quiet.
            self.in_step = False
            raise ScanFault(F_BAD_COMMAND, "expected frame 0x%02x, got 0x%02x" % (answer, ftype))
        return payload

    async def status(self):
        """Return the engine's sensor flags (``PAPER_PRESENT`` | ``JAM`` | ...)."""
        await self._send(STATUS)
        payload = await self._expect(R_STATUS, "to STATUS")
        self.flags = payload[0] if payload else 0
        self.paper = bool(self.flags & PAPER_PRESENT)
        return self.flags

    async def feed(self):
        """Pull the sheet in; return ``(width, height, dpi)`` of the scan."""
        self.ended = False
        self.row_index = 0
        await self._send(FEED)
        self.width, self.height, self.dpi = parse_sheet(await self._expect(SHEET, "to FEED"))
        return self.width, self.height, self.dpi

    def _next_index(self, index):
        if index != self.row_index:
            raise ScanFault(F_CORRUPT, "row %d arrived, row %d expected" % (index, self.row_index))
        self.row_index += 1

    # -- rows straight into the caller's buffer ---------------------------------

    def _take(self, view):
        """Move bytes the frame decoder holds into ``view``; return how many.

        Not inlined into ``_into``: a local more there is a word more in each of the
        four coroutine frames made per row.
        """
        left = self.decoder.buf
        n = min(len(view), len(left))
        view[:n] = left[:n]
        self.decoder.buf = left[n:]
        return n

    async def _into(self, view):
        """Fill ``view`` from the line (``readinto`` where the reader has it), starting with
        bytes the frame decoder took in but did not use (an event behind the last answer)."""
        pos = self._take(view) if self.decoder.buf else 0
        size = len(view)
        readinto = self._readinto
        while pos < size:
            if readinto is not None:
                n = await readinto(view[pos:])
                if n is None:
                    continue
            else:
                data = await self.reader.read(size - pos)
                n = len(data)
                view[pos : pos + n] = data
            if n == 0:
                raise ScanFault(0, "scan engine link closed")
            pos += n

    async def _frame_head(self):
        """Read up to and including the length of the next frame; return ``(type, length)``."""
        head = self._head
        mv = memoryview(head)
        await self._into(mv)
        # Out of step (noise on the line): slide byte by byte to the next sync word.
        while head[0] != 0xA5 or head[1] != 0x5A:
            head[0:4] = head[1:5]
            await self._into(mv[4:5])
        ftype, length = struct.unpack(">BH", head[2:5])
        if length > MAX_PAYLOAD:
            raise ScanFault(F_CORRUPT, "frame length %d" % length)
        return ftype, length

    async def _small_frame(self, length):
        """Payload of a short frame, CRC checked."""
        if length > 4:
            raise ScanFault(F_BAD_COMMAND, "unexpected frame of %d bytes" % length)
        mv = memoryview(self._small)
        await self._into(mv[: length + 4])
        payload = bytes(mv[:length])
        crc = binascii.crc32(payload, binascii.crc32(self._head[2:5]))
        if crc & 0xFFFFFFFF != struct.unpack(">I", mv[length : length + 4])[0]:
            raise ScanFault(F_CORRUPT, "frame with a bad CRC")
        return payload

    async def _rows_into(self, buf, offset, count):
        width = self.width
        mv = memoryview(buf)
        small = memoryview(self._small)
        got = 0
        # Out of step until the last frame asked for was read whole: a fault or a
        # timeout may stop this in the middle of a frame whose rest is still coming.
        self.in_step = False
        # After the last row the engine sends END: read it too, so the next command's
        # answer is not preceded by it.
        while got < count or (self.row_index >= self.height and not self.ended):
            ftype, length = await self._frame_head()
            if ftype != ROW:
                payload = await self._small_frame(length)
                if ftype == END:
                    self.ended = self.in_step = True
                    return got
                if ftype == FAULT:
                    raise ScanFault(payload[0] if payload else 0)
                if self._unsolicited(ftype, payload):
                    continue
                raise ScanFault(F_BAD_COMMAND, "unexpected frame 0x%02x while scanning" % ftype)
            if length != width + 2:
                raise ScanFault(F_CORRUPT, "row of %d bytes, not %d" % (length - 2, width))
            await self._into(small[:2])
            index = (self._small[0] << 8) | self._small[1]
            row = mv[offset + got * width : offset + (got + 1) * width]
            await self._into(row)
            await self._into(small[2:6])
            crc = binascii.crc32(row, binascii.crc32(small[:2], binascii.crc32(self._head[2:5])))
            if crc & 0xFFFFFFFF != struct.unpack(">I", small[2:6])[0]:
                raise ScanFault(F_CORRUPT, "row %d with a bad CRC" % index)
            self._next_index(index)
            got += 1
        self.in_step = True
        return got

    async def rows_into(self, buf, offset, count):
        """Ask for ``count`` rows and write them into ``buf`` from ``offset``; return how
        many arrived (fewer at the end of the sheet, then ``ended`` is True).

        ``buf`` needs room for ``count`` rows of ``width`` bytes after ``offset``. No
        memory is allocated per row: each row is read into its place and its CRC is
        computed there. A row with a bad CRC, out of order or of the wrong length
        raises ``ScanFault(F_CORRUPT)``; the sheet has to be scanned again.
        """
        if self.ended:
            return 0
        await self._send(NEXT, bytes((count,)))
        try:
            return await asyncio.wait_for(self._rows_into(buf, offset, count), self.timeout)
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
            raise LinkTimeout("with rows")

    async def drain(self, quiet_ms=QUIET_MS, limit_ms=RESYNC_MS):
        """Resynchronise: throw away what the engine still sends (rows of an abandoned
        scan, late answers) until the line has been quiet for ``quiet_ms``, for at most
        ``limit_ms``; PAPER and SENSORS events are kept. Return True if it fell quiet.

        An engine still sending after ``limit_ms`` is not waited for any longer: the
        next command's answer is then picked out of the stream (ROW and END frames are
        never taken for one), or its timeout says that the engine does not answer.
        """
        # One timeout per read and a clock for the whole: a second wait_for around the
        # loop would cost the scanner heap it does not have in the middle of a sheet.
        # Rows are passed over unread (no row-sized buffer); events are still decoded.
        self.decoder.discard = (ROW,)
        start = ticks_ms()
        quiet = False
        while ticks_diff(ticks_ms(), start) < limit_ms:
            try:
                await asyncio.wait_for(self._fill(), quiet_ms / 1000)
            except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
                quiet = True
                break
            except ScanFault:
                break  # the link closed: nothing more to throw away
        self.stale += len(self.frames) + self.decoder.discarded
        self.frames = []
        self.decoder = FrameDecoder()
        # In step as far as waiting can make it: an engine still sending is caught by
        # the checks on each answer, which put the line out of step again if need be.
        self.in_step = True
        return quiet

    # -- paper movements and events -----------------------------------------------

    async def _finish(self, command):
        await self._send(command)
        payload = await self._expect(DONE, "to DROP/RETURN")
        if payload[:1] != bytes((command,)):
            self.in_step = False
            raise ScanFault(F_BAD_COMMAND, "engine confirmed another movement")

    async def drop(self):
        """Move the sheet into the ballot box."""
        await self._finish(DROP)

    async def eject(self):
        """Push the sheet back out to the voter."""
        await self._finish(RETURN)

    async def wait_event(self):
        """The next unsolicited event, ``(PAPER, present)`` or ``(SENSORS, flags)``.

        No timeout: voters and poll workers come when they come.
        """
        while not self.events:
            await self._fill()
            while self.frames:
                # Answers nobody asked for (e.g. after a restart mid-command) are stale.
                self.frames.pop(0)
        return self.events.pop(0)
