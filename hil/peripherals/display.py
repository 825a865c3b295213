"""The screen of a virtual board, read line by line as a person reads it.

The firmware writes one JSON object per line to its ``display`` UART (docs/wire.md,
"Display"). ``Display`` keeps every screen in order in ``screens`` so that a
scenario can wait for the one it expects: ``wait_screen("checkin", txn=...)``.
A line that is not JSON is kept as ``{"screen": None, "raw": text}`` rather than
dropped: a garbled screen is a finding, not noise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hil.history import DEFAULT_TIMEOUT, History
from hil.peripherals.base import Peripheral
from hil.pty import PtyPair
from protocol.canonical import within

MAX_LINE = 4096
# A screen is a flat object with a list or two inside.
MAX_DEPTH = 6


class Display(Peripheral):
    """Reads the display UART of one board into ``screens``."""

    kind = "display"
    uart = "display"

    def __init__(self, name: str = "display", pair: PtyPair | None = None) -> None:
        super().__init__(name, pair)
        self.screens: History[dict[str, Any]] = History(name)
        self._partial = b""
        self._thread = self.listen(self._feed)

    def _feed(self, data: bytes) -> None:
        self._partial += data
        while b"\n" in self._partial:
            line, self._partial = self._partial.split(b"\n", 1)
            self._line(line.strip(b"\r "))
        if len(self._partial) > MAX_LINE:
            self._line(self._partial)
            self._partial = b""

    def _line(self, raw: bytes) -> None:
        if not raw:
            return
        text = raw.decode("utf-8", errors="replace")
        screen = None
        if within(raw, MAX_DEPTH):
            try:
                screen = json.loads(text)
            except ValueError:
                pass
        if not isinstance(screen, dict) or "screen" not in screen:
            screen = {"screen": None, "raw": text}
        self.screens.append(screen)

    @property
    def current(self) -> dict[str, Any] | None:
        """What the screen shows now (the last line), or None before the first."""
        return self.screens.last()

    def mark(self) -> int:
        """Index of the next screen: pass as ``start`` to wait only for later screens."""
        return self.screens.mark()

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = DEFAULT_TIMEOUT,
        start: int = 0,
    ) -> dict[str, Any]:
        """The first screen from ``start`` on satisfying ``predicate`` (``RigTimeout`` if none)."""
        return self.screens.wait_for(predicate, timeout, start)

    def wait_screen(
        self,
        screen: str | tuple[str, ...],
        timeout: float = DEFAULT_TIMEOUT,
        start: int = 0,
        **fields: Any,
    ) -> dict[str, Any]:
        """The first screen named ``screen`` (or one of several) whose fields include ``fields``."""
        names = (screen,) if isinstance(screen, str) else screen

        def matches(s: dict[str, Any]) -> bool:
            return s.get("screen") in names and all(s.get(k) == v for k, v in fields.items())

        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        return self.screens.wait_for(matches, timeout, start, what=f"{'/'.join(names)} {shown}")

