"""Simulated peripherals on a host serial port (``SerialLine``), as wired to a real board.

The USB-UART bridge and the board's UART behind it are a null-modem pair of
pseudo-terminals here: the peripheral opens one end by path with pyserial, and the
test reads and writes the other end as the board's UART would.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator

import pytest

from drivers import scanlink
from hil.peripherals import Display, MrzReader, ScanEngine
from hil.pty import NullModem, PtyClosed
from hil.serial_line import SerialLine


@pytest.fixture
def cable() -> Iterator[NullModem]:
    with NullModem("usb-uart") as modem:
        yield modem


def board_reads(cable: NullModem, count: int, timeout: float = 5.0) -> bytes:
    """What arrived at the board's end, ``count`` bytes or what came within ``timeout``."""
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        ready, _, _ = select.select([cable.a.slave], [], [], 0.1)
        if ready:
            got += os.read(cable.a.slave, 4096)
    return got


def test_a_document_reader_on_a_serial_line_sends_the_mrz_lines(cable: NullModem) -> None:
    reader = MrzReader("mrz", pair=SerialLine(cable.b_path, 9600))
    try:
        reader.present(["LINE<ONE", "LINE<TWO"])
        assert board_reads(cable, 20) == b"LINE<ONE\r\nLINE<TWO\r\n"
    finally:
        reader.close()
    with pytest.raises(PtyClosed):
        reader.present(["AFTER"])


def test_a_display_on_a_serial_line_reads_the_boards_screens(cable: NullModem) -> None:
    display = Display("display", pair=SerialLine(cable.b_path))
    try:
        os.write(cable.a.slave, b'{"screen": "ready", "counter": 0}\n{"scr')
        os.write(cable.a.slave, b'een": "accepted", "counter": 1}\nnot json\n')
        assert display.wait_screen("accepted", 5)["counter"] == 1
        assert [s["screen"] for s in display.screens.items()] == ["ready", "accepted", None]
        assert display.screens.items()[-1]["raw"] == "not json"
    finally:
        display.close()
    assert display.closed


def test_a_scan_engine_on_a_serial_line_answers_the_boards_commands(cable: NullModem) -> None:
    engine = ScanEngine("scan", pair=SerialLine(cable.b_path, 921600))
    try:
        os.write(cable.a.slave, scanlink.encode(scanlink.STATUS))
        answer = board_reads(cable, len(scanlink.encode(scanlink.R_STATUS, b"\x00")))
        frames = list(scanlink.FrameDecoder().feed(answer))
        assert frames == [(scanlink.R_STATUS, b"\x00")]
        assert engine.commands.wait_for(lambda c: c == scanlink.STATUS, 5) == scanlink.STATUS
    finally:
        engine.close()


def test_a_port_that_cannot_be_opened_says_which() -> None:
    with pytest.raises(PtyClosed, match="cannot open /dev/shailoo-no-such-bridge"):
        SerialLine("/dev/shailoo-no-such-bridge")
