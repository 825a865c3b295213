"""Station descriptions: read, checked, refused with the reason, and built into devices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hil.device import build_device
from hil.peripherals import FingerprintModule, MrzReader, Printer
from hil.station import (
    DEFAULT_STATION,
    MAX_BYTES,
    MAX_DEVICES,
    StationDescriptionError,
    load_station,
    parse_device,
    parse_station,
    parse_station_text,
    standard_station,
)
from hil.targets import SerialBoard, VirtualBoard

TERMINAL = {"id": "term-1", "role": "idterminal",
            "uarts": {"mrz": "mrz-reader", "display": "display"}}
SCANNER = {"id": "scan-1", "role": "scanner",
           "uarts": {"scan": "scan-engine", "display": "display"}}


def station(*devices: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"devices": list(devices) or [TERMINAL, SCANNER], **top}


def with_(device: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(device)), **changes}


def test_the_demo_station_is_two_equipped_terminals_and_a_scanner() -> None:
    demo = load_station(DEFAULT_STATION)
    assert [(d.id, d.role) for d in demo.devices] == [
        ("term-1", "idterminal"), ("term-2", "idterminal"), ("scan-1", "scanner")]
    for terminal in demo.of_role("idterminal"):
        assert {u: p.kind for u, p in terminal.uarts.items()} == {
            "mrz": "mrz-reader", "display": "display",
            "finger": "fingerprint-sensor", "printer": "printer"}
        assert terminal.config == {"reply_timeout": 30}
        assert terminal.target.kind == "virtual" and terminal.target.heap is None
    assert demo.of_role("scanner")[0].config == {"decision_timeout": 45}
    assert standard_station(2, 1) == demo
    bigger = standard_station(4, 2)
    assert [d.id for d in bigger.devices] == [
        "term-1", "term-2", "term-3", "term-4", "scan-1", "scan-2"]
    assert parse_station(demo.to_json()) == demo


def test_options_targets_and_tuning_are_read() -> None:
    text = json.dumps(station(
        with_(TERMINAL, uarts={
            "mrz": "mrz-reader", "display": "display",
            "finger": {"kind": "fingerprint-sensor", "template_format": "iso19794-2"},
            "printer": {"kind": "printer", "paper_dots": 576}},
            config={"finger_kind": "iso19794-2", "slip_wait": 5},
            target={"kind": "virtual", "heap": "192k"}),
        with_(SCANNER, target={"kind": "serial", "port": "/dev/ttyACM0", "baudrate": 921600}),
        station="ps-5101"))
    parsed = parse_station_text(text)
    terminal, scanner = parsed.devices
    assert parsed.station == "ps-5101"
    assert terminal.uarts["printer"].options == {"paper_dots": 576}
    assert terminal.uarts["finger"].options == {"template_format": "iso19794-2"}
    assert terminal.config == {"finger_kind": "iso19794-2", "slip_wait": 5}
    assert terminal.target.heap == "192k"
    assert (scanner.target.kind, scanner.target.port, scanner.target.baudrate) == (
        "serial", "/dev/ttyACM0", 921600)
    assert parse_station(parsed.to_json()) == parsed


BROKEN: list[tuple[str, Any, str]] = [
    ("a list", [TERMINAL, SCANNER], "the description: must be an object"),
    ("no devices", {"station": "s-1"}, "the key 'devices' is missing"),
    ("devices not a list", {"devices": {"term-1": TERMINAL}}, "devices: must be a list"),
    ("no scanner", station(TERMINAL), "at least one scanner"),
    ("no terminal", station(SCANNER), "at least one idterminal"),
    ("unknown top key", station(operator="x"), "unknown key 'operator'"),
    ("unknown device key", station(with_(TERMINAL, power="on"), SCANNER),
     "devices[0]: unknown key 'power'"),
    ("unknown role", station(with_(TERMINAL, role="printer"), SCANNER), "devices[0].role"),
    ("UART the role lacks", station(TERMINAL, with_(SCANNER, uarts={
        "scan": "scan-engine", "display": "display", "finger": "fingerprint-sensor"})),
     "devices[1].uarts: unknown key 'finger'"),
    ("required UART missing", station(with_(TERMINAL, uarts={"display": "display"}), SCANNER),
     "devices[0].uarts: the key 'mrz' is missing"),
    ("kind on the wrong UART", station(with_(TERMINAL, uarts={
        "mrz": "printer", "display": "display"}), SCANNER),
     "a printer plugs into the 'printer' UART, not 'mrz'"),
    ("unknown kind", station(with_(TERMINAL, uarts={
        "mrz": "barcode-gun", "display": "display"}), SCANNER), "is no peripheral kind"),
    ("kind not a string", station(with_(TERMINAL, uarts={
        "mrz": 7, "display": "display"}), SCANNER), "devices[0].uarts.mrz"),
    ("bad option value", station(with_(TERMINAL, uarts={
        "mrz": "mrz-reader", "display": "display",
        "printer": {"kind": "printer", "paper_dots": 500}}), SCANNER),
     "devices[0].uarts.printer.paper_dots: must be one of 384, 576"),
    ("option of another kind", station(with_(TERMINAL, uarts={
        "mrz": {"kind": "mrz-reader", "paper_dots": 384}, "display": "display"}), SCANNER),
     "unknown key 'paper_dots'"),
    ("tuning out of range", station(with_(TERMINAL, config={"reply_timeout": 0}), SCANNER),
     "'reply_timeout' must be a whole number from 1 to 600"),
    ("tuning of a string", station(with_(TERMINAL, config={"reply_timeout": "30"}), SCANNER),
     "'reply_timeout' must be a whole number"),
    ("tuning of the other role", station(
        with_(TERMINAL, config={"decision_timeout": 5}), SCANNER),
     "devices[0].config: unknown key 'decision_timeout'"),
    ("duplicate id", station(TERMINAL, with_(TERMINAL, uarts=TERMINAL["uarts"]), SCANNER),
     "devices[1].id: 'term-1' is used twice"),
    ("id with a topic wildcard", station(with_(TERMINAL, id="term/+"), SCANNER),
     "is no device or station id"),
    ("id too long", station(with_(TERMINAL, id="t" * 33), SCANNER), "is no device or station id"),
    ("id upper case", station(with_(TERMINAL, id="TERM-1"), SCANNER),
     "is no device or station id"),
    ("station id", station(station="s 1"), "station: 's 1' is no device or station id"),
    ("unknown target", station(with_(TERMINAL, target={"kind": "qemu"}), SCANNER),
     "devices[0].target.kind: must be one of virtual, serial"),
    ("heap that is no size", station(with_(TERMINAL, target={
        "kind": "virtual", "heap": "1g"}), SCANNER), "devices[0].target.heap"),
    ("port on a virtual board", station(with_(TERMINAL, target={
        "kind": "virtual", "port": "/dev/ttyACM0"}), SCANNER), "unknown key 'port'"),
    ("serial without a port", station(with_(TERMINAL, target={"kind": "serial"}), SCANNER),
     "the key 'port' is missing"),
    ("port that is no port", station(with_(TERMINAL, target={
        "kind": "serial", "port": "/dev/../etc/passwd"}), SCANNER), "is no serial port"),
    ("port that is a command", station(with_(TERMINAL, target={
        "kind": "serial", "port": "$(reboot)"}), SCANNER), "is no serial port"),
    ("odd baud rate", station(with_(TERMINAL, target={
        "kind": "serial", "port": "/dev/ttyUSB0", "baudrate": 12345}), SCANNER),
     "devices[0].target.baudrate"),
    ("baud rate true", station(with_(TERMINAL, target={
        "kind": "serial", "port": "/dev/ttyUSB0", "baudrate": True}), SCANNER),
     "devices[0].target.baudrate"),
]


@pytest.mark.parametrize(("what", "data", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_descriptions_are_refused_with_where_and_why(
    what: str, data: Any, message: str
) -> None:
    with pytest.raises(StationDescriptionError) as caught:
        parse_station(data)
    assert message in str(caught.value)


@pytest.mark.parametrize("key", ["key", "broker", "device", "role", "station", "uart", "board"])
def test_a_description_cannot_set_identity_key_broker_or_wiring(key: str) -> None:
    forged = station(with_(TERMINAL, config={key: "x"}), SCANNER)
    with pytest.raises(StationDescriptionError, match=f"unknown key '{key}'"):
        parse_station(forged)


def test_forged_json_is_refused() -> None:
    # A second "role" would silently win in a plain JSON reader.
    twice = ('{"devices": [{"id": "term-1", "role": "scanner", "role": "idterminal",'
             ' "uarts": {"mrz": "mrz-reader", "display": "display"}}]}')
    with pytest.raises(StationDescriptionError, match="'role' appears twice"):
        parse_station_text(twice)
    with pytest.raises(StationDescriptionError, match="NaN is not a JSON number"):
        parse_station_text(json.dumps(station(
            with_(TERMINAL, config={"reply_timeout": float("nan")}), SCANNER)))
    with pytest.raises(StationDescriptionError, match="not UTF-8"):
        parse_station_text(b'{"devices": "\xff"}')
    with pytest.raises(StationDescriptionError, match="not JSON"):
        parse_station_text('{"devices": [')
    with pytest.raises(StationDescriptionError, match="nested too deep"):
        parse_station_text("[" * 30_000 + "]" * 30_000)


def test_oversized_descriptions_are_refused(tmp_path: Path) -> None:
    many = [with_(TERMINAL, id=f"term-{n}") for n in range(MAX_DEVICES)] + [SCANNER]
    with pytest.raises(StationDescriptionError, match=f"at most {MAX_DEVICES}"):
        parse_station(station(*many))
    padded = json.dumps(station()) + " " * MAX_BYTES
    with pytest.raises(StationDescriptionError, match=f"at most {MAX_BYTES}"):
        parse_station_text(padded)
    path = tmp_path / "huge.json"
    path.write_text(padded)
    with pytest.raises(StationDescriptionError, match=rf"{path}: .* at most {MAX_BYTES}"):
        load_station(path)
    with pytest.raises(StationDescriptionError, match="longer than 256"):
        parse_station(station(with_(TERMINAL, target={"kind": "serial", "port": "/" * 300}),
                              SCANNER))


def test_a_missing_or_broken_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(StationDescriptionError, match="nowhere.json: cannot be read"):
        load_station(tmp_path / "nowhere.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"devices": []}')
    with pytest.raises(StationDescriptionError, match=r"broken.json: devices: a station needs"):
        load_station(broken)


def test_the_builder_wires_what_the_description_says(tmp_path: Path) -> None:
    equipped = parse_device(with_(TERMINAL, uarts={
        "mrz": "mrz-reader", "display": "display",
        "finger": {"kind": "fingerprint-sensor", "template_format": "iso19794-2"},
        "printer": {"kind": "printer", "paper_dots": 576}}, config={"reply_timeout": 7}))
    unit = build_device(equipped, "s-1", "127.0.0.1", 1883, b"k" * 32, tmp_path / "a")
    try:
        assert isinstance(unit.board, VirtualBoard) and unit.board.heap == "128k"
        assert isinstance(unit.reader, MrzReader) and isinstance(unit.printer, Printer)
        assert unit.printer.paper_dots == 576
        assert isinstance(unit.sensor, FingerprintModule)
        assert unit.sensor.template_format == "iso19794-2"
        config = unit.board.config
        assert config["uart"] == {u: p.device_path for u, p in unit.peripherals.items()}
        assert (config["device"], config["station"], config["key"]) == (
            "term-1", "s-1", (b"k" * 32).hex())
        assert config["reply_timeout"] == 7 and config["board"] == "unix"
    finally:
        unit.close()
    assert all(p.closed for p in unit.peripherals.values())
    plain = build_device(parse_device(TERMINAL), "s-1", "127.0.0.1", 1883, b"k" * 32,
                         tmp_path / "b")
    try:
        assert plain.board.heap == "96k" and plain.sensor is None and plain.printer is None
        assert sorted(plain.board.config["uart"]) == ["display", "mrz"]
    finally:
        plain.close()
    bigger = parse_device(with_(TERMINAL, target={"kind": "virtual", "heap": "256k"}))
    unit = build_device(bigger, "s-1", "127.0.0.1", 1883, b"k" * 32, tmp_path / "c")
    unit.close()
    assert unit.board.heap == "256k"
    serial = parse_device(with_(SCANNER, target={"kind": "serial", "port": "/dev/ttyACM0"}))
    unit = build_device(serial, "s-1", "127.0.0.1", 1883, b"k" * 32, tmp_path / "d")
    unit.close()
    assert isinstance(unit.board, SerialBoard) and unit.board.port == "/dev/ttyACM0"


def test_the_builder_refuses_a_given_peripheral_that_does_not_fit(tmp_path: Path) -> None:
    wanted = parse_device(TERMINAL)
    printer = Printer("stray")
    try:
        with pytest.raises(ValueError, match="no UART 'printer'"):
            build_device(wanted, "s-1", "h", 1, b"k" * 32, tmp_path, given={"printer": printer})
        with pytest.raises(ValueError, match="takes a mrz-reader, not printer"):
            build_device(wanted, "s-1", "h", 1, b"k" * 32, tmp_path, given={"mrz": printer})
        # A peripheral the caller gave stays the caller's to unplug.
        assert not printer.closed
    finally:
        printer.close()


def test_the_demo_command_refuses_a_broken_description_before_starting_anything(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from hil.cli import demo

    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(station(with_(TERMINAL, id="term-1/#"), SCANNER)))
    done = CliRunner().invoke(demo, ["--station", str(forged), "--http-port", "0"])
    assert done.exit_code == 1
    assert f"{forged}: devices[0].id: 'term-1/#' is no device or station id" in done.output
    assert "TRAINING STATION" not in done.output
    both = CliRunner().invoke(demo, ["--station", str(forged), "--terminals", "3"])
    assert both.exit_code == 2 and "come from the --station file" in both.output


ESP32 = {"kind": "serial", "port": "/dev/ttyACM0", "board": "esp32s3",
         "wifi": {"ssid": "station-5101", "password": "secret"}, "broker_host": "10.0.0.2"}
PINS = {"id": 1, "tx": 17, "rx": 18, "baud": 9600}
DISPLAY_PINS = {"id": 2, "tx": 15, "rx": 16, "baud": 115200}


def esp32_terminal(**uarts: Any) -> dict[str, Any]:
    return with_(TERMINAL, target=ESP32, uarts=uarts or {
        "mrz": {"kind": "mrz-reader", "pins": PINS, "line": "/dev/ttyUSB1"},
        "display": {"kind": "display", "pins": DISPLAY_PINS}})


def test_an_esp32_board_names_its_pins_wifi_broker_and_the_lines_to_simulated_peripherals(
) -> None:
    wanted = parse_device(esp32_terminal())
    assert (wanted.target.board, wanted.target.broker_host) == ("esp32s3", "10.0.0.2")
    assert wanted.uarts["mrz"].line == "/dev/ttyUSB1" and wanted.uarts["mrz"].pins == PINS
    assert wanted.uarts["display"].line is None
    assert parse_station(station(esp32_terminal(), SCANNER)).devices[0] == wanted
    described = parse_station(station(esp32_terminal(), SCANNER))
    assert parse_station(described.to_json()) == described


ESP32_BROKEN: list[tuple[str, Any, str]] = [
    ("no pins", esp32_terminal(mrz="mrz-reader", display={"kind": "display", "pins": PINS}),
     "devices[0].uarts.mrz: an esp32s3 board's UART needs its \"pins\""),
    ("pin out of range", esp32_terminal(
        mrz={"kind": "mrz-reader", "pins": dict(PINS, tx=99)},
        display={"kind": "display", "pins": DISPLAY_PINS}), "pins.tx: a whole number from 0"),
    ("pins incomplete", esp32_terminal(
        mrz={"kind": "mrz-reader", "pins": {"id": 1}},
        display={"kind": "display", "pins": DISPLAY_PINS}), "the key 'tx' is missing"),
    ("odd pin baud", esp32_terminal(
        mrz={"kind": "mrz-reader", "pins": dict(PINS, baud=1)},
        display={"kind": "display", "pins": DISPLAY_PINS}), "pins.baud"),
    ("line that is no port", esp32_terminal(
        mrz={"kind": "mrz-reader", "pins": PINS, "line": "file:///etc/shadow"},
        display={"kind": "display", "pins": DISPLAY_PINS}), "line: 'file:///etc/shadow'"),
    ("no wifi", with_(esp32_terminal(), target={k: v for k, v in ESP32.items() if k != "wifi"}),
     "the key 'wifi' is missing"),
    ("no broker host", with_(esp32_terminal(), target={
        k: v for k, v in ESP32.items() if k != "broker_host"}), "'broker_host' is missing"),
    ("broker host with a path", with_(esp32_terminal(), target=dict(
        ESP32, broker_host="10.0.0.2/evil")), "is no host name or address"),
    ("empty SSID", with_(esp32_terminal(), target=dict(
        ESP32, wifi={"ssid": "", "password": ""})), "an SSID of 1 to 32"),
    ("unknown board", with_(esp32_terminal(), target=dict(ESP32, board="rp2040")),
     "board: must be one of unix, esp32s3"),
    ("wifi on a unix board", with_(TERMINAL, target={
        "kind": "serial", "port": "/dev/ttyACM0", "wifi": ESP32["wifi"]}),
     "unknown key 'wifi'"),
    ("pins on a virtual board", with_(TERMINAL, uarts={
        "mrz": {"kind": "mrz-reader", "pins": PINS}, "display": "display"}),
     "\"pins\" and \"line\" are for an esp32s3 board"),
    ("line on a virtual board", with_(TERMINAL, uarts={
        "mrz": {"kind": "mrz-reader", "line": "/dev/ttyUSB1"}, "display": "display"}),
     "\"pins\" and \"line\" are for an esp32s3 board"),
]


@pytest.mark.parametrize(("what", "data", "message"), ESP32_BROKEN,
                         ids=[b[0] for b in ESP32_BROKEN])
def test_broken_board_wiring_is_refused(what: str, data: Any, message: str) -> None:
    with pytest.raises(StationDescriptionError) as caught:
        parse_device(data, "devices[0]")
    assert message in str(caught.value)


def test_an_esp32_device_is_built_with_its_pins_and_a_simulated_reader_on_the_line(
    tmp_path: Path,
) -> None:
    from firmware.config import check
    from hil.pty import NullModem
    from hil.serial_line import SerialLine

    with NullModem("usb-uart") as cable:
        wanted = parse_device(esp32_terminal(
            mrz={"kind": "mrz-reader", "pins": PINS, "line": cable.b_path},
            display={"kind": "display", "pins": DISPLAY_PINS}))
        unit = build_device(wanted, "s-1", "127.0.0.1", 1883, b"k" * 32, tmp_path / "img")
        try:
            assert isinstance(unit.board, SerialBoard) and unit.board.port == "/dev/ttyACM0"
            # The display is a real one on the board's pins: nothing simulated for it.
            assert sorted(unit.peripherals) == ["mrz"] and unit.display is None
            assert isinstance(unit.reader.pair, SerialLine)
            config = check(unit.board.config)
            assert config["board"] == "esp32s3"
            assert config["uart"] == {"mrz": PINS, "display": DISPLAY_PINS}
            assert config["broker"] == {"host": "10.0.0.2", "port": 1883}
            assert config["wifi"] == ESP32["wifi"]
            fw_hash = unit.board.build()
            manifest = json.loads((tmp_path / "img" / "manifest.json").read_text())
            assert manifest["fw_hash"] == fw_hash
            assert "firmware/boards/esp32s3.mpy" in manifest["files"]
            assert "firmware/boards/unix.mpy" not in manifest["files"]
        finally:
            unit.close()
