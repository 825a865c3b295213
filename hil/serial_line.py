"""A host serial port as a peripheral's line: a simulated peripheral on a real wire.

A real board's UARTs are its own pins. To play a peripheral to one, the rig talks
through a USB-UART bridge whose TX and RX are wired to that UART: ``SerialLine``
opens the bridge's port (any pyserial URL) and offers what a ``hil.pty.PtyPair``
offers a peripheral (``read``, ``write``, ``close``, ``closed``, ``device_path``,
``flush_device_input``), so every simulated peripheral works on it unchanged.

What it promises: the bytes, in order, at the port's baud rate. What it cannot do is
drop what the board has not read yet: that buffer is on the board, so
``flush_device_input`` does nothing here.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from hil.pty import PtyClosed

READ_PERIOD = 0.2
WRITE_TIMEOUT = 10.0


class SerialLine:
    """A serial port opened for a simulated peripheral; ``device_path`` is the port."""

    def __init__(self, port: str, baudrate: int = 115200, name: str | None = None) -> None:
        import serial

        self.name = name or port
        self.device_path = port
        try:
            self._serial: Any = serial.serial_for_url(
                port, baudrate=baudrate, timeout=READ_PERIOD, write_timeout=WRITE_TIMEOUT
            )
        except (serial.SerialException, ValueError) as err:
            raise PtyClosed(f"{self.name}: cannot open {port}: {err}") from None
        self._closed = False
        self._write_lock = threading.Lock()
        self._readers: list[threading.Thread] = []

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran."""
        return self._closed

    def write(self, data: bytes, timeout: float = WRITE_TIMEOUT) -> int:
        """Write ``data`` to the board; return how many bytes went out within ``timeout``."""
        import serial

        with self._write_lock:
            if self._closed:
                raise PtyClosed(f"{self.name}: closed")
            self._serial.write_timeout = timeout
            try:
                sent = self._serial.write(data)
                self._serial.flush()
            except serial.SerialTimeoutException:
                return 0
            except (serial.SerialException, OSError) as err:
                raise PtyClosed(f"{self.name}: {err}") from None
        return len(data) if sent is None else sent

    def read(self, timeout: float | None = None, size: int = 65536) -> bytes:
        """Bytes the board sent, waiting up to ``timeout`` s (None: until some come)."""
        import serial

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._closed:
                raise PtyClosed(f"{self.name}: closed")
            try:
                waiting = self._serial.in_waiting
                data = self._serial.read(max(1, min(size, waiting)))
            except (serial.SerialException, OSError, TypeError, AttributeError) as err:
                # A port closed under the reader fails in pyserial's own ways.
                raise PtyClosed(f"{self.name}: {err}") from None
            if data:
                return data
            if deadline is not None and time.monotonic() >= deadline:
                return b""

    def flush_device_input(self) -> None:
        """Nothing to do: what the board has not read is in the board's buffer."""

    def close(self) -> None:
        """Close the port; readers and writers get ``PtyClosed``."""
        if self._closed:
            return
        self._closed = True
        # Readers notice the flag within one read period; then the port goes.
        for thread in self._readers:
            if thread is not threading.current_thread():
                thread.join(2 * READ_PERIOD + 1)
        self._serial.close()

    def __repr__(self) -> str:
        return f"SerialLine({self.name!r}, {self.device_path})"
