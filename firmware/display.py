"""The screen of a device, as a line device: one JSON object per line.

On a virtual board the ``display`` UART carries the lines to the rig, which reads
them as a person reads the screen. Lines are canonical JSON (ASCII, sorted keys).
Each line is also logged on the console as ``[display] <line>``.
"""

import sys

from protocol.canonical import dumps

# The console's byte stream where the port has one (MicroPython's unix and ESP32 ports
# do), so that a line is logged without being decoded into a copy first.
_CONSOLE = getattr(sys.stdout, "buffer", None)


def _log(line):
    if _CONSOLE is None:
        print("[display]", line.decode())
        return
    _CONSOLE.write(b"[display] ")
    _CONSOLE.write(line)
    _CONSOLE.write(b"\n")


class Display:
    """Writes screens to a stream writer."""

    def __init__(self, writer):
        self.writer = writer
        self.last = None

    async def show(self, screen, fields=None):
        """Show ``screen`` with ``fields`` (a dict) and remember it in ``last``."""
        value = {"screen": screen}
        if fields:
            for name in fields:
                value[name] = fields[name]
        self.last = value
        line = dumps(value)
        # The line goes out as it is, with no copies (joined with its newline, decoded
        # for the console): a jammed-ballot screen is half a kilobyte, and each copy is a
        # contiguous block that a fragmented heap may no longer have.
        _log(line)
        self.writer.write(line)
        self.writer.write(b"\n")
        await self.writer.drain()
