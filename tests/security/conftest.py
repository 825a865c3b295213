"""Fixtures of the security tests: the firmware tests' virtual devices and scripted
controller, and the controller tests' stations."""

from tests.controller.conftest import make_station  # noqa: F401
from tests.firmware.conftest import controller, make_scanner, make_terminal  # noqa: F401
