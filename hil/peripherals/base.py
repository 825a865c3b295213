"""What every simulated peripheral is: the far end of one UART of a board.

A peripheral has a ``name`` (in logs and thread names), a ``kind`` (what a station
description calls it: ``"display"``, ``"mrz-reader"``, ``"scan-engine"``,
``"fingerprint-sensor"``, ``"printer"``), the board ``uart`` it plugs into, and the
line it speaks on, ``pair``: a ``hil.pty.PtyPair`` whose ``device_path`` the board
opens as it would open ``/dev/ttyUSB0``, or a ``hil.serial_line.SerialLine``, a host
serial port wired to a real board's UART (both offer ``read``, ``write``, ``close``,
``closed``, ``device_path`` and ``flush_device_input``).

Making a peripheral plugs it in: from then on it answers the board in the real byte
protocol of the device it stands for, from a daemon thread of its own when it listens
to the board at all (``listen``). ``close()`` unplugs it; the board then reads nothing
more from that UART, as from a cable pulled out. What every peripheral promises:
the bytes of the real device, in order. What none does: the real device's timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ClassVar

from hil.pty import PtyPair, reader_thread


class Peripheral:
    """Base of the simulated peripherals: a name, a kind, a UART and the line to it."""

    kind: ClassVar[str] = ""
    uart: ClassVar[str] = ""

    def __init__(self, name: str, pair: PtyPair | None = None) -> None:
        self.name = name
        self.pair = pair or PtyPair(name)

    @property
    def device_path(self) -> str:
        """The path the board opens as this peripheral's UART."""
        return self.pair.device_path

    @property
    def closed(self) -> bool:
        """True once the peripheral is unplugged."""
        return self.pair.closed

    def listen(self, sink: Callable[[bytes], None]) -> threading.Thread:
        """Pass everything the board sends to ``sink``, from a daemon thread, until closed."""
        return reader_thread(self.pair, sink, name=f"{self.name}-{self.kind or 'peripheral'}")

    def close(self) -> None:
        """Unplug: close the line (a thread serving it ends)."""
        self.pair.close()

    def __enter__(self) -> Peripheral:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "unplugged" if self.closed else self.device_path
        return f"{type(self).__name__}({self.name!r}, {self.kind} on {self.uart}, {state})"
