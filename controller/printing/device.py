"""An open thermal printer: the project's ESC/POS writer over a python-escpos link.

``open_printer(settings)`` connects through python-escpos (``Usb`` via pyusb,
``Serial`` via pyserial, ``Network``, ``File``) with a bounded timeout on every read
and write, and returns a ``PrinterLink``. ``PrinterLink.status()`` asks the printer
(``DLE EOT``) once everything written has left the port, and after dropping whatever
the printer sent unasked, so an old byte is never taken for the answer. Failures are
``escpos.PrinterError``s with a code: the device is not there (``E_LINK``), it does
not answer (``E_TIMEOUT``), it answers garbage (``E_BAD_STATUS``), or it reports paper
out, cover open or an error.
"""

from __future__ import annotations

from typing import Any

from controller.printing.config import PrintSettings, Target
from drivers import escpos
from drivers.escpos_host import E_LINK, discard_input, drain_output, from_python_escpos

# Printer states for the dashboard, from the most to the least urgent.
READY = "ready"
NEAR_END = "paper-near-end"
PAPER_OUT = "paper-out"
COVER_OPEN = "cover-open"
FAULT = "error"
OFFLINE = "offline"
NO_ANSWER = "no-answer"
BAD_ANSWER = "bad-answer"
UNREACHABLE = "unreachable"
WRITE_ONLY = "write-only"
PRINTING = "printing"

CODE_STATES = {
    escpos.E_PAPER_OUT: PAPER_OUT,
    escpos.E_COVER_OPEN: COVER_OPEN,
    escpos.E_ERROR: FAULT,
    escpos.E_TIMEOUT: NO_ANSWER,
    escpos.E_BAD_STATUS: BAD_ANSWER,
    E_LINK: UNREACHABLE,
}


def state_of(flags: int) -> str:
    """The dashboard state for a set of ``escpos`` status flags."""
    if flags & escpos.COVER_OPEN:
        return COVER_OPEN
    if flags & escpos.PAPER_OUT:
        return PAPER_OUT
    if flags & escpos.ERROR:
        return FAULT
    if flags & escpos.OFFLINE:
        return OFFLINE
    if flags & escpos.PAPER_NEAR_END:
        return NEAR_END
    return READY


class PrinterLink:
    """One open printer. Close it when done (or use ``with``)."""

    def __init__(self, device: Any, settings: PrintSettings) -> None:
        self.device = device
        self.target = settings.target
        self.timeout = settings.timeout
        self.printer = from_python_escpos(
            device, settings.paper_dots, write_timeout=settings.timeout
        )

    def status(self) -> int:
        """The printer's status flags (``PrinterError`` when it cannot say)."""
        if not self.target.can_read:
            raise escpos.PrinterError(
                escpos.E_TIMEOUT, f"{self.target} is write-only: paper and cover cannot be read"
            )
        drain_output(self.device, self.timeout)
        discard_input(self.device)
        return self.printer.status()

    def check(self) -> int:
        """Like ``status`` but raising ``PrinterError`` for paper out, cover open, error,
        and for an offline printer that names no cause."""
        flags = self.status()
        if flags & escpos.COVER_OPEN:
            raise escpos.PrinterError(escpos.E_COVER_OPEN)
        if flags & escpos.PAPER_OUT:
            raise escpos.PrinterError(escpos.E_PAPER_OUT)
        if flags & (escpos.ERROR | escpos.OFFLINE):
            raise escpos.PrinterError(escpos.E_ERROR, f"printer reports {escpos.describe(flags)}")
        return flags

    def close(self) -> None:
        """Release the port, socket or USB interface."""
        try:
            self.device.close()
        except Exception:  # noqa: BLE001 - a device that vanished cannot be closed any better
            # python-escpos flushes before closing, which fails on an unplugged port; close
            # the port itself and mark the device closed so its destructor does not retry.
            inner = getattr(self.device, "_device", None)
            try:
                if inner:
                    inner.close()
            except Exception:  # noqa: BLE001
                pass
            self.device._device = False

    def __enter__(self) -> PrinterLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _device(target: Target, timeout: float) -> Any:
    from escpos import printer

    if target.kind == "usb":
        return printer.Usb(target.vid, target.pid, timeout=max(1, int(timeout * 1000)))
    if target.kind == "serial":
        return printer.Serial(devfile=target.path, baudrate=target.number, timeout=timeout)
    if target.kind == "tcp":
        return printer.Network(host=target.path, port=target.number, timeout=timeout)
    return printer.File(devfile=target.path)


def open_printer(settings: PrintSettings) -> PrinterLink:
    """Connect to the configured printer; ``PrinterError(E_LINK)`` when it cannot be opened."""
    from escpos.exceptions import DeviceNotFoundError

    target = settings.target
    try:
        device = _device(target, settings.timeout)
        device.open()
    except (DeviceNotFoundError, OSError, ValueError) as err:
        advice = ""
        if target.kind in ("usb", "serial"):
            advice = " (is it plugged in and switched on? `shailoo devices list` shows access)"
        detail = " ".join(str(err).split())
        message = f"cannot open printer {target}: {detail}{advice}"
        raise escpos.PrinterError(E_LINK, message) from None
    if target.kind == "usb":
        # pyusb's reads wait one second by default; status reads follow the settings.
        device.device.default_timeout = max(1, int(settings.timeout * 1000))
    return PrinterLink(device, settings)
