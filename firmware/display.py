"""The screen of a device, as a line device: one JSON object per line.

On a virtual board the ``display`` UART carries the lines to the rig, which reads
them as a person reads the screen. Lines are canonical JSON (ASCII, sorted keys).
Each line is also logged on the console as ``[display] <line>``.
"""

import sys

from protocol.canonical import dump

# The console's byte stream where the port has one (MicroPython's unix and ESP32 ports
# do); else its text stream.
_CONSOLE = getattr(sys.stdout, "buffer", None)


class Display:
    """Writes screens to a stream writer."""

    def __init__(self, writer):
        self.writer = writer
        self.last = None

    def _piece(self, piece):
        if _CONSOLE is None:
            sys.stdout.write(piece)
        piece = piece.encode()
        if _CONSOLE is not None:
            _CONSOLE.write(piece)
        self.writer.write(piece)

    async def show(self, screen, fields=None):
        """Show ``screen`` with ``fields`` (a dict) and remember it in ``last``."""
        value = {"screen": screen}
        if fields:
            for name in fields:
                value[name] = fields[name]
        self.last = value
        # The line goes to the screen and the console piece by piece as it is encoded,
        # never joined: a check-in screen with a name in Cyrillic is a few hundred bytes,
        # a contiguous block that a fragmented heap may no longer have.
        if _CONSOLE is None:
            sys.stdout.write("[display] ")
        else:
            _CONSOLE.write(b"[display] ")
        dump(value, self._piece)
        self._piece("\n")
        await self.writer.drain()
