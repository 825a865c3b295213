"""Fixtures of the firmware tests: virtual terminals and scanners on a real broker."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.broker import Broker
from hil.peripherals.fingerprint_sensor import FingerprintModule, finger_image
from hil.peripherals.printer import Printer
from tests.firmware.rig import (
    Board,
    Display,
    EngineSim,
    FakeController,
    Pty,
    device_config,
    make_board,
)

_ids = itertools.count(1)


def unique_id(prefix: str) -> str:
    """A device id no other test in this run uses (the broker keeps sessions by id)."""
    return f"{prefix}-{next(_ids)}"


@dataclass
class Terminal:
    """A virtual voter-identification terminal and its peripherals.

    The simulated fingerprint sensor starts with a finger on the glass (``finger_image(1)``)
    so that check-ins go straight through; tests of the finger step take it off.
    """

    device: str
    board: Board
    display: Display
    reader: Pty
    config: dict
    sensor: FingerprintModule | None = None
    printer: Printer | None = None

    def present(self, lines: list[str]) -> None:
        """Hold a document to the reader: its MRZ lines, CR LF terminated."""
        self.reader.write(("\r\n".join(lines) + "\r\n").encode())


@dataclass
class Scanner:
    """A virtual ballot scanner and its peripherals."""

    device: str
    board: Board
    display: Display
    engine: EngineSim
    config: dict

    def power_cut(self) -> None:
        """SIGKILL the board; bytes on its way to it are lost."""
        self.board.kill()
        self.engine.pty.flush()


def dump(device: str, board: Board, display: Display) -> None:
    """Print a board's console and screens: pytest shows them when a test fails."""
    print(f"--- console of {device}")
    print("\n".join(board.console.items()))
    print(f"--- screens of {device}")
    for screen in display.screens.items():
        print(screen)


@pytest.fixture
def make_terminal(tmp_path: Path, broker: Broker) -> Iterator:
    """Factory: ``make_terminal(**config_overrides) -> Terminal`` (not started)."""
    made: list[Terminal] = []

    def make(host: str | None = None, port: int | None = None, peripherals: bool = True,
             sensor: FingerprintModule | None = None, **extra: object) -> Terminal:
        device = unique_id("term")
        display, reader = Display(), Pty()
        uarts = {"mrz": reader.path, "display": display.pty.path}
        printer = None
        if peripherals:
            if sensor is None:
                sensor = FingerprintModule()
                sensor.place(finger_image(1))
            printer = Printer(f"{device}-printer")
            uarts.update(finger=sensor.device_path, printer=printer.device_path)
        cfg = device_config(device, "idterminal", host or broker.host, port or broker.port,
                            uarts, **extra)
        term = Terminal(device, make_board(tmp_path / device, cfg), display, reader, cfg,
                        sensor, printer)
        made.append(term)
        return term

    yield make
    for term in made:
        term.board.stop()
        dump(term.device, term.board, term.display)
        term.display.pty.close()
        term.reader.close()
        if term.sensor is not None:
            term.sensor.close()
        if term.printer is not None:
            term.printer.close()


@pytest.fixture
def make_scanner(tmp_path: Path, broker: Broker) -> Iterator:
    """Factory: ``make_scanner(width, height, **config_overrides) -> Scanner`` (not started)."""
    made: list[Scanner] = []

    def make(width: int = 200, height: int = 60, **extra: object) -> Scanner:
        device = unique_id("scan")
        display, engine = Display(), EngineSim(width, height)
        cfg = device_config(device, "scanner", broker.host, broker.port,
                            {"scan": engine.pty.path, "display": display.pty.path}, **extra)
        scanner = Scanner(device, make_board(tmp_path / device, cfg), display, engine, cfg)
        made.append(scanner)
        return scanner

    yield make
    for scanner in made:
        scanner.board.stop()
        dump(scanner.device, scanner.board, scanner.display)
        scanner.display.pty.close()
        scanner.engine.pty.close()


@pytest.fixture
def controller(broker: Broker) -> Iterator:
    """Factory: ``controller(*device_ids) -> FakeController`` on the module's broker."""
    made: list[FakeController] = []

    def make(*devices: str, host: str | None = None, port: int | None = None) -> FakeController:
        ctl = FakeController(host or broker.host, port or broker.port, list(devices))
        made.append(ctl)
        return ctl

    yield make
    for ctl in made:
        ctl.stop()
        assert not ctl.errors.items(), ctl.errors.items()
