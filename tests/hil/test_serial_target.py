"""The serial target: a board behind a serial port, flashed and run over its raw REPL.

No real board is attached to a test machine, so the board here is the next closest
thing: the MicroPython unix port's interactive REPL (``micropython -i``, the heap of
the reference scanner) with its console on one end of a null-modem pair of
pseudo-terminals, its working directory standing for the board's flash filesystem.
``SerialBoard`` opens the other end by path, as it opens ``/dev/ttyACM0``, and drives
it with ``mpremote``'s serial transport: the raw REPL, the file writes, the hash
checks and the run are the same bytes a board's USB console gets. What this cannot
show is a real board's own UARTs; the unix board here opens the simulated
peripherals' pseudo-terminals instead.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hil.broker import Broker
from hil.device import build_device
from hil.history import wait_until
from hil.peripherals import Sheet
from hil.pty import NullModem, PtyPair
from hil.station import parse_device
from hil.targets import SerialBoard, TargetError, micropython_path
from tests.firmware.fake_controller import STATION, FakeController, make_key


class ReplBoard:
    """``micropython -i`` on one end of a null-modem cable; ``port`` is the other end."""

    def __init__(self, filesystem: Path, heap: str = "128k") -> None:
        filesystem.mkdir(parents=True, exist_ok=True)
        self.filesystem = filesystem
        self.cable = NullModem("repl")
        self.process = subprocess.Popen(
            [micropython_path(), "-X", f"heapsize={heap}", "-i"],
            cwd=filesystem,
            stdin=self.cable.a_fd(),
            stdout=self.cable.a_fd(),
            stderr=self.cable.a_fd(),
            env={"PATH": "/usr/bin:/bin", "MICROPYPATH": ".frozen"},
            start_new_session=True,
        )

    @property
    def port(self) -> str:
        return self.cable.b_path

    def power_off(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.cable.close()


@pytest.fixture
def repl_board(tmp_path: Path) -> Iterator:
    """Factory: ``repl_board(filesystem)`` → a running REPL board; switched off at the end."""
    made: list[ReplBoard] = []

    def make(filesystem: Path | None = None) -> ReplBoard:
        board = ReplBoard(filesystem or tmp_path / "board-fs")
        made.append(board)
        return board

    yield make
    for board in made:
        board.power_off()


def ramp(width: int, height: int) -> Sheet:
    rows = np.arange(height, dtype=np.int64)[:, None] * 7 + np.arange(width, dtype=np.int64)
    return Sheet((rows & 0xFF).astype(np.uint8), 200, "serial")


def scanner_on(port: str, broker: Broker, tmp_path: Path, name: str = "scan-serial"):
    wanted = parse_device({
        "id": name, "role": "scanner",
        "uarts": {"scan": "scan-engine", "display": "display"},
        "target": {"kind": "serial", "port": port},
    })
    broker.add_device(STATION, name, make_key(name))
    return build_device(wanted, STATION, broker.host, broker.port, make_key(name),
                        tmp_path / "image", log_dir=tmp_path / "logs", broker_ca=broker.ca_der)


def test_scanner_flashed_over_the_raw_repl_counts_a_ballot_and_keeps_it_across_a_power_cycle(
    repl_board, broker: Broker, tmp_path: Path
) -> None:
    board_fs = tmp_path / "board-fs"
    first = repl_board(board_fs)
    unit = scanner_on(first.port, broker, tmp_path)
    assert isinstance(unit.board, SerialBoard)
    ctl = FakeController(broker, [unit.name])
    try:
        fw_hash = unit.board.build()
        unit.board.start()
        # Every file of the image is on the board's filesystem, byte for byte.
        manifest = json.loads((board_fs / "manifest.json").read_text())
        assert manifest["fw_hash"] == fw_hash
        for rel, digest in manifest["files"].items():
            assert hashlib.sha256((board_fs / rel).read_bytes()).hexdigest() == digest, rel
        assert json.loads((board_fs / "config.json").read_text())["device"] == unit.name
        assert set(unit.board.written) == {*manifest["files"], "config.json", "manifest.json"}
        hello = ctl.wait("hello", 60)
        assert hello.body["fw_hash"] == fw_hash and hello.body["boot"] == 1
        line = unit.board.wait_console("[boot] heap free", 30)
        assert int(line.split()[3]) > 0
        unit.display.wait_screen("ready", 30, counter=0)
        sheet = unit.engine.insert(ramp(200, 40))
        assert unit.display.wait_screen("accepted", 60)["counter"] == 1
        assert unit.engine.wait_settled(sheet, 30) == "dropped"
        assert ctl.wait("ballot.dropped").body["counter"] == 1
        assert unit.board.alive()
        # Ctrl-C on the console: the firmware stops, the board is back at its REPL.
        unit.board.stop()
        assert not unit.board.alive()
        assert first.process.poll() is None
    finally:
        unit.close()
        first.power_off()
    # Power cycle: a new REPL on the same filesystem. The code is already there (no code
    # file is written again; the config is, when the host numbered its lines anew) and
    # the public counter survived. Another line opened meanwhile makes the host number the
    # new lines differently, as a busy machine does.
    other = PtyPair("other")
    second = repl_board(board_fs)
    again = scanner_on(second.port, broker, tmp_path)
    try:
        again.board.start()
        assert not set(again.board.written) & set(manifest["files"])
        assert json.loads((board_fs / "config.json").read_text()) == again.board.config
        again.display.wait_screen("ready", 60, counter=1)
        assert ctl.wait("hello", 60, pred=lambda m: m.body["boot"] == 2)
    finally:
        again.close()
        ctl.stop()
        other.close()
    assert not ctl.errors.items()


def test_firmware_that_ends_returns_the_board_to_its_repl(
    repl_board, broker: Broker, tmp_path: Path
) -> None:
    """A config the firmware refuses: it says why on the console and the target is no
    longer alive, as a board that stopped at its prompt."""
    board = repl_board()
    config = {"device": "scan-bad", "role": "scanner", "station": STATION,
              "key": "00" * 32, "broker": {"host": broker.host, "port": broker.port},
              "board": "unix", "uart": {"scan": "/dev/null", "display": "/dev/null"}}
    target = SerialBoard(config, tmp_path / "image", board.port, log_dir=tmp_path / "logs")
    target.build()
    # Spoil the config after building, as a technician's typo would: start() puts the
    # target's config on the board as it is, and the firmware judges it.
    target.config = dict(config, key="short")
    try:
        target.start()
        target.wait_console("configuration error", 30)
        wait_until(lambda: not target.alive(), 30, "the firmware to end")
        assert "'key' must be 64 hex digits" in target.console_tail()
        assert "configuration error" in target.log_path.read_text()
    finally:
        target.stop()


def test_a_port_without_a_repl_is_refused_with_the_reason(tmp_path: Path) -> None:
    silent = PtyPair("silent")  # a device that never answers
    config = {"device": "scan-x", "role": "scanner"}
    try:
        target = SerialBoard(config, tmp_path / "image", silent.device_path,
                             log_dir=tmp_path, connect_timeout=1)
        (tmp_path / "image").mkdir()
        (tmp_path / "image" / "manifest.json").write_text('{"files": {}}')
        with pytest.raises(TargetError, match="no MicroPython raw REPL"):
            target.start()
        assert not target.alive()
    finally:
        silent.close()
    missing = SerialBoard(config, tmp_path / "image", "/dev/shailoo-no-such-port",
                          log_dir=tmp_path)
    with pytest.raises(TargetError, match="cannot open"):
        missing.start()
    with pytest.raises(TargetError, match="no power switch"):
        missing.power_cut()


@pytest.mark.parametrize("forged", ["../outside.py", "/etc/passwd"])
def test_an_image_whose_manifest_points_outside_it_is_not_written(
    repl_board, tmp_path: Path, forged: str
) -> None:
    board = repl_board()
    image = tmp_path / "image"
    image.mkdir()
    (image / "manifest.json").write_text(json.dumps({"files": {forged: "00"}}))
    target = SerialBoard({"device": "scan-y", "role": "scanner"}, image, board.port,
                         log_dir=tmp_path)
    try:
        with pytest.raises(TargetError, match="outside the image"):
            target.start()
    finally:
        target.stop()
    assert not (tmp_path / "outside.py").exists()
    assert sorted(p.name for p in board.filesystem.iterdir()) == []
