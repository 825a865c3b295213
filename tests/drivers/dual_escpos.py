# Checks of the ESC/POS writer, run under CPython and MicroPython (see tests/dual.py).
from drivers import escpos
from tests.dual import run


def check_commands_are_byte_exact():
    assert escpos.init() == b"\x1b@"
    assert escpos.codepage() == b"\x1bt\x11"
    assert escpos.bold(True) == b"\x1bE\x01"
    assert escpos.bold(False) == b"\x1bE\x00"
    assert escpos.size(2, 2) == b"\x1d!\x11"
    assert escpos.size(1, 2) == b"\x1d!\x01"
    assert escpos.align(escpos.CENTER) == b"\x1ba\x01"
    assert escpos.feed(3) == b"\x1bd\x03"
    assert escpos.cut() == b"\x1dV\x00"
    assert escpos.cut(True) == b"\x1dV\x01"
    assert escpos.status_request(4) == b"\x10\x04\x04"


def check_raster_header():
    data = bytes(range(6))
    assert escpos.raster(2, 3, data) == b"\x1dv0\x00\x02\x00\x03\x00" + data
    big = escpos.raster(300, 1, bytes(300))
    assert big[4:8] == b"\x2c\x01\x01\x00"
    try:
        escpos.raster(2, 3, bytes(5))
    except ValueError:
        pass
    else:
        raise AssertionError("short raster data accepted")


def check_cp866_russian():
    assert escpos.encode_cp866("АЯаопряЁё") == b"\x80\x9f\xa0\xae\xaf\xe0\xef\xf0\xf1"
    assert escpos.encode_cp866("Участок №12") == b"\x93\xe7\xa0\xe1\xe2\xae\xaa \xfc12"
    assert escpos.encodable("Шайлоочу")
    for ch in "ңөүҢӨҮ":
        assert not escpos.encodable("a" + ch)
        try:
            escpos.encode_cp866(ch)
        except ValueError:
            pass
        else:
            raise AssertionError("encoded %r" % ch)


def check_status_parsing():
    assert escpos.parse_status(1, 0x12) == 0
    assert escpos.parse_status(1, 0x1A) == escpos.OFFLINE
    assert escpos.parse_status(2, 0x16) == escpos.COVER_OPEN
    assert escpos.parse_status(2, 0x32) == escpos.PAPER_OUT
    assert escpos.parse_status(4, 0x1E) == escpos.PAPER_NEAR_END
    assert escpos.parse_status(4, 0x7E) == escpos.PAPER_OUT | escpos.PAPER_NEAR_END
    assert escpos.describe(0) == "ready"
    assert escpos.describe(escpos.COVER_OPEN | escpos.PAPER_OUT) == "cover open, paper out"
    for bad in (0x00, 0xFF, 0x13, 0x92):
        try:
            escpos.parse_status(1, bad)
        except escpos.PrinterError as err:
            assert err.code == escpos.E_BAD_STATUS
        else:
            raise AssertionError("accepted 0x%02X" % bad)


class Link:
    def __init__(self, answers=b""):
        self.sent = bytearray()
        self.answers = bytearray(answers)

    def write(self, data):
        self.sent += data

    def read(self, n):
        got = bytes(self.answers[:n])
        self.answers = self.answers[n:]
        return got


def check_printer_text_and_raster_fallback():
    link = Link()
    calls = []

    def rasterise(text, bold, w, h):
        calls.append((text, bold, w, h))
        return 1, 2, b"\xf0\x0f"

    p = escpos.Printer(link.write, link.read, rasterise)
    p.reset()
    p.set_bold(True)
    p.line("Шайлоо")
    p.line("Өмүр")
    p.cut()
    want = b"\x1b@\x1bt\x11\x1bE\x01" + b"\x98\xa0\xa9\xab\xae\xae\n"
    want += b"\x1dv0\x00\x01\x00\x02\x00\xf0\x0f" + b"\x1dV\x00"
    assert bytes(link.sent) == want
    assert calls == [("Өмүр", True, 1, 1)]
    try:
        escpos.Printer(link.write).line("ң")
    except escpos.PrinterError as err:
        assert err.code == escpos.E_UNPRINTABLE
    else:
        raise AssertionError("unprintable text accepted")


def check_printer_status_and_faults():
    link = Link(b"\x12\x12\x12")
    p = escpos.Printer(link.write, link.read)
    assert p.check() == 0
    assert bytes(link.sent) == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"
    link = Link(b"\x1a\x16\x12")
    p = escpos.Printer(link.write, link.read)
    try:
        p.check()
    except escpos.PrinterError as err:
        assert err.code == escpos.E_COVER_OPEN
        assert "cover" in str(err)
    link = Link(b"\x1a\x32\x72")
    p = escpos.Printer(link.write, link.read)
    try:
        p.check()
    except escpos.PrinterError as err:
        assert err.code == escpos.E_PAPER_OUT
    link = Link(b"\x12\x12\x1e")
    assert escpos.Printer(link.write, link.read).check() == escpos.PAPER_NEAR_END
    link = Link(b"")
    try:
        escpos.Printer(link.write, link.read).status()
    except escpos.PrinterError as err:
        assert err.code == escpos.E_TIMEOUT
    else:
        raise AssertionError("silence accepted")


def check_glyph_rasteriser():
    # Two 3x2 glyphs: "a" a top bar, "b" a left column; "?" a dot.
    glyphs = {"a": (3, b"\xe0\x00"), "b": (3, b"\x80\x80"), "?": (1, b"\x80\x00")}
    r = escpos.glyph_rasteriser(glyphs, 2)
    assert r("ab") == (1, 2, b"\xf0\x10")
    assert r("a", False, 2, 2) == (1, 4, b"\xfc\xfc\x00\x00")
    assert r("b", True) == (1, 2, b"\xc0\xc0")
    assert r("ң") == (1, 2, b"\x80\x00")
    # Drawn into a caller's buffer, reused: no leftovers from the line before.
    buf = bytearray(b"\xff" * 8)
    rb = escpos.glyph_rasteriser(glyphs, 2, buf)
    wb, rows, out = rb("ab")
    assert (wb, rows, bytes(out)) == (1, 2, b"\xf0\x10")
    assert bytes(rb("b")[2]) == b"\x80\x80" and bytes(buf[:2]) == b"\x80\x80"
    # Too small a buffer: a new one, same image.
    assert bytes(escpos.glyph_rasteriser(glyphs, 2, bytearray(1))("ab")[2]) == b"\xf0\x10"
    try:
        escpos.glyph_rasteriser({}, 2)("x")
    except escpos.PrinterError as err:
        assert err.code == escpos.E_UNPRINTABLE
    else:
        raise AssertionError("missing glyph accepted")


run(globals())
