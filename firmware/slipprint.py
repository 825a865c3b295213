"""Check-in slips on the ``printer`` UART: status, printing, and what to do about faults.

The terminal (``firmware.apps.idterminal``) keeps the queue of slips; this module does
one round of work on it (``service``) and is loaded for each round and dropped again
(``MODULES``): the ESC/POS writer, the slip layout and the glyph reader do not fit a
96 KB terminal's heap beside the fingerprint code, and are not needed between slips.

Before a slip the printer's status is read (``DLE EOT`` 1, 2 and 4, each answer within
``status_ms``, after dropping whatever the printer sent unasked), and again after it,
so that a cover opened or paper run out in the middle of a slip is caught. Lines with
Kyrgyz letters are drawn from the glyphs on the flash; the UART is drained after
every line.

On a fault (paper out, cover open, a printer that does not answer or answers
garbage) the fault goes into the device's status (``printer: <code>``, shown on the
station dashboard) and on the ``printer`` screen, and the slip waits; the status is
read again every ``retry_ms`` (both from the terminal's timing table in
``firmware.apps.idterminal``) and the slip printed once the fault is cleared (again,
if a fault right after printing may have cut it short). A slip that has waited
``slip_wait`` seconds, or was pushed out of a full queue, is given up: the
``slip_by_hand`` screen tells the poll worker the row to write on the list by hand,
and an ``event`` (``slip_not_printed``) goes to the audit log. The slip helps find
the row; the ballot is issued either way. A slip lost to a power cut is not printed
again (the queue is in RAM; its row was on the screen).
"""

import asyncio
import time

from drivers import escpos, slip
from firmware.glyphs import GlyphFile
from protocol import messages

MODULES = ("firmware.slipprint", "drivers.slip", "drivers.escpos", "firmware.glyphs",
           "protocol.messages")


def _log(*args):
    print("[printer]", *args)


async def check(uart, status_ms):
    """The printer's status flags; ``PrinterError`` (with its code) for any fault."""
    reader, writer = uart
    for _ in range(8):  # bytes sent unasked (a babbling printer): bounded
        try:
            if not await asyncio.wait_for(reader.read(64), 0.005):
                break
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
            break
    flags = 0
    for n in (1, 2, 4):
        writer.write(escpos.status_request(n))
        await writer.drain()
        try:
            got = await asyncio.wait_for(reader.read(1), status_ms / 1000)
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
            got = b""
        if not got:
            raise escpos.PrinterError(escpos.E_TIMEOUT, "printer did not answer DLE EOT %d" % n)
        flags |= escpos.parse_status(n, got[0])
    for flag, code in ((escpos.COVER_OPEN, escpos.E_COVER_OPEN),
                       (escpos.PAPER_OUT, escpos.E_PAPER_OUT), (escpos.ERROR, escpos.E_ERROR)):
        if flags & flag:
            raise escpos.PrinterError(code)
    return flags


async def print_slip(uart, glyph_path, station, fields, status_ms, buf=None):
    """Check, print the slip of ``fields`` (``row``, ``name``, ``style``), check again.

    Raster lines are drawn into ``buf`` (the terminal's scratch buffer) when it is
    large enough.
    """
    writer = uart[1]
    await check(uart, status_ms)
    glyphs = rasterise = width_of = None
    try:
        glyphs = GlyphFile(glyph_path)
        rasterise = escpos.glyph_rasteriser(glyphs, glyphs.height, buf)
        width_of = glyphs.width_of
    except (OSError, ValueError) as err:
        # Without the glyphs, lines with Kyrgyz letters cannot print; the rest can.
        _log("no glyphs:", err)
    try:
        printer = escpos.Printer(writer.write, None, rasterise)
        lines = slip.slip_lines(station, fields.get("row"), fields.get("name"),
                                fields.get("style"), width_of)
        for _ in slip.print_steps(printer, lines):
            await writer.drain()
    finally:
        if glyphs is not None:
            glyphs.close()
    await check(uart, status_ms)


async def _state(terminal, code):
    """Report ``code`` (None: ready) in the device status and on the screen, once."""
    if code == terminal.printer_state:
        return
    terminal.printer_state = code
    terminal.link.set_fault("printer", code)
    fields = {"state": code or "ready", "waiting": len(terminal.slips)}
    if code is not None:
        fields["message"] = escpos.MESSAGES.get(code, code)
    _log("state", code or "ready")
    await terminal.display.show("printer", fields)


async def _by_hand(terminal, fields, why, event_ms):
    _log("slip for row %s given up (%s)" % (fields.get("row"), why))
    await terminal.display.show("slip_by_hand", {
        "row": fields.get("row"), "name": fields.get("name"), "style": fields.get("style"),
        "reason": why})
    try:
        await asyncio.wait_for(terminal.link.send(messages.EVENT, {
            "kind": "slip_not_printed", "detail": why}), event_ms / 1000)
    except Exception as err:  # noqa: BLE001 - the audit note is best effort
        _log("event not sent:", err)


async def service(terminal, status_ms, retry_ms, event_ms):
    """One round on ``terminal.slips`` (entries ``[fields, first try in ms or None]``);
    return seconds to pause, 0 to go on at once, None to wait for the next slip."""
    while terminal.slips_given_up:
        await _by_hand(terminal, terminal.slips_given_up.pop(0), "queue full", event_ms)
    uart = terminal.printer_uart
    if not terminal.slips:
        if terminal.printer_state is None:
            return None
        # A fault (or nothing known yet) and nothing to print: look, so the status clears.
        try:
            await check(uart, status_ms)
        except escpos.PrinterError as err:
            await _state(terminal, err.code)
            return retry_ms / 1000
        await _state(terminal, None)
        return None
    entry = terminal.slips[0]
    if entry[1] is None:
        entry[1] = time.ticks_ms()
    fields = entry[0]
    config = terminal.device.config
    try:
        await print_slip(uart, terminal.device.path("glyphs.bin"), config["station"], fields,
                         status_ms, terminal.scratch)
    except escpos.PrinterError as err:
        await _state(terminal, err.code)
        if time.ticks_diff(time.ticks_ms(), entry[1]) < config["slip_wait"] * 1000:
            return retry_ms / 1000
        terminal.drop_slip(entry)
        await _by_hand(terminal, fields, err.code, event_ms)
        return 0
    terminal.drop_slip(entry)
    _log("slip for row %s printed" % fields.get("row"))
    await _state(terminal, None)
    return 0
