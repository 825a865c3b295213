"""Simulated peripherals: the far end of a virtual board's UARTs, speaking the real bytes.

Every one is a ``Peripheral`` (``base.py``): a name, a kind, the UART it plugs into
and the line to it, served from a daemon thread. ``Display`` (the screen, read as a
person reads it), ``MrzReader`` (ID-document reader), ``ScanEngine`` (line sensor +
paper feeder), ``FingerprintModule`` (ZhianTec sensor) and ``Printer`` (ESC/POS slip
printer). ``KINDS`` maps the kind a station description names to its class.
"""

from hil.peripherals.base import Peripheral
from hil.peripherals.display import Display
from hil.peripherals.fingerprint_sensor import FingerprintModule
from hil.peripherals.mrz_reader import MrzReader
from hil.peripherals.printer import Printer
from hil.peripherals.scan_engine import ScanEngine, Sheet

KINDS: dict[str, type[Peripheral]] = {
    cls.kind: cls for cls in (Display, MrzReader, ScanEngine, FingerprintModule, Printer)
}

__all__ = [
    "KINDS",
    "Display",
    "FingerprintModule",
    "MrzReader",
    "Peripheral",
    "Printer",
    "ScanEngine",
    "Sheet",
]
