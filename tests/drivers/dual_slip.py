# Checks of the check-in slip layout, run under CPython and MicroPython (see tests/dual.py).
from drivers import escpos, slip
from tests.dual import run


def _texts(lines):
    return [line[0] for line in lines]


def check_layout_holds_station_row_name_style_and_signature():
    lines = slip.slip_lines("s-0042", 17, "Өмүрбеков Чыңгыз", "kg-1")
    texts = _texts(lines)
    assert texts[0] == slip.TITLE and lines[0][4] == escpos.CENTER and lines[0][3] == 2
    assert slip.STATION + "s-0042" in texts
    assert slip.ROW + "17" in texts
    assert "Өмүрбеков Чыңгыз" in texts
    assert texts[-1] == slip.SIGNATURE
    # Only what the list needs: nothing else is on the slip.
    assert slip.STYLE + "kg-1" in texts
    assert len([t for t in texts if t]) == 6


def check_fields_from_the_wire_are_made_safe():
    texts = _texts(slip.slip_lines(None, True, "A\x1bE\x01B\nC", 12))
    assert slip.STATION + "-" in texts and slip.ROW + "-" in texts
    assert "A E B C" in texts and slip.STYLE + "12" in texts
    long_name = "Ж" * 200
    parts = [t for t in _texts(slip.slip_lines("s", 1, long_name, "x")) if t.startswith("Ж")]
    assert "".join(parts) == "Ж" * slip.MAX_FIELD
    assert all(len(p) <= slip.LINE_CHARS for p in parts)


def check_wrap_by_characters_and_by_width():
    by_chars = slip.wrap("aaaa bbbb cccc", lambda t: len(t) <= 9)
    assert by_chars == ["aaaa bbbb", "cccc"]
    assert slip.wrap("abcdefghij", lambda t: len(t) <= 4) == ["abcd", "efgh", "ij"]
    assert slip.wrap("", lambda t: True) == [""]
    # Widths in dots: "Ш" is wide, "i" narrow.
    widths = {"Ш": 20, "i": 5, " ": 6}

    def width(text):
        return sum(widths[ch] for ch in text)

    assert slip.wrap("ШШШ iiii ШШ", lambda t: width(t) <= 70) == ["ШШШ", "iiii ШШ"]
    lines = slip.slip_lines("s", 1, "Ш" * 30, "x", lambda t: len(t) * 16)
    names = [t for t in _texts(lines) if t and t == "Ш" * len(t)]
    assert all(len(n) * 16 <= slip.BOLD_ROOM for n in names) and "".join(names) == "Ш" * 30


class _Link:
    def __init__(self):
        self.sent = bytearray()

    def write(self, data):
        self.sent += data


def check_printing_steps_send_lines_then_feed_and_cut():
    link = _Link()
    glyphs = {ch: (8, b"\xff" * 2) for ch in "Өмүрбеков ?"}
    printer = escpos.Printer(link.write, None, escpos.glyph_rasteriser(glyphs, 2))
    steps = 0
    for _ in slip.print_steps(printer, slip.slip_lines("s-1", 3, "Өмүр", "x")):
        steps += 1
    sent = bytes(link.sent)
    assert sent.startswith(escpos.init() + escpos.codepage())
    assert sent.endswith(escpos.feed(slip.FEED_LINES) + escpos.cut())
    assert escpos.encode_cp866(slip.ROW + "3") + b"\n" in sent
    assert escpos.raster_header(5, 2) in sent  # the name, 4 letters of 8 dots + bold
    assert steps == len(slip.slip_lines("s-1", 3, "Өмүр", "x")) + 2


run(globals())
