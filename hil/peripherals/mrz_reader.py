"""A simulated ID-document reader: a document on the glass becomes MRZ lines on the UART.

Serial MRZ readers send each line of the machine-readable zone terminated by CR LF
(docs/wire.md, "ID-document reader"). ``present(lines)`` does exactly that;
``present_raw`` sends arbitrary bytes, for what a worn document or a misread looks
like on the wire. The reader does not read anything back from the board.
"""

from __future__ import annotations

import threading

from hil.history import History
from hil.peripherals.base import Peripheral
from hil.pty import PtyPair


class ReaderError(RuntimeError):
    """The board did not take the document's bytes (its UART stayed full)."""


class MrzReader(Peripheral):
    """The reader end of a terminal's ``mrz`` UART."""

    kind = "mrz-reader"
    uart = "mrz"

    def __init__(self, name: str = "mrz", pair: PtyPair | None = None) -> None:
        super().__init__(name, pair)
        self.presented: History[list[str]] = History(name)
        self._lock = threading.Lock()

    def present(self, lines: list[str]) -> None:
        """Send one document: each MRZ line followed by CR LF."""
        data = b"".join(line.encode("ascii") + b"\r\n" for line in lines)
        with self._lock:
            # One document at a time on the wire, even if two threads present at once.
            self._send(data)
            self.presented.append(list(lines))

    def present_raw(self, data: bytes) -> None:
        """Send raw bytes (a misread, a worn card) without any framing."""
        with self._lock:
            self._send(data)

    def _send(self, data: bytes) -> None:
        sent = self.pair.write(data)
        if sent != len(data):
            raise ReaderError(
                f"{self.name}: the board took {sent} of {len(data)} bytes of the document"
            )

