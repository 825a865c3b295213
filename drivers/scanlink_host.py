"""The board side of the scan engine link, with the conveniences a host wants.

``HostScanEngine`` is ``drivers.scanlink.ScanEngine`` plus ``rows`` (rows as a list
of ``(index, bytes)``, one allocation per row) and ``wait_paper``: what a bench tool
or a test that drives an engine from a PC uses. The scanner board reads rows with
``rows_into`` and its events with ``wait_event``, and never loads this module, so
its code takes none of the board's heap. Runs under CPython and MicroPython.
"""

from drivers.scanlink import (
    END,
    F_BAD_COMMAND,
    F_CORRUPT,
    FAULT,
    NEXT,
    PAPER,
    ROW,
    ScanEngine,
    ScanFault,
    parse_row,
)


class HostScanEngine(ScanEngine):
    """``ScanEngine`` with rows as lists and a wait for paper."""

    async def rows(self, count):
        """Ask for ``count`` more rows; return them as ``[(index, bytes)]`` (fewer at the end).

        The same checks as ``rows_into``: a row of the wrong length or out of order
        raises ``ScanFault(F_CORRUPT)``; a row whose CRC fails never arrives (the
        decoder drops it), so its absence ends in ``LinkTimeout``.
        """
        if self.ended:
            return []
        await self._send(NEXT, bytes((count,)))
        out = []
        while len(out) < count:
            ftype, payload = await self._next_frame("with rows")
            if ftype == ROW:
                index, row = parse_row(payload)
                if len(row) != self.width:
                    self.in_step = False
                    raise ScanFault(
                        F_CORRUPT,
                        "row %d has %d pixels, not %d" % (index, len(row), self.width),
                    )
                self._next_index(index)
                out.append((index, row))
            elif ftype == END:
                self.ended = True
                break
            elif ftype == FAULT:
                raise ScanFault(payload[0] if payload else 0)
            else:
                self.in_step = False
                raise ScanFault(F_BAD_COMMAND, "unexpected frame 0x%02x while scanning" % ftype)
        return out

    async def wait_paper(self):
        """Wait for the next PAPER event; return whether a sheet is present (no timeout:
        voters come when they come)."""
        while True:
            kind, value = await self.wait_event()
            if kind == PAPER:
                return value
