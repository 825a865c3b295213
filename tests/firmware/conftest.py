"""Fixtures of the firmware tests: one virtual terminal or scanner at a time on a real broker.

Each device is built the way the station rig builds its devices
(``hil.device.build_device`` from a ``hil.station`` device description): the same
virtual board, the same simulated peripherals on the same pseudo-terminals. What the
firmware tests add is a controller they script (``tests/firmware/fake_controller.py``)
and boards that stay off when the firmware exits, so that a test sees every exit.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hil.broker import Broker
from hil.device import DeviceUnit, build_device
from hil.peripherals import Display, FingerprintModule, MrzReader, Printer, ScanEngine, Sheet
from hil.peripherals.fingerprint_sensor import finger_image
from hil.station import parse_device
from hil.targets import VirtualBoard
from tests.firmware.fake_controller import STATION, FakeController, make_key

_ids = itertools.count(1)
SCAN_DPI = 200


def unique_id(prefix: str) -> str:
    """A device id no other test in this run uses (the broker keeps sessions by id)."""
    return f"{prefix}-{next(_ids)}"


def ramp_sheet(width: int, height: int) -> Sheet:
    """A deterministic grey sheet: each row a ramp shifted by seven levels a row."""
    rows = np.arange(height, dtype=np.int64)[:, None] * 7 + np.arange(width, dtype=np.int64)
    return Sheet((rows & 0xFF).astype(np.uint8), SCAN_DPI, f"ramp {width}x{height}")


@dataclass
class Terminal:
    """A virtual voter-identification terminal and its peripherals.

    The simulated fingerprint sensor starts with a finger on the glass (``finger_image(1)``)
    so that check-ins go straight through; tests of the finger step take it off.
    """

    device: str
    unit: DeviceUnit
    config: dict

    @property
    def board(self) -> VirtualBoard:
        return self.unit.board  # type: ignore[return-value]

    @property
    def display(self) -> Display:
        return self.unit.display

    @property
    def reader(self) -> MrzReader:
        return self.unit.reader

    @property
    def sensor(self) -> FingerprintModule | None:
        return self.unit.sensor

    @property
    def printer(self) -> Printer | None:
        return self.unit.printer

    def present(self, lines: list[str]) -> None:
        """Hold a document to the reader: its MRZ lines, CR LF terminated."""
        self.reader.present(lines)


@dataclass
class Scanner:
    """A virtual ballot scanner, its scan engine and the sheet a voter feeds it."""

    device: str
    unit: DeviceUnit
    config: dict
    width: int = 200
    height: int = 60

    @property
    def board(self) -> VirtualBoard:
        return self.unit.board  # type: ignore[return-value]

    @property
    def display(self) -> Display:
        return self.unit.display

    @property
    def engine(self) -> ScanEngine:
        return self.unit.engine

    def insert(self) -> Sheet:
        """A voter inserts a sheet of the scanner's test size."""
        return self.engine.insert(ramp_sheet(self.width, self.height))

    def expected_sha256(self) -> str:
        """SHA-256 of the image of the sheets ``insert`` feeds."""
        import hashlib

        return hashlib.sha256(ramp_sheet(self.width, self.height).image.tobytes()).hexdigest()

    def power_cut(self) -> None:
        """SIGKILL the board; bytes on their way to it are lost."""
        self.board.power_cut()

    def journal(self) -> dict:
        """The scanner's journal file on its flash."""
        return json.loads((self.board.flash / "journal.json").read_text())


def dump(device: str, unit: DeviceUnit) -> None:
    """Print a board's console and screens: pytest shows them when a test fails."""
    print(f"--- console of {device}")
    print("\n".join(unit.board.console.items()))
    print(f"--- screens of {device}")
    for screen in unit.display.screens.items():
        print(screen)


def _build(description: dict[str, Any], broker: Broker, host: str, port: int, flash: Path,
           given: dict[str, Any] | None = None) -> tuple[DeviceUnit, dict]:
    wanted = parse_device(description)
    broker.add_device(STATION, wanted.id, make_key(wanted.id))
    unit = build_device(wanted, STATION, host, port, make_key(wanted.id), flash,
                        given=given, auto_restart=False, broker_ca=broker.ca_der)
    unit.board.build()
    return unit, unit.board.config


@pytest.fixture
def make_terminal(tmp_path: Path, broker: Broker) -> Iterator:
    """Factory: ``make_terminal(**config_overrides) -> Terminal`` (not started)."""
    made: list[Terminal] = []

    def make(host: str | None = None, port: int | None = None, peripherals: bool = True,
             sensor: FingerprintModule | None = None, **extra: object) -> Terminal:
        device = unique_id("term")
        uarts = {"mrz": "mrz-reader", "display": "display"}
        if peripherals:
            uarts.update(finger="fingerprint-sensor", printer="printer")
        given = {"finger": sensor} if sensor is not None else None
        unit, cfg = _build({"id": device, "role": "idterminal", "uarts": uarts, "config": extra},
                           broker, host or broker.host, port or broker.port, tmp_path / device,
                           given)
        if peripherals and sensor is None:
            unit.sensor.place(finger_image(1))
        term = Terminal(device, unit, cfg)
        made.append(term)
        return term

    yield make
    for term in made:
        term.board.stop()
        dump(term.device, term.unit)
        term.unit.close()


@pytest.fixture
def make_scanner(tmp_path: Path, broker: Broker) -> Iterator:
    """Factory: ``make_scanner(width, height, **config_overrides) -> Scanner`` (not started)."""
    made: list[Scanner] = []

    def make(width: int = 200, height: int = 60, host: str | None = None,
             port: int | None = None, **extra: object) -> Scanner:
        device = unique_id("scan")
        unit, cfg = _build(
            {"id": device, "role": "scanner",
             "uarts": {"scan": "scan-engine", "display": "display"}, "config": extra},
            broker, host or broker.host, port or broker.port, tmp_path / device)
        scanner = Scanner(device, unit, cfg, width, height)
        made.append(scanner)
        return scanner

    yield make
    for scanner in made:
        scanner.board.stop()
        dump(scanner.device, scanner.unit)
        scanner.unit.close()


@pytest.fixture
def controller(broker: Broker) -> Iterator:
    """Factory: ``controller(*device_ids) -> FakeController`` on the module's broker."""
    made: list[FakeController] = []

    def make(*devices: str) -> FakeController:
        ctl = FakeController(broker, list(devices))
        made.append(ctl)
        return ctl

    yield make
    for ctl in made:
        ctl.stop()
        assert not ctl.errors.items(), ctl.errors.items()
