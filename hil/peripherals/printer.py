"""A simulated thermal printer (ESC/POS) on a real pseudo-terminal, 58 mm or 80 mm.

The board (or a host driver) writes ESC/POS to ``device_path``; the printer parses
the stream and draws what it would print onto a paper image ``paper_dots`` wide
(384 for 58 mm paper, the default; 576 for 80 mm):

* text bytes are decoded as CP866 (after ``ESC t 17``; other tables are recorded
  and CP866 is used anyway) and drawn with DejaVu Sans at ``FONT_SIZE``, one line of
  ``LINE_HEIGHT`` dots per LF, in the current bold, size and alignment; a line too
  long for the paper wraps onto the next;
* ``GS v 0`` raster images are pasted as given, aligned like text;
* ``ESC @``, ``ESC t``, ``ESC E``, ``ESC !``, ``ESC -``, ``ESC a``, ``ESC d``,
  ``GS !``, ``GS V`` (cuts are counted) are understood;
* ``DLE EOT n`` (1..4) is answered with one status byte at once.

Bytes that are no known command are recorded in ``unknown`` and skipped, never a
crash; a command cut short waits for the rest of its bytes. Fault modes:
``paper_out``, ``cover_open`` (both make the printer offline: it keeps parsing and
answering status, but draws nothing and counts what it dropped in ``dropped``),
``near_end`` (status only), ``mute`` (status requests go unanswered, as from a
printer that hangs or is switched off behind its cable) and ``babble`` (bytes sent
instead of every status answer: a printer with a wrong baud rate or a broken
firmware). ``fault_after(lines, fault)`` raises a fault once so many lines are on the
paper, e.g. the cover opened in the middle of a long printout. ``paper()`` is the
image so far, ``save(path)`` a PNG.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from hil.peripherals.base import Peripheral
from hil.pty import PtyClosed, PtyPair

PAPER_DOTS = 384
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
FONT_SIZE = 22
LINE_HEIGHT = 28
TEXT_TOP = 2
CP866 = 17
MAX_RASTER_HEIGHT = 4096
MAX_RASTER_WIDTH_BYTES = 255

ESC, GS, DLE, EOT, LF, CR = 0x1B, 0x1D, 0x10, 0x04, 0x0A, 0x0D
# ESC commands with one parameter byte, GS likewise.
_ESC_ONE = {0x74, 0x45, 0x21, 0x2D, 0x61, 0x64, 0x4A}
_GS_ONE = {0x21}


class Printer(Peripheral):
    """The printer end of a ``printer`` UART."""

    kind = "printer"
    uart = "printer"

    def __init__(
        self, name: str = "printer", pair: PtyPair | None = None, paper_dots: int = PAPER_DOTS
    ) -> None:
        super().__init__(name, pair)
        self.paper_dots = paper_dots
        self.paper_out = False
        self.cover_open = False
        self.near_end = False
        self.mute = False
        self.babble: bytes | None = None
        self.printed = 0  # lines and images on the paper
        self._scheduled: list[tuple[int, str]] = []
        self.unknown: list[bytes] = []
        self.codepages: list[int] = []
        self.status_requests: list[int] = []
        self.text_lines: list[str] = []
        self.rasters: list[tuple[int, int, int, int]] = []  # x, y, width, height on paper
        self.cuts = 0
        self.dropped = 0
        self.received = 0
        self._buf = bytearray()
        self._line = bytearray()
        self._strips: list[tuple[int, Image.Image]] = []
        self._y = 0
        self._reset_modes()
        self._cond = threading.Condition()
        self._fonts = {
            False: ImageFont.truetype(FONT, FONT_SIZE),
            True: ImageFont.truetype(FONT_BOLD, FONT_SIZE),
        }
        self._reader = self.listen(self._feed)

    @property
    def online(self) -> bool:
        """False while the paper is out or the cover is open."""
        return not (self.paper_out or self.cover_open)

    # --- the wire ---------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        with self._cond:
            self.received += len(data)
            self._buf += data
            self._parse()
            self._cond.notify_all()

    def wait(self, predicate: Callable[[Printer], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(self)`` holds (checked after every chunk); its last value."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def fault_after(self, lines: int, fault: str) -> None:
        """Set ``fault`` (``"cover_open"``, ``"paper_out"``, ...) once ``lines`` more lines
        are on the paper."""
        if fault not in ("paper_out", "cover_open", "near_end", "mute"):
            raise ValueError(f"no fault mode {fault!r}")
        with self._cond:
            self._scheduled.append((self.printed + lines, fault))

    def _answer(self, n: int) -> None:
        self.status_requests.append(n)
        if self.mute:
            return
        answer = self.babble if self.babble is not None else bytes((self.status_byte(n),))
        try:
            self.pair.write(answer, timeout=1.0)
        except PtyClosed:
            pass

    def status_byte(self, n: int) -> int:
        """The answer to ``DLE EOT n``: fixed bits 0x12 plus the fault bits."""
        byte = 0x12
        if n == 1 and not self.online:
            byte |= 0x08
        elif n == 2:
            if self.cover_open:
                byte |= 0x04
            if self.paper_out:
                byte |= 0x20
        elif n == 4:
            if self.near_end or self.paper_out:
                byte |= 0x0C
            if self.paper_out:
                byte |= 0x60
        return byte

    def _parse(self) -> None:
        buf = self._buf
        while buf:
            used = self._command(buf)
            if used == 0:
                return  # cut short: wait for the rest
            del buf[:used]

    def _command(self, buf: bytearray) -> int:
        """Handle the command at the start of ``buf``; bytes used, 0 if incomplete."""
        b = buf[0]
        if b >= 0x20:
            self._line.append(b)
            return 1
        if b == LF:
            self._print_line()
            return 1
        if b == CR:
            return 1
        if b == DLE:
            if len(buf) < 3:
                return 0
            if buf[1] == EOT and 1 <= buf[2] <= 4:
                self._answer(buf[2])
                return 3
            self.unknown.append(bytes(buf[:1]))
            return 1
        if b == ESC:
            if len(buf) < 2:
                return 0
            op = buf[1]
            if op == 0x40:  # ESC @
                self._line.clear()
                self._reset_modes()
                return 2
            if op in _ESC_ONE:
                if len(buf) < 3:
                    return 0
                self._esc(op, buf[2])
                return 3
            self.unknown.append(bytes(buf[:2]))
            return 2
        if b == GS:
            if len(buf) < 2:
                return 0
            op = buf[1]
            if op in _GS_ONE:
                if len(buf) < 3:
                    return 0
                n = buf[2]
                self.width_mult, self.height_mult = (n >> 4) + 1, (n & 7) + 1
                return 3
            if op == 0x56:  # GS V m [n]
                if len(buf) < 3:
                    return 0
                size = 4 if buf[2] in (65, 66) else 3
                if len(buf) < size:
                    return 0
                self._print_line(only_if_pending=True)
                if self.online:
                    self.cuts += 1
                return size
            if op == 0x76:  # GS v 0 m xL xH yL yH d...
                return self._raster(buf)
            self.unknown.append(bytes(buf[:2]))
            return 2
        self.unknown.append(bytes(buf[:1]))
        return 1

    def _esc(self, op: int, n: int) -> None:
        if op == 0x74:
            self.codepages.append(n)
        elif op == 0x45:
            self.bold = bool(n & 1)
        elif op == 0x21:
            self.bold = bool(n & 0x08)
            self.height_mult = 2 if n & 0x10 else 1
            self.width_mult = 2 if n & 0x20 else 1
        elif op == 0x61:
            self.align = n % 48 if n >= 48 else n
        elif op == 0x64:
            self._print_line(only_if_pending=True)
            self._advance(n * LINE_HEIGHT)
        elif op == 0x4A:
            self._print_line(only_if_pending=True)
            self._advance(n)
        # ESC - (underline) is accepted and not drawn.

    def _raster(self, buf: bytearray) -> int:
        if len(buf) < 8:
            return 0
        if buf[2] not in (0, 0x30):
            self.unknown.append(bytes(buf[:3]))
            return 3
        width_bytes = buf[4] | buf[5] << 8
        height = buf[6] | buf[7] << 8
        if not (0 < width_bytes <= MAX_RASTER_WIDTH_BYTES and 0 < height <= MAX_RASTER_HEIGHT):
            # A header this big is garbage: skipping its "data" would eat what follows.
            self.unknown.append(bytes(buf[:8]))
            return 8
        total = 8 + width_bytes * height
        if len(buf) < total:
            return 0
        self._print_line(only_if_pending=True)
        data = bytes(b ^ 0xFF for b in buf[8:total])  # ESC/POS 1 = black, PIL "1" 1 = white
        img = Image.frombytes("1", (width_bytes * 8, height), data)
        if buf[3] & 1:
            img = img.resize((img.width * 2, img.height), Image.NEAREST)
        if buf[3] & 2:
            img = img.resize((img.width, img.height * 2), Image.NEAREST)
        x = self._place(img, raster=True)
        if x is not None:
            self.rasters.append((x, self._y - img.height, img.width, img.height))
        return total

    # --- the paper --------------------------------------------------------------

    def _reset_modes(self) -> None:
        self.bold = False
        self.width_mult = 1
        self.height_mult = 1
        self.align = 0

    def _advance(self, dots: int) -> None:
        if self.online:
            self._y += dots

    def _print_line(self, only_if_pending: bool = False) -> None:
        if only_if_pending and not self._line:
            return
        raw = bytes(self._line)
        self._line.clear()
        text = raw.decode("cp866")
        if not self.online:
            self.dropped += len(raw) + 1
            return
        self.text_lines.append(text)
        if not text:
            self._y += LINE_HEIGHT * self.height_mult
            return
        for part in self._wrap(text):
            self._place(self.render_text(part, self.bold, self.width_mult, self.height_mult))

    def _wrap(self, text: str) -> list[str]:
        """``text`` cut into pieces that fit the paper, as a printer wraps a long line."""
        font = self._fonts[self.bold]
        room = self.paper_dots / self.width_mult
        parts: list[str] = []
        start = 0
        for end in range(1, len(text) + 1):
            if end - start > 1 and font.getlength(text[start:end]) > room:
                parts.append(text[start : end - 1])
                start = end - 1
        parts.append(text[start:])
        return parts

    def render_text(
        self, text: str, bold: bool = False, width_mult: int = 1, height_mult: int = 1
    ) -> Image.Image:
        """One line of text as the printer draws it (mode "1", 0 black)."""
        font = self._fonts[bold]
        width = max(1, math.ceil(font.getlength(text)))
        img = Image.new("L", (width, LINE_HEIGHT), 255)
        ImageDraw.Draw(img).text((0, TEXT_TOP), text, font=font, fill=0)
        if width_mult != 1 or height_mult != 1:
            img = img.resize((width * width_mult, LINE_HEIGHT * height_mult), Image.NEAREST)
        return img.point(lambda v: 0 if v < 128 else 255, mode="1")

    def _place(self, img: Image.Image, raster: bool = False) -> int | None:
        if not self.online:
            self.dropped += 1
            return None
        if img.width > self.paper_dots:
            img = img.crop((0, 0, self.paper_dots, img.height))
        x = 0
        if self.align == 1:
            x = (self.paper_dots - img.width) // 2
        elif self.align == 2:
            x = self.paper_dots - img.width
        self._strips.append((self._y, _at(img, x, self.paper_dots)))
        self._y += img.height
        self.printed += 1
        for due, fault in [item for item in self._scheduled if item[0] <= self.printed]:
            self._scheduled.remove((due, fault))
            setattr(self, fault, True)
        return x

    def paper(self) -> Image.Image:
        """Everything printed so far: a mode "1" image ``paper_dots`` wide (0 black)."""
        with self._cond:
            strips = list(self._strips)
            height = max(1, self._y)
        page = Image.new("1", (self.paper_dots, height), 1)
        for y, strip in strips:
            page.paste(strip, (0, y))
        return page

    def save(self, path: str | Path) -> Path:
        """Write the paper as a PNG; return its path."""
        path = Path(path)
        self.paper().save(path)
        return path


def _at(img: Image.Image, x: int, paper_dots: int) -> Image.Image:
    """``img`` on a white strip the paper's width, ``x`` dots from the left."""
    strip = Image.new("1", (paper_dots, img.height), 1)
    strip.paste(img, (x, 0))
    return strip
