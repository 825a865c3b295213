"""Write ``firmware/glyphs.bin``, the terminal's bitmap font (runs on the host).

The glyphs are DejaVu Sans at the size the printer draws text (``drivers.escpos_host``),
one per character a check-in slip can hold: printable ASCII, Russian Cyrillic, the
Kyrgyz letters ң ө ү and a little punctuation. The file is committed with the firmware,
so the firmware hash does not depend on the font renderer of the machine that builds
it; ``tests/firmware/test_slip.py`` checks it against a fresh rendering.

Usage: ``python -m firmware.glyphs_make [OUT]``.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from firmware.glyphs import ENTRY, HEADER, MAGIC

OUT = Path(__file__).resolve().parent / "glyphs.bin"
CHARS = (
    "".join(chr(c) for c in range(0x20, 0x7F))
    + "".join(chr(c) for c in range(0x0410, 0x0450))
    + "ЁёҢңӨөҮү№«»—–"
)


def glyph_bytes(table: dict[str, tuple[int, bytes]], height: int) -> bytes:
    """The glyph file of ``table`` (char -> (width, bitmap)), as ``firmware.glyphs`` reads it."""
    chars = sorted(table, key=ord)
    index = bytearray()
    data = bytearray()
    offset = HEADER + ENTRY * len(chars)
    for ch in chars:
        width, bitmap = table[ch]
        if len(bitmap) != (width + 7) // 8 * height:
            raise ValueError(f"glyph {ch!r}: {len(bitmap)} bytes for width {width}")
        index += struct.pack(">HBI", ord(ch), width, offset + len(data))
        data += bitmap
    return MAGIC + struct.pack(">BH", height, len(chars)) + bytes(index) + bytes(data)


def make(chars: str = CHARS) -> bytes:
    """The glyph file for ``chars`` drawn with the printer's font."""
    from drivers import escpos_host

    return glyph_bytes(escpos_host.glyph_table(chars), escpos_host.LINE_HEIGHT)


def main(argv: list[str] | None = None) -> int:
    """Write the glyph file (default ``firmware/glyphs.bin``)."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else OUT
    data = make()
    out.write_bytes(data)
    print(f"wrote {out}: {len(CHARS)} glyphs, {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
