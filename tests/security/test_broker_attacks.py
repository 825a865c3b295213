"""Someone on the station's network against a real Mosquitto running the generated
configuration: no account, another device's account, a device's own account used on
topics that are not its own, the controller's client id, a forged or replayed
retained status, and an eavesdropper between a real device and the broker."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from controller.broker.login import BrokerLogin
from controller.store import audit
from drivers import mrz_make
from firmware.mqtt import connect_packet
from hil.broker import Broker
from hil.history import History
from protocol import envelope, topics
from protocol.broker_login import device_password
from tests.controller.helpers import wait_until
from tests.security.proxy import RecordingProxy

ST = "st-attack"
KEYS = {name: bytes([n]) * 32 for n, name in enumerate(("term-1", "term-2", "scan-1"), 1)}
DOC = mrz_make.make_td1("AN1234567", "850214", "F", "310101", "KGZ", "ASANOVA", "AIGUL",
                        personal_number="21402198500123")


class Client:
    """A paho client that records what it receives and how the broker answered."""

    def __init__(self, broker: Broker, login: BrokerLogin | None, client_id: str = "",
                 clean: bool = True, subscribe: tuple[str, ...] = ()) -> None:
        self.got: History[tuple[str, bytes]] = History("received")
        self.answer: list[str] = []
        self.disconnects: list[str] = []
        self.granted: list[int] = []
        self._answered = threading.Event()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean, protocol=mqtt.MQTTv311)
        if login is not None:
            login.configure(self.client)
        else:
            # Anonymous, but over TLS with the station CA: only the account is missing.
            BrokerLogin("-", "", broker.ca_file).configure(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, m: self.got.append((m.topic, bytes(m.payload)))
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.append(str(rc))
        self._topics = subscribe
        self.client.connect(broker.host, broker.port, 30)
        self.client.loop_start()
        assert self._answered.wait(10), "no CONNACK"
        if self.ok and subscribe:
            assert self._subscribed.wait(10), "no SUBACK"

    @property
    def ok(self) -> bool:
        return self.answer == ["Success"]

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                    properties: Any) -> None:
        self.answer.append(str(rc))
        self._answered.set()
        if not rc.is_failure and self._topics:
            client.subscribe([(t, 1) for t in self._topics])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: Any,
                      properties: Any) -> None:
        self.granted = [c.value for c in codes]
        self._subscribed.set()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def station(broker: Broker):
    """The accounts of a station ``ST`` with two terminals and a scanner on the broker."""
    broker.add_station(ST, KEYS)
    clients: list[Client] = []

    def client(*args: Any, **kw: Any) -> Client:
        made = Client(broker, *args, **kw)
        clients.append(made)
        return made

    yield client
    for made in clients:
        made.close()


def login(broker: Broker, device: str) -> BrokerLogin:
    return broker.device_login(device, KEYS[device])


def test_no_account_no_tls_no_entry(broker: Broker, station) -> None:
    assert station(None).answer == ["Not authorized"]
    guessed = BrokerLogin("term-1", "0" * 64, broker.ca_file)
    assert station(guessed).answer == ["Not authorized"]
    # Another device's password under one's own name, one's own under another's name.
    crossed = BrokerLogin("term-1", device_password(KEYS["term-2"]), broker.ca_file)
    assert station(crossed).answer == ["Not authorized"]
    borrowed = BrokerLogin("term-2", device_password(KEYS["term-1"]), broker.ca_file)
    assert station(borrowed).answer == ["Not authorized"]
    # The controller's name without its password.
    assert station(BrokerLogin(f"ctl.{ST}", device_password(KEYS["term-1"]),
                               broker.ca_file)).answer == ["Not authorized"]
    # MQTT in clear on the broker's port: the TLS listener never answers it with a CONNACK.
    with socket.create_connection((broker.host, broker.port), timeout=5) as raw:
        raw.sendall(connect_packet("plain", 30, True, None, "term-1",
                                   device_password(KEYS["term-1"])))
        try:
            answer = raw.recv(4)
        except OSError:
            answer = b""
    assert not answer.startswith(b"\x20"), answer


def test_a_device_reaches_only_its_own_topics(broker: Broker, station) -> None:
    controller = station(broker.controller_login(ST), subscribe=(
        topics.up(ST, "+"), topics.status(ST, "+")))
    victim = station(login(broker, "term-2"), subscribe=(topics.down(ST, "term-2"),))
    attacker = station(login(broker, "term-1"), subscribe=(
        "#", topics.down(ST, "term-2"), topics.up(ST, "term-2"), topics.status(ST, "+"),
        f"shailoo/v1/{ST}/ctl/#"))
    assert attacker.ok
    # What the attacker sends under others' names or to others' topics goes nowhere.
    for topic in (topics.up(ST, "term-2"), topics.status(ST, "term-2"),
                  topics.down(ST, "term-2"), topics.up("st-other", "term-1"), "elsewhere/x"):
        attacker.publish(topic, b"forged " + topic.encode(), retain=topic.endswith("status"))
    # Its own uplink works: the connection is live and the controller hears it.
    attacker.publish(topics.up(ST, "term-1"), b"own uplink")
    # The victim and the controller talk; the attacker hears none of it.
    victim.publish(topics.up(ST, "term-2"), b"victim uplink")
    controller.publish(topics.down(ST, "term-2"), b"reply to the victim")
    controller.got.wait_for(lambda m: m[1] == b"victim uplink", 10)
    controller.got.wait_for(lambda m: m[1] == b"own uplink", 10)
    victim.got.wait_for(lambda m: m[1] == b"reply to the victim", 10)
    # A barrier: the broker routes one connection's messages in order, so once the
    # controller's later message to the attacker's own topic arrives, anything routed
    # to the attacker before it has arrived too.
    controller.publish(topics.down(ST, "term-1"), b"barrier")
    attacker.got.wait_for(lambda m: m[1] == b"barrier", 10)
    assert attacker.got.items() == [(topics.down(ST, "term-1"), b"barrier")]
    assert not any(p.startswith(b"forged") for _, p in controller.got.items())
    assert [p for _, p in victim.got.items()] == [b"reply to the victim"]
    # A newcomer reading every status sees no retained forgery of the victim's status;
    # the attacker's own retained status comes in the same delivery and marks its end.
    attacker.publish(topics.status(ST, "term-1"), b"own status", retain=True)
    late = station(broker.controller_login(ST), subscribe=(topics.status(ST, "+"),))
    late.got.wait_for(lambda m: m[1] == b"own status", 10)
    assert late.got.items() == [(topics.status(ST, "term-1"), b"own status")]
    attacker.publish(topics.status(ST, "term-1"), b"", retain=True)


def test_nobody_takes_the_controllers_session(broker: Broker, station) -> None:
    cid = f"ctl.{ST}"
    first = station(broker.controller_login(ST), client_id=cid, clean=False,
                    subscribe=(topics.up(ST, "+"),))
    first.close()
    device = station(login(broker, "scan-1"))
    for n in range(3):
        device.publish(topics.up(ST, "scan-1"), b"queued %d" % n)
    # Same client id, clean session off, a device's valid account: the broker names the
    # client after its account, so it is scan-1 and gets nothing of the controller's.
    thief = station(login(broker, "term-1"), client_id=cid, clean=False,
                    subscribe=(topics.down(ST, "term-1"),))
    assert thief.ok
    again = station(broker.controller_login(ST), client_id=cid, clean=False)
    for n in range(3):
        again.got.wait_for(lambda m, n=n: m[1] == b"queued %d" % n, 10)
    # The queued messages went to the controller; a message sent after them to the
    # thief's own topic is all the thief ever gets.
    again.publish(topics.down(ST, "term-1"), b"barrier")
    thief.got.wait_for(lambda m: m[1] == b"barrier", 10)
    assert thief.got.items() == [(topics.down(ST, "term-1"), b"barrier")]
    # While the controller is connected, a client naming its id does not push it off:
    # a message sent after the intruder's CONNACK still reaches the controller.
    intruder = station(login(broker, "term-2"), client_id=cid)
    assert intruder.ok
    device.publish(topics.up(ST, "scan-1"), b"after the intruder")
    again.got.wait_for(lambda m: m[1] == b"after the intruder", 10)
    assert again.disconnects == [] and again.client.is_connected()


def test_a_forged_or_replayed_status_is_ignored(make_station, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="shailoo.dispatch")
    ctx = make_station()
    scan = ctx.device("scan-1")

    def online() -> bool:
        return {d["id"]: d for d in ctx.station.status()["devices"]}["scan-1"]["online"]

    def settled(state: str, fw: str) -> None:
        # A genuine status after the others, told apart by its firmware version: once
        # it shows, the controller has handled everything sent before it.
        scan.status(state, fw=fw, role="scanner")
        wait_until(lambda: {d["id"]: d for d in ctx.station.status()["devices"]}["scan-1"]["fw"]
                   == fw, what=f"status with fw {fw}")

    first = scan.status("online", fw="0.1.0", role="scanner")
    wait_until(online, what="scan-1 online")
    old_online = envelope.seal(scan.key, "scan-1", "up", first, "status",
                               {"state": "online", "fw": "0.1.0", "role": "scanner"})
    # Signed with another key (the broker account is the device's own: the password
    # alone does not make a status).
    scan.status("offline", key=b"\x07" * 32)
    scan.status("online", key=b"\x07" * 32, faults={"engine": "ballot-stuck"}, role="scanner")
    # Unsigned, as statuses used to be; and an empty one clearing the retained topic.
    status_topic = topics.status(ctx.station.station, "scan-1")
    scan.publish(b'{"state": "offline"}', status_topic, retain=True)
    scan.publish(b"", status_topic, retain=True)
    settled("online", "0.1.1")
    assert online()
    assert ctx.station.dispatcher.faults() == {}
    # The device goes offline; its old "online" status replayed does not bring it back.
    scan.status("offline")
    wait_until(lambda: not online(), what="scan-1 offline")
    scan.publish(old_online, status_topic, retain=True)
    settled("offline", "0.1.2")
    assert not online()
    with ctx.station.store.read() as conn:
        assert audit.entries(conn, "device.faults") == []
    ignored = [r.getMessage() for r in caplog.records if "ignored a status" in r.getMessage()]
    assert len(ignored) == 5, ignored
    assert sorted(m.split("(")[1].split(")")[0] for m in ignored) == [
        "bad_tag", "bad_tag", "stale", "unsigned", "unsigned"]


def test_a_days_traffic_sniffed_holds_no_voter_and_no_ballot(
    broker: Broker, make_terminal, make_scanner, controller
) -> None:
    proxy = RecordingProxy((broker.host, broker.port))
    try:
        term = make_terminal(host="127.0.0.1", port=proxy.port)
        scanner = make_scanner(host="127.0.0.1", port=proxy.port)
        ctl = controller(term.device, scanner.device)
        ctl.handlers["checkin.request"] = lambda m: ("checkin.result", {
            "txn": m.body["txn"], "status": "issued",
            "voter": {"row": 17, "name": "ASANOVA AIGUL"}, "style": "s1", "reason": ""})
        term.board.start()
        scanner.board.start()
        term.display.wait_screen("ready")
        scanner.display.wait_screen("ready", counter=0)
        for device in (term.device, scanner.device):
            ctl.wait("hello", pred=lambda m, device=device: m.dev == device)
        term.present(DOC)
        term.display.wait_screen("checkin", status="issued", timeout=30)
        sheet = scanner.insert()
        scanner.display.wait_screen("accepted", timeout=60)
        request = ctl.wait("checkin.request")
        finger = next(iter(ctl.fingers.values()))[1]
        captured = proxy.captured()
    finally:
        proxy.close()
    # The data did cross the proxy: the controller has it, whole.
    assert any("AN1234567" in line for line in request.body["mrz"])
    image = sheet.image.tobytes()
    assert ctl.images[f"{scanner.device}-1-1"] == scanner.expected_sha256()
    assert len(captured) > len(image)
    assert captured[:1] == b"\x16"  # a TLS handshake record opens the capture
    for secret in (b"AN1234567", b"ASANOVA", b"AIGUL", b"21402198500123", b"mrz",
                   b"checkin.request", ST.encode()):
        assert secret not in captured, secret
    for start in range(0, len(image) - 32, len(image) // 16):
        assert image[start:start + 32] not in captured, f"image bytes at {start}"
    for start in range(0, len(finger) - 32, len(finger) // 8):
        assert finger[start:start + 32] not in captured, f"finger bytes at {start}"

