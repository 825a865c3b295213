"""Shailoo device firmware (MicroPython).

The same package is copied into a device's flash directory by ``firmware.build``;
``main.py`` at the flash root imports it as ``firmware``. Everything here except
``build.py`` runs on MicroPython and stays in the MicroPython/CPython common subset.
"""

VERSION = "0.1.0"
