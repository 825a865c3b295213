"""Host side of the ESC/POS printer (CPython only): Pillow rasteriser and a serial link.

``rasterise`` draws a line of text the printer's code page cannot hold (Kyrgyz ң ө ү)
with DejaVu Sans into a 1-bit bitmap for ``drivers.escpos.Printer``. ``open_serial``
opens a printer on a serial port (pyserial) with a read timeout.
"""

from __future__ import annotations

import math
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from drivers import escpos

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
FONT_SIZE = 22
LINE_HEIGHT = 28
TEXT_TOP = 2


@lru_cache(maxsize=4)
def _font(bold: bool) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_BOLD if bold else FONT, FONT_SIZE)


def render_line(
    text: str, bold: bool = False, width_mult: int = 1, height_mult: int = 1
) -> Image.Image:
    """``text`` as a 1-bit image (mode "1", 0 black), at most ``escpos.PAPER_DOTS`` wide."""
    font = _font(bold)
    width = max(8, math.ceil(font.getlength(text)))
    width = (width + 7) // 8 * 8
    img = Image.new("L", (width, LINE_HEIGHT), 255)
    ImageDraw.Draw(img).text((0, TEXT_TOP), text, font=font, fill=0)
    if width_mult != 1 or height_mult != 1:
        img = img.resize((width * width_mult, LINE_HEIGHT * height_mult), Image.NEAREST)
    if img.width > escpos.PAPER_DOTS:
        img = img.crop((0, 0, escpos.PAPER_DOTS, img.height))
    return img.point(lambda v: 0 if v < 128 else 255, mode="1")


def to_raster(img: Image.Image) -> tuple[int, int, bytes]:
    """A mode "1" image as (width_bytes, height, data) with 1 bits for black dots."""
    width_bytes = (img.width + 7) // 8
    padded = Image.new("1", (width_bytes * 8, img.height), 1)
    padded.paste(img, (0, 0))
    # PIL packs mode "1" with 1 = white; ESC/POS wants 1 = black.
    data = bytes(b ^ 0xFF for b in padded.tobytes())
    return width_bytes, img.height, data


def rasterise(
    text: str, bold: bool = False, width_mult: int = 1, height_mult: int = 1
) -> tuple[int, int, bytes]:
    """The ``Printer`` rasteriser callback: ``text`` drawn with DejaVu Sans."""
    return to_raster(render_line(text, bold, width_mult, height_mult))


def open_serial(port: str, baudrate: int = 9600, timeout: float = 1.0) -> escpos.Printer:
    """A ``Printer`` on serial ``port`` with the Pillow rasteriser."""
    import serial

    link = serial.Serial(port, baudrate=baudrate, timeout=timeout, write_timeout=timeout)
    printer = escpos.Printer(link.write, link.read, rasterise)
    printer.link = link  # type: ignore[attr-defined]
    return printer


def from_python_escpos(device: object) -> escpos.Printer:
    """A ``Printer`` over a python-escpos printer (``Usb``, ``Serial``, ``Network``, ``Dummy``).

    Commands go out through the device's raw write; status answers come back through
    its read, which returns b"" (or raises) when the device cannot be read.
    """

    def read(n: int) -> bytes:
        try:
            data = device._read()  # type: ignore[attr-defined]
        except (NotImplementedError, AttributeError):
            return b""
        return bytes(data or b"")[:n]

    return escpos.Printer(device._raw, read, rasterise)  # type: ignore[attr-defined]


def open_usb(vendor_id: int, product_id: int, **kwargs: object) -> escpos.Printer:
    """A ``Printer`` on a USB printer through python-escpos (pyusb)."""
    from escpos.printer import Usb

    return from_python_escpos(Usb(vendor_id, product_id, **kwargs))


def glyph_table(chars: str, bold: bool = False) -> dict[str, tuple[int, bytes]]:
    """Bitmap glyphs of ``chars`` for ``escpos.glyph_rasteriser`` (height ``LINE_HEIGHT``).

    This is how the device gets its Kyrgyz letters: the table is made on the host
    and shipped with the firmware; the device draws with it, no font engine needed.
    """
    table = {}
    for ch in dict.fromkeys(chars):
        stride, height, data = to_raster(render_line(ch, bold))
        width = max(1, math.ceil(_font(bold).getlength(ch)))
        wb = (width + 7) // 8
        table[ch] = (width, b"".join(data[r * stride : r * stride + wb] for r in range(height)))
    return table
