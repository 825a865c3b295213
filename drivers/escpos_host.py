"""Host side of the ESC/POS printer (CPython only): Pillow rasteriser and links.

``rasterise`` draws a line of text the printer's code page cannot hold (Kyrgyz ң ө ү)
with DejaVu Sans into a 1-bit bitmap for ``drivers.escpos.Printer``; ``rasteriser``
makes one for a wider paper (80 mm, 576 dots). ``open_serial`` opens a printer on a
serial port (pyserial) with a read timeout; ``from_python_escpos`` puts the writer
over any python-escpos printer (USB through pyusb, serial, network), with every
failure of the link turned into a ``PrinterError``: a read that times out or fails is
``E_TIMEOUT``, a write that fails or stalls is ``E_LINK``.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from drivers import escpos

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
FONT_SIZE = 22
LINE_HEIGHT = 28
TEXT_TOP = 2
PAPER_80MM = 576  # dots at 203 dpi; 58 mm paper is escpos.PAPER_DOTS (384)

E_LINK = "link"  # a PrinterError code: the bytes could not be sent


@lru_cache(maxsize=4)
def _font(bold: bool) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_BOLD if bold else FONT, FONT_SIZE)


def measure(text: str, bold: bool = False) -> float:
    """Width in dots of ``text`` drawn with the rasteriser's font (at size 1)."""
    return _font(bold).getlength(text)


def render_line(
    text: str,
    bold: bool = False,
    width_mult: int = 1,
    height_mult: int = 1,
    paper_dots: int = escpos.PAPER_DOTS,
) -> Image.Image:
    """``text`` as a 1-bit image (mode "1", 0 black), at most ``paper_dots`` wide."""
    font = _font(bold)
    width = max(8, math.ceil(font.getlength(text)))
    width = (width + 7) // 8 * 8
    img = Image.new("L", (width, LINE_HEIGHT), 255)
    ImageDraw.Draw(img).text((0, TEXT_TOP), text, font=font, fill=0)
    if width_mult != 1 or height_mult != 1:
        img = img.resize((width * width_mult, LINE_HEIGHT * height_mult), Image.NEAREST)
    if img.width > paper_dots:
        img = img.crop((0, 0, paper_dots, img.height))
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


def rasteriser(
    paper_dots: int = escpos.PAPER_DOTS,
) -> Callable[[str, bool, int, int], tuple[int, int, bytes]]:
    """A ``Printer`` rasteriser callback for paper ``paper_dots`` wide."""

    def rasterise_for_paper(
        text: str, bold: bool = False, width_mult: int = 1, height_mult: int = 1
    ) -> tuple[int, int, bytes]:
        return to_raster(render_line(text, bold, width_mult, height_mult, paper_dots))

    return rasterise_for_paper


def open_serial(port: str, baudrate: int = 9600, timeout: float = 1.0) -> escpos.Printer:
    """A ``Printer`` on serial ``port`` with the Pillow rasteriser."""
    import serial

    link = serial.Serial(port, baudrate=baudrate, timeout=timeout, write_timeout=timeout)
    printer = escpos.Printer(link.write, link.read, rasterise)
    printer.link = link  # type: ignore[attr-defined]
    return printer


def _serial_port(device: object) -> Any:
    """The pyserial port under a python-escpos ``Serial`` printer, or None."""
    import serial

    inner = getattr(device, "_device", None)
    return inner if isinstance(inner, serial.Serial) else None


def _socket(device: object) -> socket.socket | None:
    inner = getattr(device, "_device", None)
    return inner if isinstance(inner, socket.socket) else None


def discard_input(device: object) -> None:
    """Drop bytes the printer sent unasked, so the next status byte is the answer."""
    port = _serial_port(device)
    if port is not None:
        port.reset_input_buffer()
        return
    sock = _socket(device)
    if sock is not None:
        timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            for _ in range(64):  # a babbling printer must not keep us here
                if not sock.recv(4096):
                    break
        except OSError:
            pass
        finally:
            sock.settimeout(timeout)


def drain_output(device: object, timeout: float) -> None:
    """Wait until a serial port has sent everything written to it.

    A status request queued behind kilobytes of raster at 9600 baud is answered only
    seconds later; without this wait a read timeout would call a working printer
    silent. Waits at most ``timeout`` beyond what the bytes need at the port's rate;
    ``PrinterError(E_TIMEOUT)`` when the port is still full then.
    """
    port = _serial_port(device)
    if port is None:
        return
    try:
        pending = port.out_waiting
        deadline = time.monotonic() + timeout + 20.0 * pending / max(1, port.baudrate or 1)
        while port.out_waiting:
            if time.monotonic() > deadline:
                raise escpos.PrinterError(
                    escpos.E_TIMEOUT,
                    "printer stopped taking data (%d bytes still waiting)" % port.out_waiting,
                )
            time.sleep(0.01)
    except OSError:
        return  # the port cannot say; the status read's own timeout still bounds the wait


def from_python_escpos(
    device: object, paper_dots: int = escpos.PAPER_DOTS, write_timeout: float = 5.0
) -> escpos.Printer:
    """A ``Printer`` over a python-escpos printer (``Usb``, ``Serial``, ``Network``, ``Dummy``).

    Commands go out through the device's raw write; status answers come back through
    its read. A read that times out, fails or is not possible returns b"", which the
    writer reports as ``E_TIMEOUT``. A write that fails, or on a serial port does not
    finish within ``write_timeout`` plus the time the bytes take at the port's baud
    rate, raises ``PrinterError(E_LINK)``.
    """

    def read(n: int) -> bytes:
        port = _serial_port(device)
        try:
            if port is not None:
                # python-escpos reads 16 bytes, which waits out the whole timeout for
                # a one-byte status answer.
                return bytes(port.read(n))
            data = device._read()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - NotImplementedError (no reading), USBTimeoutError,
            return b""  # socket.timeout, SerialException: for the writer all mean "no answer"
        return bytes(data or b"")[:n]

    def write(data: bytes) -> None:
        port = _serial_port(device)
        try:
            if port is not None:
                # Ten bits a byte at the port's rate, twice over, plus the settings' margin.
                allowed = write_timeout + 20.0 * len(data) / max(1, port.baudrate or 1)
                if port.write_timeout is None or port.write_timeout < allowed:
                    port.write_timeout = allowed  # pyserial reconfigures the port on every set
            device._raw(data)  # type: ignore[attr-defined]
        except Exception as err:  # noqa: BLE001 - every transport has its own errors
            raise escpos.PrinterError(
                E_LINK, f"could not send {len(data)} bytes to the printer: {err}"
            ) from None

    return escpos.Printer(write, read, rasteriser(paper_dots))


def open_usb(
    vendor_id: int, product_id: int, paper_dots: int = escpos.PAPER_DOTS, **kwargs: object
) -> escpos.Printer:
    """A ``Printer`` on a USB printer through python-escpos (pyusb)."""
    from escpos.printer import Usb

    return from_python_escpos(Usb(vendor_id, product_id, **kwargs), paper_dots)


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
