"""Printing the protocol: status before, between sections and after, never a silent loss.

``print_protocol`` opens the printer, checks it (paper, cover, error) before the
first byte, prints every copy section by section with a check after each, and
checks once more after the cut. Any fault stops the job and raises ``PrintFailed``,
which says what happened, how far the printout got and what to do: a protocol is
either printed whole or reported as not printed, and printing it again always
prints all of it.

A printer whose link is write-only (``file:``) cannot be checked; its job reports
``checked: False``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.printing.config import PrintSettings
from controller.printing.device import CODE_STATES, PrinterLink, open_printer
from controller.printing.protocol_layout import Line, Section, protocol_sections, results_sha256
from drivers import escpos
from drivers.escpos_host import E_LINK

FEED_BEFORE_CUT = 4

ADVICE = {
    escpos.E_PAPER_OUT: "load paper, then print the protocol again",
    escpos.E_COVER_OPEN: "close the printer cover, then print the protocol again",
    escpos.E_ERROR: "switch the printer off and on, then print the protocol again",
    escpos.E_TIMEOUT: "check the printer's power and cable, then print the protocol again",
    escpos.E_BAD_STATUS: (
        "check the printer's baud rate against the print settings, then print again"
    ),
    E_LINK: "check the printer's cable and the print settings, then print again",
}


class PrintFailed(Exception):
    """The protocol was not printed whole. ``code`` is an ``escpos.E_*`` code (or
    ``E_LINK``), ``state`` the dashboard state, ``done``/``total`` the sections that
    reached the printer before the fault was seen."""

    def __init__(self, code: str, detail: str, done: int, total: int, copy: int = 1) -> None:
        if done == 0:
            where = "nothing was printed"
        elif done >= total:
            where = "the protocol reached the printer but may be incomplete"
        else:
            where = f"the printout stopped after part {done} of {total} and is incomplete"
        advice = ADVICE.get(code, "print the protocol again")
        super().__init__(f"{detail}: {where}; {advice}")
        self.code = code
        self.state = CODE_STATES.get(code, "error")
        self.detail = detail
        self.done = done
        self.total = total
        self.copy = copy


@dataclass
class Printed:
    """A finished print job."""

    sha256: str
    copies: int
    sections: int
    checked: bool
    printed_at: str
    warnings: list[str] = field(default_factory=list)


class _Modes:
    """Sends mode commands only when a line needs another mode than the last one."""

    def __init__(self, printer: escpos.Printer) -> None:
        self.printer = printer
        self.align = self.bold = self.size = None

    def line(self, line: Line) -> None:
        p = self.printer
        if line.align != self.align:
            p.set_align(line.align)
            self.align = line.align
        if line.bold != self.bold:
            p.set_bold(line.bold)
            self.bold = line.bold
        if line.size != self.size:
            p.set_size(line.size, line.size)
            self.size = line.size
        if line.image is not None:
            p.image(*line.image)
        else:
            p.line(line.text)


def _checked(link: PrinterLink, warnings: list[str]) -> None:
    flags = link.check()
    if flags & escpos.PAPER_NEAR_END and "paper near end" not in warnings:
        warnings.append("paper near end")


def print_sections(
    link: PrinterLink, copies: Sequence[Sequence[Section]], warnings: list[str]
) -> int:
    """Print every copy; check the printer before, between sections and after.

    Returns the number of sections printed; raises ``PrintFailed`` at the first fault.
    """
    checked = link.target.can_read
    total = sum(len(sections) for sections in copies)
    done = 0
    copy = 1
    try:
        if checked:
            _checked(link, warnings)
        for number, sections in enumerate(copies, 1):
            copy = number
            link.printer.reset()
            modes = _Modes(link.printer)
            for section in sections:
                for line in section.lines:
                    modes.line(line)
                done += 1
                if section is sections[-1]:
                    link.printer.feed(FEED_BEFORE_CUT)
                    link.printer.cut()
                if checked:
                    _checked(link, warnings)
    except escpos.PrinterError as err:
        raise PrintFailed(err.code, str(err), done, total, copy) from None
    return done


def print_protocol(
    settings: PrintSettings,
    results: Mapping[str, Any],
    election: Any,
    opener: Callable[[PrintSettings], PrinterLink] = open_printer,
    copies: int | None = None,
    printed_at: str | None = None,
    seal: str | None = None,
) -> Printed:
    """Lay out and print the protocol ``copies`` times (the settings' number by default),
    stamped with ``printed_at`` (now, by default)."""
    count = copies or settings.copies
    printed_at = printed_at or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    layouts = [
        protocol_sections(results, election, settings, n, count, printed_at, seal)
        for n in range(1, count + 1)
    ]
    warnings: list[str] = []
    try:
        link = opener(settings)
    except escpos.PrinterError as err:
        raise PrintFailed(err.code, str(err), 0, sum(len(x) for x in layouts)) from None
    with link:
        done = print_sections(link, layouts, warnings)
    checked = settings.target.can_read
    return Printed(results_sha256(results), count, done, checked, printed_at, warnings)
