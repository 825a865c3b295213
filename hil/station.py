"""A station described as data: which device has which peripherals on which UART.

A station description is a JSON object (``hil/stations/training.json`` is the demo's)::

    {"devices": [
      {"id": "term-1", "role": "idterminal",
       "uarts": {"mrz": "mrz-reader", "display": "display",
                 "finger": "fingerprint-sensor", "printer": {"kind": "printer", "paper_dots": 576}},
       "config": {"reply_timeout": 30}},
      {"id": "scan-1", "role": "scanner",
       "uarts": {"scan": "scan-engine", "display": "display"},
       "target": {"kind": "virtual", "heap": "128k"}}
    ]}

Each device names its ``role``, the peripheral on each UART (a kind from
``hil.peripherals.KINDS``, alone or as an object with that kind's options), its
firmware tuning keys (``config``: those of ``firmware.config`` that a description
may set, never the identity, key, broker or wiring, which the rig fills in) and the
``target`` its firmware runs on: ``{"kind": "virtual"}`` (the default; ``heap``
overrides the role's reference heap) or ``{"kind": "serial", "port": PATH,
"baudrate": N, "board": "unix" | "esp32s3"}`` (a board on a serial port). A ``unix``
board on a serial port runs on this machine and opens the simulated peripherals'
pseudo-terminals as a virtual board does. An ``esp32s3`` board's UARTs are its pins:
each UART names them (``"pins": {"id", "tx", "rx", "baud"}``) and, when a simulated
peripheral is to play the device on it, the host serial port wired to them
(``"line": "/dev/ttyUSB1"``, a USB-UART bridge); a UART without ``line`` has the real
device on it. Such a board also needs ``wifi`` (``{"ssid", "password"}``) and the
``broker_host`` it reaches the station's broker at. A top-level ``station`` names the
station (the rig picks one otherwise).

Everything is checked on load, and a description that is broken, forged or oversized
is refused with ``StationDescriptionError`` naming where and what: unknown keys,
a kind on the wrong UART, a UART the role does not have, a missing required UART,
duplicate device ids, ids that are no valid topic level, tuning values the firmware
would refuse, duplicate JSON keys, more than ``MAX_DEVICES`` devices, a file of more
than ``MAX_BYTES``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.peripherals import KINDS
from protocol.canonical import within
from protocol.topics import valid_id

STATIONS = Path(__file__).resolve().parent / "stations"
DEFAULT_STATION = STATIONS / "training.json"
MAX_BYTES = 64 * 1024
MAX_DEPTH = 8
MAX_DEVICES = 32
MAX_TEXT = 256
ROLES = ("idterminal", "scanner")
# Each role's UARTs: the ones it needs, then the ones it may have.
REQUIRED_UARTS = {"idterminal": ("mrz", "display"), "scanner": ("scan", "display")}
OPTIONAL_UARTS = {"idterminal": ("finger", "printer"), "scanner": ()}
# The firmware tuning keys a description may set, by role (firmware/config.py).
TUNING = {
    "idterminal": (
        "keepalive",
        "reply_timeout",
        "finger_kind",
        "finger_attempts",
        "finger_timeout",
        "slip_wait",
    ),
    "scanner": ("keepalive", "decision_timeout"),
}
# The options each peripheral kind takes, with the values it accepts.
OPTIONS: dict[str, dict[str, tuple[Any, ...]]] = {
    "printer": {"paper_dots": (384, 576)},
    "fingerprint-sensor": {"template_format": ("zhiantec", "iso19794-2")},
}
TARGETS = ("virtual", "serial")
SERIAL_BOARDS = ("unix", "esp32s3")
# The reference board's UART pins (firmware/boards/esp32s3.py): UART ids and GPIOs.
PIN_RANGES = {"id": range(0, 3), "tx": range(0, 49), "rx": range(0, 49)}
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$|^[0-9A-Fa-f:]{2,39}$")
HEAP = re.compile(r"^[1-9][0-9]{1,4}k$")
BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
SERIAL_PORT = re.compile(r"^(/dev/[A-Za-z0-9._/-]+|(socket|rfc2217)://[A-Za-z0-9.:_-]+)$")


class StationDescriptionError(ValueError):
    """A station description cannot be used; the message says where and why."""


@dataclass(frozen=True)
class PeripheralDescription:
    """The peripheral on one UART: its kind and that kind's options."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    line: str | None = None
    pins: dict[str, int] | None = None


@dataclass(frozen=True)
class TargetDescription:
    """Where the firmware runs: a virtual board (optional heap) or a board on a serial port."""

    kind: str = "virtual"
    heap: str | None = None
    port: str | None = None
    baudrate: int = 115200
    board: str = "unix"
    wifi: dict[str, str] | None = None
    broker_host: str | None = None


@dataclass(frozen=True)
class DeviceDescription:
    """One device: id, role, peripherals by UART, firmware tuning, target."""

    id: str
    role: str
    uarts: dict[str, PeripheralDescription]
    config: dict[str, Any] = field(default_factory=dict)
    target: TargetDescription = field(default_factory=TargetDescription)


@dataclass(frozen=True)
class StationDescription:
    """The devices of a station (terminals and scanners) and, optionally, its id."""

    devices: tuple[DeviceDescription, ...]
    station: str | None = None

    def of_role(self, role: str) -> list[DeviceDescription]:
        """The devices of ``role``, in the description's order."""
        return [d for d in self.devices if d.role == role]

    def to_json(self) -> dict[str, Any]:
        """The description as the JSON object it was read from (kinds without options as names)."""
        devices = []
        for d in self.devices:
            uarts: dict[str, Any] = {}
            for name, p in d.uarts.items():
                extra = {k: v for k, v in (("line", p.line), ("pins", p.pins)) if v}
                wired = {**p.options, **extra}
                uarts[name] = {"kind": p.kind, **wired} if wired else p.kind
            entry: dict[str, Any] = {"id": d.id, "role": d.role, "uarts": uarts}
            if d.config:
                entry["config"] = dict(d.config)
            if d.target != TargetDescription():
                target = {"kind": d.target.kind}
                if d.target.heap:
                    target["heap"] = d.target.heap
                if d.target.kind == "serial":
                    target.update(
                        port=d.target.port, baudrate=d.target.baudrate, board=d.target.board
                    )
                    if d.target.board == "esp32s3":
                        target.update(wifi=d.target.wifi, broker_host=d.target.broker_host)
                entry["target"] = target
            devices.append(entry)
        out: dict[str, Any] = {"devices": devices}
        if self.station:
            out["station"] = self.station
        return out


# ---- reading ------------------------------------------------------------------------


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StationDescriptionError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise StationDescriptionError(f"{name} is not a JSON number")


def load_station(path: Path | str) -> StationDescription:
    """Read and check the station description in ``path``."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise StationDescriptionError(
                f"{path}: {size} bytes; a station description has at most {MAX_BYTES}"
            )
        raw = path.read_bytes()[: MAX_BYTES + 1]
    except OSError as err:
        raise StationDescriptionError(f"{path}: cannot be read: {err.strerror or err}") from None
    try:
        return parse_station_text(raw)
    except StationDescriptionError as err:
        raise StationDescriptionError(f"{path}: {err}") from None


def parse_station_text(raw: bytes | str) -> StationDescription:
    """Parse and check a description given as JSON text."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > MAX_BYTES:
        raise StationDescriptionError(
            f"{len(raw)} bytes; a station description has at most {MAX_BYTES}"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise StationDescriptionError(f"not UTF-8 text (byte {err.start})") from None
    if not within(raw, MAX_DEPTH):
        raise StationDescriptionError("not JSON a description could be: nested too deep")
    try:
        data = json.loads(
            text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
        )
    except json.JSONDecodeError as err:
        raise StationDescriptionError(
            f"not JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    return parse_station(data)


def _object(value: Any, where: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
            ) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StationDescriptionError(f"{where}: must be an object, not {_kind_of(value)}")
    unknown = sorted(k for k in value if k not in allowed)
    if unknown:
        raise StationDescriptionError(
            f"{where}: unknown key {_show(unknown[0])} (allowed: {', '.join(allowed)})"
        )
    for key in required:
        if key not in value:
            raise StationDescriptionError(f"{where}: the key {key!r} is missing")
    return value


def _kind_of(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null"}.get(type(value), "a number")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise StationDescriptionError(f"{where}: must be a string, not {_kind_of(value)}")
    if len(value) > MAX_TEXT:
        raise StationDescriptionError(f"{where}: longer than {MAX_TEXT} characters")
    return value


def _identifier(value: Any, where: str) -> str:
    value = _text(value, where)
    if not valid_id(value):
        raise StationDescriptionError(
            f"{where}: {_show(value)} is no device or station id "
            "(lower-case letters, digits and '-', at most 32, starting with a letter or digit)"
        )
    return value


def parse_station(data: Any) -> StationDescription:
    """Check a parsed description (a dict as from ``json.loads``)."""
    data = _object(data, "the description", ("station", "devices"), ("devices",))
    station = None if data.get("station") is None else _identifier(data["station"], "station")
    devices = data["devices"]
    if not isinstance(devices, list):
        raise StationDescriptionError(f"devices: must be a list, not {_kind_of(devices)}")
    if len(devices) > MAX_DEVICES:
        raise StationDescriptionError(
            f"devices: {len(devices)} devices; a station has at most {MAX_DEVICES}"
        )
    parsed = tuple(parse_device(d, f"devices[{n}]") for n, d in enumerate(devices))
    seen: set[str] = set()
    for n, device in enumerate(parsed):
        if device.id in seen:
            raise StationDescriptionError(f"devices[{n}].id: {device.id!r} is used twice")
        seen.add(device.id)
    for role in ROLES:
        if not any(d.role == role for d in parsed):
            raise StationDescriptionError(f"devices: a station needs at least one {role}")
    return StationDescription(parsed, station)


def parse_device(data: Any, where: str = "device") -> DeviceDescription:
    """Check one device's description."""
    data = _object(data, where, ("id", "role", "uarts", "config", "target"),
                   ("id", "role", "uarts"))
    device_id = _identifier(data["id"], f"{where}.id")
    role = data["role"]
    if role not in ROLES:
        raise StationDescriptionError(
            f"{where}.role: must be one of {', '.join(ROLES)}, not {_show(role)}"
        )
    allowed = REQUIRED_UARTS[role] + OPTIONAL_UARTS[role]
    uarts_raw = _object(data["uarts"], f"{where}.uarts", allowed, REQUIRED_UARTS[role])
    uarts = {
        name: _peripheral(value, name, f"{where}.uarts.{name}")
        for name, value in uarts_raw.items()
    }
    config = _tuning(data.get("config", {}), role, device_id, uarts, f"{where}.config")
    target = _target(data.get("target", {"kind": "virtual"}), f"{where}.target")
    pinned = target.kind == "serial" and target.board == "esp32s3"
    for name, wanted in uarts.items():
        if pinned and wanted.pins is None:
            raise StationDescriptionError(
                f"{where}.uarts.{name}: an esp32s3 board's UART needs its \"pins\""
            )
        if not pinned and (wanted.pins is not None or wanted.line is not None):
            raise StationDescriptionError(
                f"{where}.uarts.{name}: \"pins\" and \"line\" are for an esp32s3 board; "
                "this board opens the simulated peripheral's pseudo-terminal itself"
            )
    return DeviceDescription(device_id, role, uarts, config, target)


def _peripheral(value: Any, uart: str, where: str) -> PeripheralDescription:
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, dict):
        raise StationDescriptionError(
            f"{where}: must be a peripheral kind or an object, not {_kind_of(value)}"
        )
    kind = value.get("kind")
    if kind not in KINDS:
        raise StationDescriptionError(
            f"{where}: {_show(kind)} is no peripheral kind (known: {', '.join(sorted(KINDS))})"
        )
    if KINDS[kind].uart != uart:
        raise StationDescriptionError(
            f"{where}: a {kind} plugs into the {KINDS[kind].uart!r} UART, not {uart!r}"
        )
    options = OPTIONS.get(kind, {})
    _object(value, where, ("kind", *options, "line", "pins"))
    for name in options:
        if name in value and value[name] not in options[name]:
            raise StationDescriptionError(
                f"{where}.{name}: must be one of {', '.join(map(str, options[name]))}, "
                f"not {_show(value[name])}"
            )
    line = None if value.get("line") is None else _port(value["line"], f"{where}.line")
    pins = None if value.get("pins") is None else _pins(value["pins"], f"{where}.pins")
    chosen = {k: v for k, v in value.items() if k in options}
    return PeripheralDescription(kind, chosen, line, pins)


def _port(value: Any, where: str) -> str:
    port = _text(value, where)
    if not SERIAL_PORT.match(port) or ".." in port:
        raise StationDescriptionError(
            f"{where}: {_show(port)} is no serial port (a /dev path, socket:// or rfc2217://)"
        )
    return port


def _pins(value: Any, where: str) -> dict[str, int]:
    value = _object(value, where, ("id", "tx", "rx", "baud"), ("id", "tx", "rx", "baud"))
    for name, allowed in PIN_RANGES.items():
        pin = value[name]
        if not isinstance(pin, int) or isinstance(pin, bool) or pin not in allowed:
            raise StationDescriptionError(
                f"{where}.{name}: a whole number from {allowed.start} to {allowed.stop - 1}, "
                f"not {_show(pin)}"
            )
    if value["baud"] not in BAUDRATES or isinstance(value["baud"], bool):
        raise StationDescriptionError(
            f"{where}.baud: one of {', '.join(map(str, BAUDRATES))}, not {_show(value['baud'])}"
        )
    return dict(value)


def _tuning(value: Any, role: str, device_id: str, uarts: dict[str, Any], where: str
            ) -> dict[str, Any]:
    from firmware.config import ConfigError, check

    _object(value, where, TUNING[role])
    # The firmware's own check, on a config with placeholders for what the rig fills in:
    # whatever a description may set is refused here exactly when the device would.
    candidate = {
        "device": device_id, "role": role, "station": "check", "key": "0" * 64,
        "broker": {"host": "localhost", "port": 1883}, "board": "unix",
        "uart": {name: "/dev/null" for name in uarts}, **value,
    }
    try:
        check(candidate)
    except ConfigError as err:
        raise StationDescriptionError(f"{where}: {err}") from None
    return dict(value)


def _target(value: Any, where: str) -> TargetDescription:
    every = ("kind", "heap", "port", "baudrate", "board", "wifi", "broker_host")
    value = _object(value, where, every, ("kind",))
    kind = value["kind"]
    if kind not in TARGETS:
        raise StationDescriptionError(
            f"{where}.kind: must be one of {', '.join(TARGETS)}, not {_show(kind)}"
        )
    if kind == "virtual":
        _object(value, where, ("kind", "heap"))
        heap = value.get("heap")
        if heap is not None and (not isinstance(heap, str) or not HEAP.match(heap)):
            raise StationDescriptionError(
                f"{where}.heap: a heap size such as \"96k\", not {_show(heap)}"
            )
        return TargetDescription("virtual", heap=heap)
    serial_keys = ("kind", "port", "baudrate", "board", "wifi", "broker_host")
    _object(value, where, serial_keys, ("kind", "port"))
    port = _port(value["port"], f"{where}.port")
    baudrate = value.get("baudrate", 115200)
    if baudrate not in BAUDRATES or isinstance(baudrate, bool):
        raise StationDescriptionError(
            f"{where}.baudrate: one of {', '.join(map(str, BAUDRATES))}, not {_show(baudrate)}"
        )
    board = value.get("board", "unix")
    if board not in SERIAL_BOARDS:
        raise StationDescriptionError(
            f"{where}.board: must be one of {', '.join(SERIAL_BOARDS)}, not {_show(board)}"
        )
    if board == "unix":
        _object(value, where, ("kind", "port", "baudrate", "board"))
        return TargetDescription("serial", port=port, baudrate=baudrate)
    _object(value, where, serial_keys, ("kind", "port", "wifi", "broker_host"))
    wifi = _object(value["wifi"], f"{where}.wifi", ("ssid", "password"), ("ssid", "password"))
    ssid, password = _text(wifi["ssid"], f"{where}.wifi.ssid"), _text(
        wifi["password"], f"{where}.wifi.password")
    if not 0 < len(ssid) <= 32 or len(password) > 64:
        raise StationDescriptionError(
            f"{where}.wifi: an SSID of 1 to 32 characters and a password of at most 64"
        )
    host = _text(value["broker_host"], f"{where}.broker_host")
    if not HOST.match(host):
        raise StationDescriptionError(
            f"{where}.broker_host: {_show(host)} is no host name or address"
        )
    return TargetDescription(
        "serial", port=port, baudrate=baudrate, board=board,
        wifi={"ssid": ssid, "password": password}, broker_host=host,
    )


# ---- the stations the rig knows ------------------------------------------------------


def standard_station(terminals: int = 2, scanners: int = 1) -> StationDescription:
    """``terminals`` equipped terminals and ``scanners`` scanners, wired like the demo's."""
    if not 1 <= terminals <= 16 or not 1 <= scanners <= 8:
        raise StationDescriptionError(
            "a standard station has 1 to 16 terminals and 1 to 8 scanners"
        )
    template = load_station(DEFAULT_STATION)
    terminal, scanner = template.of_role("idterminal")[0], template.of_role("scanner")[0]
    devices = [
        DeviceDescription(f"term-{n}", "idterminal", terminal.uarts, terminal.config)
        for n in range(1, terminals + 1)
    ] + [
        DeviceDescription(f"scan-{n}", "scanner", scanner.uarts, scanner.config)
        for n in range(1, scanners + 1)
    ]
    return StationDescription(tuple(devices))
