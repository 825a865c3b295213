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
# Characters a 58 mm line holds at the printer's text size, with room to spare for
# wide letters: longer names are wrapped at spaces.
LINE_CHARS = 26
FEED_LINES = 3
MAX_FIELD = 80


def wrap(text, limit=LINE_CHARS):
    """``text`` split at spaces into lines of at most ``limit`` characters (long words cut)."""
    lines = []
    current = ""
    for word in text.split():
        while len(word) > limit:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:limit])
            word = word[limit:]
        if not word:
            continue
        if current and len(current) + 1 + len(word) > limit:
            lines.append(current)
            current = word
        else:
            current = current + " " + word if current else word
    if current or not lines:
        lines.append(current)
    return lines


def _field(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        return "-"
    return "".join(ch if ch >= " " else " " for ch in value[:MAX_FIELD]).strip() or "-"


def slip_lines(station, row, name, style):
    """The slip as ``[(text, bold, width_mult, height_mult, align)]`` lines."""
    lines = [(TITLE, True, 1, 2, escpos.CENTER), ("", False, 1, 1, escpos.LEFT)]
    for part in wrap(STATION + _field(station)):
        lines.append((part, False, 1, 1, escpos.LEFT))
    lines.append((ROW + _field(row), True, 1, 1, escpos.LEFT))
    for part in wrap(_field(name)):
        lines.append((part, True, 1, 1, escpos.LEFT))
    for part in wrap(STYLE + _field(style)):
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
