"""Bitmap glyphs on the flash, read one at a time: the terminal's font for raster lines.

A check-in slip line that holds ң, ө or ү cannot go to the printer as code-page text,
so the terminal draws it (``drivers.escpos.glyph_rasteriser``) from the glyphs in
``glyphs.bin``. The file stays on the flash; only its index (7 bytes a glyph) and the
glyphs of the line being drawn are in RAM.

File layout (big-endian)::

    "SGL1" | height (1) | count (2)
    count x (code point (2) | width in dots (1) | offset of the bitmap (4))
        sorted by code point
    bitmaps: ``height`` rows of ``(width + 7) // 8`` bytes, MSB first, 1 black

``firmware/glyphs_make.py`` writes it on the host from DejaVu Sans. A file that is
not a glyph file, or is cut short, raises ``ValueError``; a missing one ``OSError``.
"""

import struct

MAGIC = b"SGL1"
HEADER = 7
ENTRY = 7
MAX_GLYPHS = 1024
MAX_WIDTH = 64


class GlyphFile:
    """``get(ch)`` -> ``(width, bitmap)`` or None, as ``glyph_rasteriser`` wants it."""

    def __init__(self, path):
        self.file = open(path, "rb")
        head = self.file.read(HEADER)
        count = struct.unpack(">H", head[5:7])[0] if len(head) == HEADER else 0
        self.height = head[4] if count else 0
        self.index = self.file.read(count * ENTRY) if head[:4] == MAGIC else b""
        if not 0 < self.height <= 64 or not 0 < count <= MAX_GLYPHS or len(
                self.index) != count * ENTRY:
            self.file.close()
            raise ValueError("%s is not a glyph file or is cut short" % path)
        self.count = count

    def _find(self, ch):
        code = ord(ch)
        index = self.index
        low, high = 0, self.count - 1
        while low <= high:
            mid = (low + high) // 2
            at = mid * ENTRY
            found = (index[at] << 8) | index[at + 1]
            if found < code:
                low = mid + 1
            elif found > code:
                high = mid - 1
            else:
                return at
        return -1

    def get(self, ch, default=None):
        """The glyph of ``ch`` as ``(width, bitmap)``, or ``default`` when the file has none."""
        at = self._find(ch)
        if at < 0:
            return default
        width = self.index[at + 2]
        size = (width + 7) // 8 * self.height
        self.file.seek(struct.unpack(">I", self.index[at + 3 : at + 7])[0])
        data = self.file.read(size)
        if not 0 < width <= MAX_WIDTH or len(data) != size:
            raise ValueError("glyph U+%04X is damaged" % ord(ch))
        return width, data

    def width_of(self, text):
        """Width in dots of ``text`` drawn with these glyphs ("?" for a missing one)."""
        total = 0
        fallback = self._find("?")
        for ch in text:
            at = self._find(ch)
            at = fallback if at < 0 else at
            total += self.index[at + 2] if at >= 0 else 0
        return total

    def close(self):
        """Close the file."""
        self.file.close()
