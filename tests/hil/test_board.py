"""Virtual boards: the real firmware in ``micropython`` with the heap of its role."""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from drivers import scanlink
from hil.broker import Broker
from hil.history import History, wait_until
from hil.peripherals import Display, MrzReader, ScanEngine
from hil.targets.virtual import BoardError, VirtualBoard
from protocol import envelope, topics

STATION = "hil-board"


def config(broker: Broker, device: str, role: str) -> dict:
    key = os.urandom(32)
    broker.add_device(STATION, device, key)
    assert broker.ca_der is not None
    return {
        "device": device,
        "role": role,
        "station": STATION,
        "key": key.hex(),
        "broker": {"host": broker.host, "port": broker.port,
                   "ca": base64.b64encode(broker.ca_der).decode()},
        "keepalive": 30,
    }


class StatusWatch:
    """Retained presence messages of the station's devices, as the broker delivers them."""

    def __init__(self, broker: Broker) -> None:
        self.seen: History[tuple[str, str]] = History("status")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="status-watch")
        broker.client_login(
            "status-watch", read=(f"shailoo/v1/{STATION}/dev/+/status",)
        ).configure(self.client)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(
            f"shailoo/v1/{STATION}/dev/+/status", 1
        )
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        _, device, _ = topics.parse(msg.topic)
        # Signed, like every status; this watcher has no keys and reads the body only.
        self.seen.append((device, envelope.parse(msg.payload).body["state"]))

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def watch(broker: Broker):
    w = StatusWatch(broker)
    yield w
    w.stop()


def test_terminal_runs_with_96k_heap_and_survives_a_power_cut(
    tmp_path: Path, broker: Broker, watch: StatusWatch
) -> None:
    reader, display = MrzReader(), Display()
    board = VirtualBoard(
        config(broker, "term-7", "idterminal"),
        tmp_path / "term-7",
        {"mrz": reader.pair, "display": display.pair},
    )
    try:
        fw_hash = board.build()
        manifest = json.loads((tmp_path / "term-7" / "manifest.json").read_text())
        assert manifest["fw_hash"] == fw_hash
        device_config = json.loads((tmp_path / "term-7" / "config.json").read_text())
        assert device_config["uart"] == {
            "mrz": reader.device_path,
            "display": display.device_path,
        }
        board.start()
        assert "heapsize=104k" in board.cmdline()  # 96 KB and the TLS allowance
        assert board.cmdline()[-1] == "main.py"
        display.wait_screen("ready", 20)
        watch.seen.wait_for(lambda s: s == ("term-7", "online"), 20)
        board.wait_console("boot 1", 5)

        mark = watch.seen.mark()
        board.power_cut()
        assert board.returncode == -signal.SIGKILL
        # The broker notices the dead connection and publishes the device's last will.
        watch.seen.wait_for(lambda s: s == ("term-7", "offline"), 20, mark)

        console_mark = board.console.mark()
        board.start()
        board.wait_console("boot 2", 20, console_mark)
        watch.seen.wait_for(lambda s: s == ("term-7", "online"), 20, mark)
        assert "=== power cut" in board.log_path.read_text()
        with pytest.raises(BoardError):
            board.start()
    finally:
        board.stop()
        reader.close()
        display.close()
    assert not board.alive()


def test_scanner_runs_with_128k_heap(tmp_path: Path, broker: Broker) -> None:
    engine, display = ScanEngine(), Display()
    board = VirtualBoard(
        config(broker, "scan-7", "scanner"),
        tmp_path / "scan-7",
        {"scan": engine.pair, "display": display.pair},
    )
    try:
        board.start()
        assert "heapsize=136k" in board.cmdline()  # 128 KB and the TLS allowance
        display.wait_screen("ready", 20, counter=0)
        # Once up, the scanner asks its engine whether a sheet is already waiting.
        engine.commands.wait_for(lambda c: c == scanlink.STATUS, 10)
    finally:
        board.stop()
        engine.close()
        display.close()


def test_a_board_needs_the_uarts_of_its_role(tmp_path: Path, broker: Broker) -> None:
    display = Display()
    try:
        with pytest.raises(BoardError, match="mrz"):
            VirtualBoard(
                config(broker, "term-8", "idterminal"), tmp_path / "t", {"display": display.pair}
            )
    finally:
        display.close()


def test_a_board_that_resets_itself_comes_back_but_a_misconfigured_one_stays_off(
    tmp_path: Path, broker: Broker
) -> None:
    reader, display = MrzReader(), Display()
    board = VirtualBoard(
        config(broker, "term-9", "idterminal"),
        tmp_path / "term-9",
        {"mrz": reader.pair, "display": display.pair},
    )
    try:
        board.start()
        board.wait_console("boot 1", 20)
        # The firmware dying on its own (here: a signal the rig did not send as a power
        # cut) is a reset: the board boots again.
        os.kill(board.pid, signal.SIGTERM)
        board.wait_console("boot 2", 20)
        assert board.resets == 1 and board.boots == 2
        assert "=== board reset" in board.log_path.read_text()

        board.power_cut()
        # A config the firmware refuses: start() puts it on the flash as it is.
        board.config = {"device": "term-9"}
        mark = board.console.mark()
        board.start()
        board.wait_console("configuration error", 20, mark)
        wait_until(lambda: not board.alive(), 10, "the misconfigured board to stop")
        assert board.returncode == 2
        assert board.resets == 2 and board.boots == 3
    finally:
        board.stop()
        reader.close()
        display.close()
