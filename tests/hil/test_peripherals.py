"""The simulated peripherals over real pseudo-terminals, driven from the board side.

The board side here is CPython opening the pty's device path like the firmware
does, with the real ``drivers`` code (``scanlink_host.HostScanEngine``, which is the board's
``scanlink.ScanEngine`` plus ``rows``, and ``mrz.LineAssembler``).
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import termios
import time
import tty

import numpy as np
import pytest

from drivers import mrz, scanlink
from drivers.scanlink_host import HostScanEngine
from hil.history import RigTimeout
from hil.peripherals import Display, MrzReader, ScanEngine, Sheet
from hil.peripherals.scan_engine import EngineError, Fault
from hil.pty import PtyPair
from hil.voters import make_voters


def open_device(path: str) -> int:
    """Open a pty's device side as the board does: read/write, raw, non-blocking."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    return fd


class FdWriter:
    """The writer half ``scanlink.ScanEngine`` needs, over a file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                continue
            view = view[n:]

    async def drain(self) -> None:
        return None


async def board_link(fd: int) -> HostScanEngine:
    """The real board-side scan engine client over the device end of a pty."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()

    def readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if data:
            reader.feed_data(data)

    loop.add_reader(fd, readable)
    return HostScanEngine(reader, FdWriter(fd), timeout_ms=3000)


def read_until(fd: int, count: int, timeout: float = 5) -> bytes:
    """Read ``count`` bytes from a device fd, with a bound."""
    import select
    import time

    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(out)} of {count} bytes arrived: {out!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            out += os.read(fd, count - len(out))
    return out


def test_pty_is_raw_and_keeps_its_path_when_the_board_closes_it() -> None:
    with PtyPair("t") as pair:
        fd = open_device(pair.device_path)
        attrs = termios.tcgetattr(fd)
        assert not attrs[3] & termios.ECHO and not attrs[3] & termios.ICANON
        # Every byte value crosses unchanged in both directions (no CR/LF mapping).
        data = bytes(range(256))
        assert pair.write(data) == 256
        assert read_until(fd, 256) == data
        os.write(fd, data)
        got = b""
        while len(got) < 256:
            got += pair.read(timeout=5)
        assert got == data
        os.close(fd)
        # A power cut closes the board's handle; the path stays and works again.
        pair.write(b"lost while off")
        pair.flush_device_input()
        assert pair.pending_to_device() == 0
        fd = open_device(pair.device_path)
        pair.write(b"after")
        assert read_until(fd, 5) == b"after"
        os.close(fd)


def test_pty_write_gives_up_when_nobody_reads() -> None:
    with PtyPair("full") as pair:
        sent = pair.write(b"x" * 1_000_000, timeout=0.5)
        assert 0 < sent < 1_000_000


def test_mrz_reader_sends_documents_the_terminal_driver_assembles() -> None:
    voters = make_voters(4, seed=3)
    reader = MrzReader()
    fd = open_device(reader.device_path)
    try:
        assembler = mrz.LineAssembler()
        docs: list[list[str]] = []
        for voter in voters:
            reader.present(voter.mrz())
        reader.present_raw(b"NOT A DOCUMENT\r\n")
        deadline = time.monotonic() + 5
        while len(docs) < len(voters) and time.monotonic() < deadline:
            # Wait for the reader's bytes to arrive rather than for the clock.
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                docs += assembler.feed(os.read(fd, 4096))
        assert docs == [v.mrz() for v in voters]
        for voter, doc in zip(voters, docs, strict=True):
            fields = mrz.parse(doc)
            assert fields["valid"]
            assert fields["document_number"] == voter.document_number
        assert reader.presented.items() == docs
    finally:
        os.close(fd)
        reader.close()


def test_display_keeps_the_screens_in_order_and_waits_for_one() -> None:
    display = Display()
    fd = open_device(display.device_path)
    try:
        start = display.mark()
        os.write(fd, b'{"screen":"ready"}\n{"screen":"waiting","txn":"t-1-1"}\r\n')
        os.write(fd, b"garbage line\n")
        os.write(fd, json.dumps({"screen": "checkin", "txn": "t-1-1", "status": "issued"}).encode())
        os.write(fd, b"\n")
        shown = display.wait_screen("checkin", 5, start, txn="t-1-1")
        assert shown["status"] == "issued"
        names = [s["screen"] for s in display.screens.items(start)]
        assert names == ["ready", "waiting", None, "checkin"]
        assert display.screens.items(start)[2]["raw"] == "garbage line"
        assert display.current == shown
        with pytest.raises(RigTimeout):
            display.wait_screen("checkin", 0.3, display.mark())
    finally:
        os.close(fd)
        display.close()


def grey_sheet(width: int = 64, height: int = 37, label: str = "v") -> Sheet:
    rng = np.random.default_rng(width * height)
    return Sheet(rng.integers(0, 256, (height, width), dtype=np.uint8), 150, label)


def test_scan_engine_streams_a_sheet_with_flow_control_and_drops_it() -> None:
    engine = ScanEngine()
    fd = open_device(engine.device_path)

    async def board() -> tuple[bytes, tuple[int, int, int], int]:
        link = await board_link(fd)
        assert await link.status() == 0
        sheet = engine.insert(grey_sheet())
        assert await link.wait_paper() is True
        assert await link.status() & scanlink.PAPER_PRESENT
        size = await link.feed()
        image = b""
        while not link.ended:
            before = engine.rows_sent
            rows = await link.rows(3)
            # Flow control: never more rows than asked for.
            assert len(rows) <= 3 and engine.rows_sent - before == len(rows)
            image += b"".join(row for _, row in rows)
        await link.drop()
        assert sheet.path == ["inserted", "fed", "dropped"]
        return image, size, await link.status()

    try:
        image, size, flags = asyncio.run(board())
        sheet = engine.box.items()[0]
        assert size == (64, 37, 150)
        assert image == sheet.image.tobytes()
        assert flags == 0
        assert engine.returned.items() == []
        assert engine.wait_settled(sheet, 1) == "dropped"
    finally:
        os.close(fd)
        engine.close()


def test_scan_engine_returns_refuses_and_faults() -> None:
    engine = ScanEngine()
    fd = open_device(engine.device_path)

    async def board() -> None:
        link = await board_link(fd)
        with pytest.raises(scanlink.ScanFault) as no_paper:
            await link.feed()
        assert no_paper.value.code == scanlink.F_NO_PAPER
        first = engine.insert(grey_sheet(label="a"))
        with pytest.raises(EngineError):
            engine.insert(grey_sheet(label="b"))
        await link.wait_paper()
        await link.feed()
        await link.rows(5)
        await link.eject()
        assert first.path == ["inserted", "fed", "returned"]
        # Double sheet on FEED, then a jam in the middle of the rows that stays until cleared.
        engine.insert(grey_sheet(label="c"))
        engine.arm(Fault("double"))
        with pytest.raises(scanlink.ScanFault) as double:
            await link.feed()
        assert double.value.code == scanlink.F_DOUBLE
        # The double-sheet sensor holds until both sheets are back in the voter's hand.
        assert await link.status() == scanlink.PAPER_PRESENT | scanlink.DOUBLE
        with pytest.raises(scanlink.ScanFault) as still:
            await link.feed()
        assert still.value.code == scanlink.F_DOUBLE
        await link.eject()
        assert await link.status() == 0
        engine.insert(grey_sheet(label="d"))
        engine.arm(Fault("jam", row=4))
        await link.feed()
        assert len(await link.rows(4)) == 4
        with pytest.raises(scanlink.ScanFault) as jam:
            await link.rows(2)
        assert jam.value.code == scanlink.F_JAM
        assert await link.status() & scanlink.JAM
        engine.clear_jam()
        assert await link.status() == scanlink.PAPER_PRESENT
        # A corrupted row never reaches the board: its CRC fails and the board times out.
        engine.arm(Fault("corrupt_row", row=0))
        await link.feed()
        link.timeout = 0.5
        with pytest.raises(scanlink.LinkTimeout):
            await link.rows(1)
        assert link.decoder.bad_frames == 1

    try:
        asyncio.run(board())
        assert [s.label for s in engine.returned.items()] == ["a", "c"]
        assert engine.box.items() == []
    finally:
        os.close(fd)
        engine.close()


def test_scan_engine_announces_sensor_changes_and_cover_mid_scan() -> None:
    engine = ScanEngine()
    fd = open_device(engine.device_path)

    async def board() -> list:
        link = await board_link(fd)
        engine.open_cover()
        assert await link.wait_event() == (scanlink.SENSORS, scanlink.COVER_OPEN)
        engine.close_cover()
        assert await link.wait_event() == (scanlink.SENSORS, 0)
        engine.insert(grey_sheet(label="a"))
        assert await link.wait_event() == (scanlink.PAPER, True)
        engine.arm(Fault("cover", row=10))
        await link.feed()
        buf = bytearray(64 * 8)
        assert await link.rows_into(buf, 0, 8) == 8
        with pytest.raises(scanlink.ScanFault) as cover:
            await link.rows_into(buf, 0, 8)
        assert cover.value.code == scanlink.F_COVER
        # The sensor frame behind the fault shows the cover open with the sheet inside.
        await link.drain(100)
        assert link.flags == scanlink.COVER_OPEN | scanlink.PAPER_PRESENT
        with pytest.raises(scanlink.ScanFault):
            await link.eject()
        engine.close_cover()
        await link.eject()
        # A jam on DROP: the sheet stays in; the poll worker takes it out.
        engine.insert(grey_sheet(label="b"))
        await link.wait_paper()
        await link.feed()
        link.events.clear()
        engine.arm(Fault("jam", command=scanlink.DROP))
        with pytest.raises(scanlink.ScanFault) as jam:
            await link.drop()
        assert jam.value.code == scanlink.F_JAM
        taken = engine.clear_jam(take_out=True)
        events = [await link.wait_event() for _ in range(3)]
        return [taken.label if taken else None, *events]

    try:
        got = asyncio.run(board())
        assert got[0] == "b"
        # FAULT's own sensor frame, the sheet taken away, the jam cleared.
        assert got[1:] == [
            (scanlink.SENSORS, scanlink.JAM | scanlink.PAPER_PRESENT),
            (scanlink.PAPER, False),
            (scanlink.SENSORS, 0),
        ]
        assert engine.box.items() == []
        assert [s.label for s in engine.returned.items()] == ["a"]
    finally:
        os.close(fd)
        engine.close()


def test_rows_into_fills_the_callers_buffer_and_catches_a_corrupt_row() -> None:
    engine = ScanEngine()
    fd = open_device(engine.device_path)
    image = (np.arange(40 * 33) % 251).astype(np.uint8).reshape(33, 40)

    async def board() -> tuple[bytes, int]:
        link = await board_link(fd)
        engine.insert(Sheet(image, 150, "whole"))
        await link.wait_paper()
        await link.feed()
        buf = bytearray(40 * 33)
        got = 0
        while not link.ended:
            got += await link.rows_into(buf, got * 40, min(7, 33 - got) or 1)
        await link.drop()
        engine.insert(Sheet(image, 150, "corrupt"))
        await link.wait_paper()
        engine.arm(Fault("corrupt_row", row=5))
        await link.feed()
        small = bytearray(40 * 8)
        with pytest.raises(scanlink.ScanFault) as bad:
            await link.rows_into(small, 0, 8)
        assert bad.value.code == scanlink.F_CORRUPT and "row 5 with a bad CRC" in str(bad.value)
        await link.drain(100)
        await link.eject()
        return bytes(buf), got

    try:
        data, rows = asyncio.run(board())
        assert rows == 33 and data == image.tobytes()
        assert [s.label for s in engine.box.items()] == ["whole"]
        assert [s.label for s in engine.returned.items()] == ["corrupt"]
    finally:
        os.close(fd)
        engine.close()
