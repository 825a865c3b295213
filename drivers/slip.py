"""The check-in slip: what a terminal prints when a ballot is issued (device and host).

The voter takes the slip to the list and signs beside their row. It carries the
station, the voter's row on the list, the name as the list prints it, the ballot
style, and a line for the signature: nothing that links the voter to a ballot (no
transaction id, no time, no sheet). Labels are Kyrgyz; a label or name with ң, ө or
ү goes to the printer as a raster line, the rest as CP866 text (``drivers.escpos``).

``slip_lines`` makes the layout as data (so a test can draw the same slip on the
host); ``print_steps`` sends it through an ``escpos.Printer`` one line at a time and
yields after each, so a device can drain its UART between lines instead of holding
the whole slip's bytes (a host just runs it to the end).
"""

from drivers import escpos

TITLE = "ШАЙЛООЧУНУН ТАЛОНУ"
STATION = "Шайлоо участкасы: "
ROW = "Тизмедеги катар: "
STYLE = "Бюллетендин түрү: "
SIGNATURE = "Колу: ________________"
# Without the font's widths: characters a 58 mm line holds at the printer's text size,
# with room to spare for wide letters.
LINE_CHARS = 26
# With them (``width_of``): dots a line may take, bold lines less (the printer's bold
# face is wider than the regular one the widths come from).
ROOM = escpos.PAPER_DOTS - 8
BOLD_ROOM = escpos.PAPER_DOTS * 7 // 8
FEED_LINES = 3
MAX_FIELD = 80


def wrap(text, fits):
    """``text`` split at spaces into lines for which ``fits(line)`` holds (long words cut)."""
    lines = []
    current = ""
    for word in text.split():
        while not fits(word) and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and not fits(word[:cut]):
                cut -= 1
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:cut])
            word = word[cut:]
        candidate = current + " " + word if current else word
        if current and not fits(candidate):
            lines.append(current)
            current = word
        else:
            current = candidate
    if current or not lines:
        lines.append(current)
    return lines


def _field(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        return "-"
    return "".join(ch if ch >= " " else " " for ch in value[:MAX_FIELD]).strip() or "-"


def slip_lines(station, row, name, style, width_of=None):
    """The slip as ``[(text, bold, width_mult, height_mult, align)]`` lines.

    ``width_of(text)`` gives a line's width in dots in the printer's font (a device
    takes it from its glyphs); without it lines are wrapped by their length.
    """
    if width_of is None:
        regular = bold = lambda text: len(text) <= LINE_CHARS  # noqa: E731
    else:
        regular = lambda text: width_of(text) <= ROOM  # noqa: E731
        bold = lambda text: width_of(text) <= BOLD_ROOM  # noqa: E731
    lines = [(TITLE, True, 1, 2, escpos.CENTER), ("", False, 1, 1, escpos.LEFT)]
    for part in wrap(STATION + _field(station), regular):
        lines.append((part, False, 1, 1, escpos.LEFT))
    lines.append((ROW + _field(row), True, 1, 1, escpos.LEFT))
    for part in wrap(_field(name), bold):
        lines.append((part, True, 1, 1, escpos.LEFT))
    for part in wrap(STYLE + _field(style), regular):
        lines.append((part, False, 1, 1, escpos.LEFT))
    lines.append(("", False, 1, 1, escpos.LEFT))
    lines.append((SIGNATURE, False, 1, 1, escpos.LEFT))
    return lines


def print_steps(printer, lines):
    """Send ``lines`` (from ``slip_lines``) to ``printer``, then feed and cut; a generator
    that yields after every line."""
    printer.reset()
    yield
    for text, bold, width, height, where in lines:
        printer.set_align(where)
        printer.set_bold(bold)
        printer.set_size(width, height)
        printer.line(text)
        yield
    printer.set_size(1, 1)
    printer.set_bold(False)
    printer.feed(FEED_LINES)
    printer.cut()
    yield
