"""The simulated peripherals over real pseudo-terminals, driven from the board side.

The board side here is CPython opening the pty's device path like the firmware
does, with the real ``drivers`` code (``scanlink.ScanEngine``, ``mrz.LineAssembler``).
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


async def board_link(fd: int) -> scanlink.ScanEngine:
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
    return scanlink.ScanEngine(reader, FdWriter(fd), timeout_ms=3000)


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
        assert [s.label for s in engine.returned.items()] == ["a"]
        assert engine.box.items() == []
    finally:
        os.close(fd)
        engine.close()
