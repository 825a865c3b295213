"""One device of the rig, built from its description: target plus peripherals.

``build_device`` turns a ``hil.station.DeviceDescription`` into a ``DeviceUnit``: a
simulated peripheral on each UART the description names (or one the caller made
itself and passes in ``given``, e.g. a sensor with a fault armed), the device's
``config.json`` (identity, key, broker, the description's tuning) and the target
that runs the firmware with those peripherals on its UARTs. On a virtual board (or a
unix board behind a serial port) every peripheral is on a pseudo-terminal the board
opens; on an esp32s3 board a peripheral is simulated only on a UART whose description
names the host serial port wired to it (``hil.serial_line.SerialLine``), and the
config names the board's pins. Nothing is started:
``unit.board.start()`` powers it on. The station rig builds every device this way,
and so do the firmware tests, one device at a time.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.peripherals import KINDS, Peripheral
from hil.serial_line import SerialLine
from hil.station import DeviceDescription
from hil.targets import SerialBoard, Target, VirtualBoard

KEEPALIVE = 30


@dataclass
class DeviceUnit:
    """A device as the rig holds it: description, target, peripherals by UART, key.

    ``queue`` is the line people form at the device: one voter at a terminal or a
    scanner at a time.
    """

    description: DeviceDescription
    board: Target
    peripherals: dict[str, Peripheral]
    key: bytes
    queue: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        """The device id."""
        return self.description.id

    @property
    def role(self) -> str:
        """``idterminal`` or ``scanner``."""
        return self.description.role

    def _on(self, uart: str) -> Any:
        return self.peripherals.get(uart)

    @property
    def display(self) -> Any:
        """The screen, or None where a real one is wired to the board."""
        return self._on("display")

    @property
    def reader(self) -> Any:
        """A terminal's ID-document reader."""
        return self._on("mrz")

    @property
    def sensor(self) -> Any:
        """A terminal's fingerprint sensor, or None."""
        return self._on("finger")

    @property
    def printer(self) -> Any:
        """A terminal's slip printer, or None."""
        return self._on("printer")

    @property
    def engine(self) -> Any:
        """A scanner's scan engine."""
        return self._on("scan")

    def close(self) -> None:
        """Stop the board, then unplug the peripherals."""
        try:
            self.board.stop()
        finally:
            for peripheral in self.peripherals.values():
                peripheral.close()


def device_config(
    description: DeviceDescription,
    station: str,
    broker_host: str,
    broker_port: int,
    key: bytes,
    broker_ca: bytes | None = None,
) -> dict[str, Any]:
    """The device's ``config.json`` without its wiring (the target adds ``board`` and
    ``uart``): identity, key, broker (with the station CA, DER, when it speaks TLS),
    then the description's tuning keys."""
    broker: dict[str, Any] = {"host": broker_host, "port": broker_port}
    if broker_ca is not None:
        broker["ca"] = base64.b64encode(broker_ca).decode()
    return {
        "device": description.id,
        "role": description.role,
        "station": station,
        "key": key.hex(),
        "broker": broker,
        "keepalive": KEEPALIVE,
        **description.config,
    }


def make_peripheral(description: DeviceDescription, uart: str) -> Peripheral:
    """The simulated peripheral the description puts on ``uart``: on a pseudo-terminal,
    or on the host serial port the description wires to the board's pins."""
    wanted = description.uarts[uart]
    name = f"{description.id}-{uart}"
    if wanted.line is not None:
        baud = wanted.pins["baud"] if wanted.pins else 115200
        line = SerialLine(wanted.line, baud, name=name)
        try:
            return KINDS[wanted.kind](name=name, pair=line, **wanted.options)
        except BaseException:
            line.close()
            raise
    return KINDS[wanted.kind](name=name, **wanted.options)


def build_device(
    description: DeviceDescription,
    station: str,
    broker_host: str,
    broker_port: int,
    key: bytes,
    flash: Path,
    log_dir: Path | None = None,
    given: dict[str, Peripheral] | None = None,
    auto_restart: bool = True,
    broker_ca: bytes | None = None,
) -> DeviceUnit:
    """Make the peripherals and the target of ``description``; nothing is started.

    ``broker_ca`` is the station CA (DER) the device checks the broker with.

    ``given`` maps UART names to peripherals made by the caller; they take the place
    of the ones the description would make, and must be of the kind it names.
    """
    given = dict(given or {})
    unknown = sorted(set(given) - set(description.uarts))
    if unknown:
        raise ValueError(f"{description.id} has no UART {unknown[0]!r} in its description")
    target = description.target
    pinned = target.kind == "serial" and target.board == "esp32s3"
    peripherals: dict[str, Peripheral] = {}
    try:
        for uart, wanted in description.uarts.items():
            made = given.get(uart)
            if made is not None and made.kind != wanted.kind:
                raise ValueError(
                    f"{description.id}: the {uart!r} UART takes a {wanted.kind}, not {made.kind}"
                )
            if made is None and pinned and wanted.line is None:
                continue  # the real device is wired to the board's pins
            peripherals[uart] = made or make_peripheral(description, uart)
        if pinned:
            assert target.broker_host is not None
            broker_host = target.broker_host
        config = device_config(description, station, broker_host, broker_port, key, broker_ca)
        pairs = {uart: p.pair for uart, p in peripherals.items()}
        board: Target
        if pinned:
            assert target.port is not None
            pins = {u: dict(w.pins or {}) for u, w in description.uarts.items()}
            wired = dict(config, board="esp32s3", uart=pins, wifi=dict(target.wifi or {}))
            board = SerialBoard(wired, flash, target.port, target.baudrate, log_dir=log_dir)
        elif target.kind == "serial":
            assert target.port is not None
            wired = dict(config, board="unix", uart={u: p.device_path for u, p in pairs.items()})
            board = SerialBoard(wired, flash, target.port, target.baudrate, log_dir=log_dir)
        else:
            board = VirtualBoard(
                config, flash, pairs, heap=target.heap, log_dir=log_dir,
                auto_restart=auto_restart,
            )
    except BaseException:
        for uart, peripheral in peripherals.items():
            if uart not in given:
                peripheral.close()
        raise
    return DeviceUnit(description, board, peripherals, key)
