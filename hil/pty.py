"""Pseudo-terminals in raw mode: the wire between a virtual board and its peripherals.

A ``PtyPair`` is one serial line. The board opens ``device_path`` (the slave side,
``/dev/pts/N``) as it would open ``/dev/ttyUSB0``; the simulated peripheral reads
and writes the master side. The rig keeps its own handle on the slave for the
pair's whole life, so the path stays valid while the board process is killed and
started again, as a UART cable stays plugged in through a power cut.

What a pair promises: bytes in order, nothing altered (raw mode: no echo, no line
discipline, no CR/LF translation). What it does not: real baud-rate timing. Bytes
written while nobody listens on the other end wait in the kernel's buffer until
``flush_device_input`` drops them (the rig does that at every power cut, because a
real UART loses what arrives while the board is off).
"""

from __future__ import annotations

import os
import select
import termios
import threading
import time
import tty
from collections.abc import Callable

WRITE_TIMEOUT = 10.0


class PtyClosed(OSError):
    """The pair was closed while reading or writing."""


class PtyPair:
    """A raw-mode pseudo-terminal: ``device_path`` for the board, the master end for the host."""

    def __init__(self, name: str = "pty") -> None:
        self.name = name
        self.master, self.slave = os.openpty()
        # Raw on the slave side: the line discipline lives there. The board's profile
        # sets raw mode again when it opens the path; doing it here too means bytes
        # that arrive before the board is up are not echoed or translated.
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.device_path = os.ttyname(self.slave)
        self._closed = False
        self._write_lock = threading.Lock()
        self._readers: list[threading.Thread] = []

    @property
    def closed(self) -> bool:
        """True once ``close()`` ran."""
        return self._closed

    def write(self, data: bytes, timeout: float = WRITE_TIMEOUT) -> int:
        """Write all of ``data`` to the device side; return how many bytes went out.

        Waits while the device's input buffer is full, at most ``timeout`` seconds in
        all; what could not be written by then is dropped (returned count is short),
        as bytes sent to a board that stopped reading are lost on a real line.
        """
        view = memoryview(data)
        sent = 0
        deadline = time.monotonic() + timeout
        with self._write_lock:
            while sent < len(view):
                if self._closed:
                    raise PtyClosed(f"{self.name}: closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    return sent
                try:
                    _, writable, _ = select.select([], [self.master], [], min(left, 0.5))
                except (OSError, ValueError):
                    raise PtyClosed(f"{self.name}: closed") from None
                if not writable:
                    continue
                try:
                    sent += os.write(self.master, view[sent:])
                except BlockingIOError:
                    continue
                except OSError as err:
                    raise PtyClosed(f"{self.name}: {err}") from None
        return sent

    def read(self, timeout: float | None = None, size: int = 65536) -> bytes:
        """Bytes the device wrote, waiting up to ``timeout`` s (None: forever); b"" on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._closed:
                raise PtyClosed(f"{self.name}: closed")
            wait = 0.5 if deadline is None else min(0.5, max(0.0, deadline - time.monotonic()))
            try:
                readable, _, _ = select.select([self.master], [], [], wait)
            except (OSError, ValueError):
                raise PtyClosed(f"{self.name}: closed") from None
            if readable:
                try:
                    data = os.read(self.master, size)
                except BlockingIOError:
                    data = b""
                except OSError as err:
                    # EIO: no process has the slave open any more. We hold it open
                    # ourselves, so this means the pair is being torn down.
                    raise PtyClosed(f"{self.name}: {err}") from None
                if data:
                    return data
            if deadline is not None and time.monotonic() >= deadline:
                return b""

    def flush_device_input(self) -> None:
        """Drop bytes written to the device that it has not read yet (power cut)."""
        if not self._closed:
            termios.tcflush(self.slave, termios.TCIFLUSH)

    def pending_to_device(self) -> int:
        """Bytes written by the host that the device has not read yet."""
        import fcntl
        import struct

        raw = fcntl.ioctl(self.slave, termios.FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", raw)[0]

    def close(self) -> None:
        """Close both ends; readers and writers get ``PtyClosed``."""
        if self._closed:
            return
        self._closed = True
        try:
            os.close(self.slave)
        except OSError:
            pass
        # Reader threads notice the flag within one select period; closing the master
        # under them could hand its number to an unrelated file opened meanwhile.
        for thread in self._readers:
            if thread is not threading.current_thread():
                thread.join(2)
        try:
            os.close(self.master)
        except OSError:
            pass

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PtyPair({self.name!r}, {self.device_path})"


def reader_thread(
    pair: PtyPair, sink: Callable[[bytes], None], name: str | None = None
) -> threading.Thread:
    """Start a daemon thread that passes everything the device writes to ``sink``.

    The thread ends when the pair is closed. An exception in ``sink`` ends it too,
    after being stored on the thread as ``error`` for whoever wants to look.
    """

    def loop() -> None:
        while True:
            try:
                data = pair.read()
            except PtyClosed:
                return
            try:
                sink(data)
            except Exception as err:  # noqa: BLE001 - kept on the thread for inspection
                thread.error = err  # type: ignore[attr-defined]
                return

    thread = threading.Thread(target=loop, name=name or f"{pair.name}-reader", daemon=True)
    thread.error = None  # type: ignore[attr-defined]
    pair._readers.append(thread)
    thread.start()
    return thread


class NullModem:
    """Two raw pseudo-terminals joined back to back: a serial cable between two paths.

    Whatever is written to ``a_path`` comes out of ``b_path`` and the other way round,
    as over a null-modem cable (or a USB-UART bridge and the board's UART behind it).
    A board's console goes on one end, a host tool that opens a serial port by path
    (pyserial, ``mpremote``) on the other. The two ends are the slaves of two
    ``PtyPair``s; a daemon thread each way copies between their masters.
    """

    def __init__(self, name: str = "cable") -> None:
        self.name = name
        self.a = PtyPair(f"{name}-a")
        self.b = PtyPair(f"{name}-b")
        reader_thread(self.a, self._to_b, name=f"{name}-a-to-b")
        reader_thread(self.b, self._to_a, name=f"{name}-b-to-a")

    def _to_b(self, data: bytes) -> None:
        self.b.write(data)

    def _to_a(self, data: bytes) -> None:
        self.a.write(data)

    @property
    def a_path(self) -> str:
        """One end (e.g. the board's console)."""
        return self.a.device_path

    @property
    def b_path(self) -> str:
        """The other end (e.g. the host's serial port)."""
        return self.b.device_path

    def a_fd(self) -> int:
        """A descriptor of the ``a`` end, for a child process's stdin/stdout/stderr."""
        return self.a.slave

    def close(self) -> None:
        """Cut the cable."""
        self.a.close()
        self.b.close()

    def __enter__(self) -> NullModem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
