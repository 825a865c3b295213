"""The wire contract between Shailoo devices and the station controller.

One source for CPython and MicroPython: modules here use only the common subset
(no dataclasses, no typing at runtime, bytes and struct over clever objects).
"""

PROTOCOL_VERSION = 1
