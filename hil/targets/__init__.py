"""Targets: where a device's firmware runs.

``VirtualBoard`` (``virtual.py``): the firmware in ``micropython`` on this machine,
with the reference board's heap, its own flash directory and pseudo-terminals for
UARTs. ``SerialBoard`` (``serial.py``): a board on a serial port, its flash image put
on it and started over the raw REPL. Both are a ``Target`` (``base.py``).
"""

from hil.targets.base import Target, TargetError
from hil.targets.serial import SerialBoard
from hil.targets.virtual import BoardError, VirtualBoard, heap_for, micropython_path

__all__ = [
    "BoardError",
    "SerialBoard",
    "Target",
    "TargetError",
    "VirtualBoard",
    "heap_for",
    "micropython_path",
]
