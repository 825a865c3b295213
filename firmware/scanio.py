"""Row input for the scanner board that does not fragment a small heap.

``drivers.scanlink.ScanEngine`` decodes frames through a growing byte buffer: every
row is copied three or four times, and reads of 4 KiB need that much contiguous
heap. On a 128 KB board, with the chunk buffer taking 13 KB, that is what runs out
first. ``ScanStream`` keeps the driver's commands and frame format but reads ROW
frames straight into the caller's chunk buffer (``rows_into``), checking the CRC as
it goes, and reads everything else in small pieces.
"""

import asyncio
import binascii
import struct

from drivers import scanlink
from drivers.scanlink import LinkTimeout, ScanEngine, ScanFault

SMALL_READ = 256


class ScanStream(ScanEngine):
    """``ScanEngine`` with an allocation-free path for image rows."""

    def __init__(self, reader, writer, timeout_ms=3000):
        ScanEngine.__init__(self, reader, writer, timeout_ms)
        self._head = bytearray(5)
        self._small = bytearray(8)
        self.row_index = 0

    async def _fill(self):
        data = await self.reader.read(SMALL_READ)
        if not data:
            raise ScanFault(0, "scan engine link closed")
        for frame in self.decoder.feed(data):
            if frame[0] == scanlink.PAPER:
                present = frame[1][:1] == b"\x01"
                self.paper = present
                self.paper_events.append(present)
            else:
                self.frames.append(frame)

    async def feed(self):
        """Pull the sheet in; return ``(width, height, dpi)``."""
        self.row_index = 0
        return await ScanEngine.feed(self)

    async def drain(self, quiet_ms=200):
        """Throw away whatever the engine still sends (rows of an abandoned scan) until the
        line has been quiet for ``quiet_ms``; PAPER events are kept."""
        while True:
            try:
                await asyncio.wait_for_ms(self._fill(), quiet_ms)
            except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
                break
            except ScanFault:
                break
        self.frames = []
        self.decoder = scanlink.FrameDecoder()

    async def _into(self, view):
        pos = 0
        while pos < len(view):
            n = await self.reader.readinto(view[pos:])
            if n is None:
                continue
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
        if length > scanlink.MAX_PAYLOAD:
            raise ScanFault(scanlink.F_BAD_COMMAND, "frame length %d" % length)
        return ftype, length

    async def _small_frame(self, length):
        """Payload of a short frame, CRC checked."""
        if length > 4:
            raise ScanFault(scanlink.F_BAD_COMMAND, "unexpected frame of %d bytes" % length)
        mv = memoryview(self._small)
        await self._into(mv[: length + 4])
        payload = bytes(mv[:length])
        crc = binascii.crc32(payload, binascii.crc32(self._head[2:5]))
        if crc & 0xFFFFFFFF != struct.unpack(">I", mv[length : length + 4])[0]:
            raise ScanFault(scanlink.F_BAD_COMMAND, "frame with a bad CRC")
        return payload

    async def _rows_into(self, buf, offset, count):
        width = self.width
        mv = memoryview(buf)
        got = 0
        # After the last row the engine sends END: read it too, so the next command's
        # answer is not preceded by it.
        while got < count or (self.row_index >= self.height and not self.ended):
            ftype, length = await self._frame_head()
            if ftype == scanlink.ROW:
                if length != width + 2:
                    raise ScanFault(scanlink.F_BAD_COMMAND, "row of %d bytes" % (length - 2))
                small = memoryview(self._small)
                await self._into(small[:2])
                index = (self._small[0] << 8) | self._small[1]
                row = mv[offset + got * width : offset + (got + 1) * width]
                await self._into(row)
                await self._into(small[2:6])
                crc = binascii.crc32(row, binascii.crc32(small[:2], binascii.crc32(
                    self._head[2:5])))
                if crc & 0xFFFFFFFF != struct.unpack(">I", small[2:6])[0]:
                    raise ScanFault(scanlink.F_BAD_COMMAND, "row %d with a bad CRC" % index)
                if index != self.row_index:
                    raise ScanFault(scanlink.F_BAD_COMMAND,
                                    "row %d arrived, row %d expected" % (index, self.row_index))
                self.row_index += 1
                got += 1
            else:
                payload = await self._small_frame(length)
                if ftype == scanlink.END:
                    self.ended = True
                    return got
                if ftype == scanlink.FAULT:
                    raise ScanFault(payload[0] if payload else 0)
                if ftype == scanlink.PAPER:
                    self.paper = payload[:1] == b"\x01"
                    self.paper_events.append(self.paper)
                    continue
                raise ScanFault(scanlink.F_BAD_COMMAND,
                                "unexpected frame 0x%02x while scanning" % ftype)
        return got

    async def rows_into(self, buf, offset, count):
        """Ask for ``count`` rows and write them into ``buf`` from ``offset``; return how
        many arrived (fewer at the end of the sheet, then ``ended`` is True)."""
        if self.ended:
            return 0
        if self.frames or self.decoder.buf:
            # Bytes already taken in by the frame decoder: use the copying path once.
            rows = await self.rows(count)
            for i in range(len(rows)):
                index, row = rows[i]
                if index != self.row_index:
                    raise ScanFault(scanlink.F_BAD_COMMAND,
                                    "row %d arrived, row %d expected" % (index, self.row_index))
                buf[offset + i * self.width : offset + (i + 1) * self.width] = row
                self.row_index += 1
            return len(rows)
        await self._send(scanlink.NEXT, bytes((count,)))
        try:
            return await asyncio.wait_for(self._rows_into(buf, offset, count), self.timeout)
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
            raise LinkTimeout("with rows")
