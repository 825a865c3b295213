"""The virtual board: the MicroPython unix port on a PC, as used by the HIL rig.

UARTs are pseudo-terminal paths from ``config["uart"]``, opened as files and put
in raw mode with VMIN=0/VTIME=0 so that a read returns what has arrived instead of
blocking the whole event loop until its buffer is full. Storage is the current
directory (the board's flash directory). A reset exits the process; the rig
restarts it with the same command, as a power cycle would.
"""

import asyncio
import sys

try:
    import termios
except ImportError:  # a build without termios: the rig must set raw mode itself
    termios = None

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


_VTIME = const(5)
_VMIN = const(6)
# Linux termios bits for raw mode (what cfmakeraw clears and sets).
_IFLAG_OFF = const(0x1 | 0x2 | 0x8 | 0x20 | 0x40 | 0x80 | 0x100 | 0x400)
_OPOST = const(0x1)
_LFLAG_OFF = const(0x8 | 0x40 | 0x2 | 0x1 | 0x8000)
_CSIZE_PARENB = const(0x30 | 0x100)
_CS8 = const(0x30)


def _raw(fd):
    """Raw mode with VMIN=0/VTIME=0, applied now and without flushing: bytes a peripheral
    sent before the board opened the line must not be thrown away (termios.setraw may)."""
    if termios is None:
        return
    attrs = termios.tcgetattr(fd)
    attrs[0] &= ~_IFLAG_OFF
    attrs[1] &= ~_OPOST
    attrs[2] = (attrs[2] & ~_CSIZE_PARENB) | _CS8
    attrs[3] &= ~_LFLAG_OFF
    attrs[6][_VMIN] = 0
    attrs[6][_VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class Board:
    """Virtual board profile."""

    name = "unix"

    def __init__(self, config):
        self.config = config
        self.storage = "."
        self._files = []

    async def start(self):
        """Nothing to bring up: the host's network is already there."""

    def uart(self, name):
        """Open the pseudo-terminal configured for UART ``name``; return ``(reader, writer)``."""
        path = self.config["uart"].get(name)
        if not isinstance(path, str):
            raise ValueError("UART %r has no device path in the config" % (name,))
        f = open(path, "r+b")
        try:
            _raw(f.fileno())
        except (OSError, AttributeError):
            pass  # not a terminal (a FIFO or file in a test): reads do not block anyway
        self._files.append(f)
        return asyncio.StreamReader(f), asyncio.StreamWriter(f, {})

    def feed(self):
        """No watchdog on the virtual board."""

    def reset(self, code=0):
        """Exit; the rig restarts the process like a power cycle."""
        sys.exit(code)
