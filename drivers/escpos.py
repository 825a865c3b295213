"""A small ESC/POS writer for thermal receipt printers (58 mm, 384 dots).

Runs under MicroPython (the device, over a UART) and CPython (the host, over
pyserial). The command builders return bytes; ``Printer`` sends them through a
``write(bytes)`` callable and reads status answers with a ``read(n)`` callable that
honours its own timeout (``machine.UART(timeout=...)``, ``serial.Serial(timeout=...)``)
and returns b"" or None when nothing came.

Text goes out in code page CP866 (``ESC t 17``), which covers Russian Cyrillic.
Kyrgyz ң ө ү (and capitals) are in no common code page: a line containing them is
drawn by a caller-provided rasteriser and sent as a ``GS v 0`` raster image. A
rasteriser is ``rasterise(text, bold, width_mult, height_mult)`` returning
``(width_bytes, height, data)`` with one bit per dot, rows packed MSB first, 1 black.

Status: ``DLE EOT n`` (n = 1 printer, 2 offline cause, 3 error, 4 paper roll) is
answered by one byte; ``parse_status`` turns it into flags, ``Printer.check()``
raises ``PrinterError`` with a clear code for paper out and cover open.
"""

ESC = 0x1B
GS = 0x1D
DLE = 0x10
EOT = 0x04
LF = 0x0A

CP866 = 17  # ESC t 17: PC866 Cyrillic #2 (Epson numbering)
PAPER_DOTS = 384  # 58 mm paper at 203 dpi
MAX_RASTER_BYTES = PAPER_DOTS // 8

LEFT = 0
CENTER = 1
RIGHT = 2

# Status flags returned by parse_status / Printer.status().
OFFLINE = 1
COVER_OPEN = 2
PAPER_OUT = 4
PAPER_NEAR_END = 8
ERROR = 16
FEED_BUTTON = 32

# PrinterError codes.
E_PAPER_OUT = "paper-out"
E_COVER_OPEN = "cover-open"
E_TIMEOUT = "timeout"
E_BAD_STATUS = "bad-status"
E_UNPRINTABLE = "unprintable"
E_ERROR = "printer-error"
MESSAGES = {
    E_PAPER_OUT: "printer is out of paper",
    E_COVER_OPEN: "printer cover is open",
    E_TIMEOUT: "printer did not answer",
    E_BAD_STATUS: "printer sent a malformed status byte",
    E_UNPRINTABLE: "text has characters no code page holds and no rasteriser was given",
    E_ERROR: "printer reports an error",
}


class PrinterError(Exception):
    """A printer fault or a failed conversation; ``code`` is one of the ``E_*`` names."""

    def __init__(self, code, message=None):
        super().__init__(message or MESSAGES.get(code, code))
        self.code = code


# --- CP866 ------------------------------------------------------------------------

_CP866_EXTRA = {
    0x0401: 0xF0,  # Ё
    0x0451: 0xF1,  # ё
    0x0404: 0xF2,  # Є
    0x0454: 0xF3,  # є
    0x0407: 0xF4,  # Ї
    0x0457: 0xF5,  # ї
    0x040E: 0xF6,  # Ў
    0x045E: 0xF7,  # ў
    0x00B0: 0xF8,  # °
    0x00B7: 0xFA,  # ·
    0x2116: 0xFC,  # №
    0x00A4: 0xFD,  # ¤
    0x00A0: 0xFF,  # no-break space
}


def cp866_byte(ch):
    """The CP866 byte for one character, or None when CP866 has no such character."""
    c = ord(ch)
    if c < 0x80:
        return c
    if 0x0410 <= c <= 0x043F:  # А..Я, а..п
        return c - 0x0410 + 0x80
    if 0x0440 <= c <= 0x044F:  # р..я
        return c - 0x0440 + 0xE0
    return _CP866_EXTRA.get(c)


def encodable(text):
    """True when every character of ``text`` has a CP866 byte."""
    for ch in text:
        if cp866_byte(ch) is None:
            return False
    return True


def encode_cp866(text):
    """``text`` as CP866 bytes; ValueError naming the first character CP866 lacks."""
    out = bytearray()
    for ch in text:
        b = cp866_byte(ch)
        if b is None:
            raise ValueError("no CP866 byte for U+%04X" % ord(ch))
        out.append(b)
    return bytes(out)


# --- command builders -------------------------------------------------------------


def init():
    """ESC @: reset the printer's modes."""
    return bytes((ESC, 0x40))


def codepage(n=CP866):
    """ESC t n: select character code table ``n``."""
    return bytes((ESC, 0x74, n))


def bold(on=True):
    """ESC E n: emphasised on/off."""
    return bytes((ESC, 0x45, 1 if on else 0))


def size(width=1, height=1):
    """GS ! n: character width and height multipliers, 1..8 each."""
    if not (1 <= width <= 8 and 1 <= height <= 8):
        raise ValueError("size multipliers are 1..8")
    return bytes((GS, 0x21, ((width - 1) << 4) | (height - 1)))


def align(where=LEFT):
    """ESC a n: LEFT, CENTER or RIGHT."""
    if where not in (LEFT, CENTER, RIGHT):
        raise ValueError("alignment is LEFT, CENTER or RIGHT")
    return bytes((ESC, 0x61, where))


def feed(lines=1):
    """ESC d n: print the buffer and feed ``lines`` lines."""
    return bytes((ESC, 0x64, max(0, min(255, lines))))


def cut(partial=False):
    """GS V m: full (0) or partial (1) cut."""
    return bytes((GS, 0x56, 1 if partial else 0))


def raster_header(width_bytes, height, mode=0):
    """GS v 0 m xL xH yL yH: the 8 bytes before ``width_bytes * height`` bytes of image."""
    if not (0 < width_bytes <= 0xFFFF and 0 < height <= 0xFFFF):
        raise ValueError("raster size out of range")
    return bytes(
        (GS, 0x76, 0x30, mode, width_bytes & 0xFF, width_bytes >> 8, height & 0xFF, height >> 8)
    )


def raster(width_bytes, height, data, mode=0):
    """GS v 0 m xL xH yL yH d...: a 1-bit image, ``width_bytes`` bytes per row."""
    if len(data) != width_bytes * height:
        raise ValueError("raster data is %d bytes, expected %d" % (len(data), width_bytes * height))
    return raster_header(width_bytes, height, mode) + bytes(data)


def status_request(n):
    """DLE EOT n: ask for status byte ``n`` (1 printer, 2 offline, 3 error, 4 paper)."""
    if n not in (1, 2, 3, 4):
        raise ValueError("DLE EOT n is 1..4")
    return bytes((DLE, EOT, n))


def parse_status(n, byte):
    """Flags (``OFFLINE``, ``COVER_OPEN``, ...) from the answer to ``DLE EOT n``.

    Every status byte has bits 1 and 4 set and bits 0 and 7 clear; anything else
    is not a status byte and raises ``PrinterError(E_BAD_STATUS)``.
    """
    if byte & 0x93 != 0x12:
        raise PrinterError(E_BAD_STATUS, "malformed status byte 0x%02X for DLE EOT %d" % (byte, n))
    flags = 0
    if n == 1:
        if byte & 0x08:
            flags |= OFFLINE
    elif n == 2:
        if byte & 0x04:
            flags |= COVER_OPEN
        if byte & 0x08:
            flags |= FEED_BUTTON
        if byte & 0x20:
            flags |= PAPER_OUT
        if byte & 0x40:
            flags |= ERROR
    elif n == 3:
        if byte & 0x6C:
            flags |= ERROR
    elif n == 4:
        if byte & 0x0C:
            flags |= PAPER_NEAR_END
        if byte & 0x60:
            flags |= PAPER_OUT
    return flags


def describe(flags):
    """Words for a set of status flags, e.g. ``"offline, cover open"``; ``"ready"`` if none."""
    names = (
        (OFFLINE, "offline"),
        (COVER_OPEN, "cover open"),
        (PAPER_OUT, "paper out"),
        (PAPER_NEAR_END, "paper near end"),
        (ERROR, "error"),
        (FEED_BUTTON, "feed button pressed"),
    )
    words = [w for f, w in names if flags & f]
    return ", ".join(words) if words else "ready"


# --- the writer -------------------------------------------------------------------


class Printer:
    """ESC/POS over a byte link: ``write(bytes)``, optional ``read(n)`` and rasteriser."""

    def __init__(self, write, read=None, rasterise=None):
        self._write = write
        self._read = read
        self.rasterise = rasterise
        self._bold = False
        self._w = 1
        self._h = 1

    def send(self, data):
        """Send raw bytes."""
        self._write(data)

    def reset(self):
        """ESC @ then CP866: the state every slip starts from."""
        self._bold = False
        self._w = self._h = 1
        self.send(init() + codepage(CP866))

    def set_bold(self, on=True):
        self._bold = bool(on)
        self.send(bold(on))

    def set_size(self, width=1, height=1):
        data = size(width, height)
        self._w, self._h = width, height
        self.send(data)

    def set_align(self, where):
        self.send(align(where))

    def line(self, text=""):
        """Print one line: CP866 text, or a raster image when CP866 cannot hold it."""
        if encodable(text):
            self.send(encode_cp866(text) + b"\n")
            return
        if self.rasterise is None:
            raise PrinterError(E_UNPRINTABLE)
        width_bytes, height, data = self.rasterise(text, self._bold, self._w, self._h)
        if len(data) != width_bytes * height:
            raise ValueError("rasteriser gave %d bytes, not %d" % (len(data), width_bytes * height))
        # Header and image as two writes: a device has no room for a joined copy.
        self.send(raster_header(width_bytes, height))
        self.send(data)

    def feed(self, lines=1):
        self.send(feed(lines))

    def cut(self, partial=False):
        self.send(cut(partial))

    def image(self, width_bytes, height, data):
        """Print a 1-bit bitmap (rows MSB first, 1 black)."""
        self.send(raster(width_bytes, height, data))

    def query(self, n):
        """Send ``DLE EOT n`` and return the raw status byte."""
        if self._read is None:
            raise PrinterError(E_TIMEOUT, "no read function: the link is write-only")
        self.send(status_request(n))
        got = self._read(1)
        if not got:
            raise PrinterError(E_TIMEOUT, "printer did not answer DLE EOT %d" % n)
        return got[0]

    def status(self):
        """Flags from DLE EOT 1, 2 and 4 together."""
        flags = 0
        for n in (1, 2, 4):
            flags |= parse_status(n, self.query(n))
        return flags

    def check(self):
        """Raise ``PrinterError`` for paper out, cover open or an error; else return flags.

        ``PAPER_NEAR_END`` is returned, not raised: the slip still prints.
        """
        flags = self.status()
        if flags & COVER_OPEN:
            raise PrinterError(E_COVER_OPEN)
        if flags & PAPER_OUT:
            raise PrinterError(E_PAPER_OUT)
        if flags & ERROR:
            raise PrinterError(E_ERROR)
        return flags


# --- a rasteriser for the device: bitmap glyphs, no font engine -------------------


def glyph_rasteriser(glyphs, height, buf=None):
    """A rasteriser callback drawing text from a bitmap font, for devices without Pillow.

    ``glyphs`` maps a character to ``(width, data)``: ``height`` rows of
    ``(width + 7) // 8`` bytes each, MSB first, 1 black (``escpos_host.glyph_table``
    makes one from DejaVu Sans; a device reads them from its flash). A character
    without a glyph is drawn as ``?``, or raises ``PrinterError(E_UNPRINTABLE)`` when
    the font has no ``?`` either. Bold is drawn by widening every stroke one dot to
    the right.

    Made for a small heap: each glyph is looked up twice (once to measure, once to
    draw) rather than held, and the image is drawn into ``buf`` (a bytearray, reused
    line after line) when it is large enough, else into a new bytearray; either way
    it is returned without a copy.
    """

    def lookup(ch):
        glyph = glyphs.get(ch) or glyphs.get("?")
        if glyph is None:
            raise PrinterError(E_UNPRINTABLE, "no glyph for U+%04X" % ord(ch))
        return glyph

    def rasterise(text, bold=False, width_mult=1, height_mult=1):
        total = 0
        for ch in text:
            total += lookup(ch)[0] * width_mult
        total = max(8, min(PAPER_DOTS, total + (1 if bold else 0)))
        wb = (total + 7) // 8
        rows = height * height_mult
        size = wb * rows
        if buf is not None and len(buf) >= size:
            out = memoryview(buf)[:size]
            for i in range(size):
                out[i] = 0
        else:
            out = bytearray(size)
        x = 0
        for ch in text:
            width, data = lookup(ch)
            gb = (width + 7) // 8
            for row in range(height):
                base = row * gb
                for col in range(width):
                    if not data[base + (col >> 3)] & (0x80 >> (col & 7)):
                        continue
                    for dx in range(width_mult):
                        px = x + col * width_mult + dx
                        if px >= total:
                            break
                        bit = 0x80 >> (px & 7)
                        for dy in range(height_mult):
                            out[(row * height_mult + dy) * wb + (px >> 3)] |= bit
            x += width * width_mult
            if x >= total:
                break
        if bold:
            for row in range(rows):
                carry = 0
                for i in range(row * wb, row * wb + wb):
                    b = out[i]
                    out[i] = b | (b >> 1) | carry
                    carry = (b & 1) << 7
        return wb, rows, out

    return rasterise
