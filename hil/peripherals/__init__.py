"""Simulated peripherals: the far end of a virtual board's UARTs, speaking the real bytes.

Each peripheral owns one ``hil.pty.PtyPair`` (the board opens ``device_path``) and
serves it from a daemon thread: ``MrzReader`` (ID-document reader), ``ScanEngine``
(line sensor + paper feeder) and ``Display`` (the screen, read as a person reads it).
"""

from hil.peripherals.display import Display
from hil.peripherals.mrz_reader import MrzReader
from hil.peripherals.scan_engine import ScanEngine, Sheet

__all__ = ["Display", "MrzReader", "ScanEngine", "Sheet"]
