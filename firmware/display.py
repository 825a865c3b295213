"""The screen of a device, as a line device: one JSON object per line.

On a virtual board the ``display`` UART carries the lines to the rig, which reads
them as a person reads the screen. Lines are canonical JSON (ASCII, sorted keys).
"""

from protocol.canonical import dumps


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
        line = dumps(value) + b"\n"
        print("[display]", line.decode().strip())
        self.writer.write(line)
        await self.writer.drain()
