"""The controller's side of the wire, faked for the firmware tests, and device configs.

The boards, their peripherals and their wiring are the rig's own (``hil.device``,
``hil.targets``, ``hil.peripherals``); what the firmware tests add is a controller they
script message by message: ``FakeController`` speaks the signed protocol over
paho-mqtt on the real broker, verifies every up message and answers as each test
tells it to.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from hil.broker import Broker
from hil.history import History
from protocol import blob, envelope, topics
from protocol.errors import ProtocolError
from protocol.replay import NEW, ReplayWindow

STATION = "st-1"

# Answers as the station controller gives them: long Kyrgyz names in Cyrillic (six
# bytes a letter once escaped in the canonical form), its own reason texts, no voter
# when none was found.
NAMES = ("Сыдыков Чыңгыз Асанбекович", "Осмонкулова Үмөт Жыргалбековна",
         "Бакирова Бегимай Өмүрзаковна", "Абдыкадыров Нурсултан Түгөлбаевич")
ANSWERS = (
    ("issued", "ballot issued", True),
    ("already_issued", "a ballot was already issued to this voter", True),
    ("not_on_list", "the document is not on this station's voter list", False),
    ("invalid_document", "check digit wrong: birth_date, composite, document_number", False),
    ("finger_mismatch", "the finger does not match the enrolled one: the chair decides", True),
)


def checkin_answer(msg: envelope.Message) -> tuple[str, dict]:
    """A ``checkin.result`` for a ``checkin.request`` shaped like the controller's: the
    status, name and reason cycle with the transaction's number."""
    n = int(msg.body["txn"].rsplit("-", 1)[1])
    name = NAMES[n % len(NAMES)] + " уулу " + NAMES[(n + 1) % len(NAMES)].split()[0]
    status, reason, known = ANSWERS[n % len(ANSWERS)]
    return ("checkin.result", {"txn": msg.body["txn"], "status": status,
                               "voter": {"row": 1000 + n, "name": name} if known else None,
                               "style": "s-d07" if status == "issued" else None,
                               "reason": reason})


def make_key(device: str) -> bytes:
    """A per-device test key (deterministic, so failures are reproducible)."""
    return hashlib.sha256(b"shailoo-test-key:" + device.encode()).digest()


def device_config(
    device: str, role: str, broker_host: str, broker_port: int, uarts: dict[str, str], **extra: Any
) -> dict:
    """A ``config.json`` for a virtual board."""
    cfg = {
        "device": device,
        "role": role,
        "station": STATION,
        "key": make_key(device).hex(),
        "broker": {"host": broker_host, "port": broker_port},
        "board": "unix",
        "uart": uarts,
        "keepalive": 30,
    }
    cfg.update(extra)
    return cfg


class FakeController:
    """The controller side of the wire, enough to drive the device apps.

    Verifies every up message (tag, replay window), records it in ``messages``,
    and answers through ``handlers[type](msg) -> (type, body) | None``. A duplicate
    seq gets the cached reply again, as the real controller promises.
    """

    def __init__(self, broker: Broker, devices: list[str]) -> None:
        self.keys = {d: make_key(d) for d in devices}
        self.messages: History[envelope.Message] = History("messages")
        self.status: History[tuple[str, dict, bool]] = History("status")
        self.status_counters: History[tuple[str, int]] = History("status counters")
        self.duplicates: History[envelope.Message] = History("duplicates")
        self.refused: History[str] = History("refused")
        self.errors: History[str] = History("errors")
        self.chunks: History[tuple[str, int]] = History("chunks")
        self.handlers: dict[str, Callable[[envelope.Message], tuple[str, dict] | None]] = {}
        self.windows = {d: ReplayWindow() for d in devices}
        self.replies: dict[tuple[str, int], bytes] = {}
        self.down_seq = {d: int(time.time() * 1000) for d in devices}
        self.blobs: dict[str, blob.BlobAssembler] = {}
        self.images: dict[str, str] = {}  # sheet -> sha256 of the reassembled image
        self.fingers: dict[str, tuple[dict, bytes]] = {}  # txn -> (meta, finger bytes)
        self.decide: Callable[[str], tuple[str, str | None, str]] = lambda sheet: (
            "accept", None, "")
        self.handlers["hello"] = lambda m: ("hello.ack", {
            "known": True, "quarantined": False, "polls": "open"})
        self.handlers[blob.END] = self._blob_end
        self.handlers["ballot.dropped"] = lambda m: ("ballot.recorded", {
            "sheet": m.body["sheet"], "cast": m.body["counter"]})
        self.handlers["ballot.returned"] = lambda m: ("ballot.voided", {"sheet": m.body["sheet"]})
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"fake-controller-{os.getpid()}-{id(self)}"
        )
        # The station controller's own account: the broker lets nobody else read uplinks.
        broker.add_station(STATION, self.keys).configure(self.client)
        self.client.on_message = self._on_message
        # Devices may talk only once the broker confirmed the subscriptions (SUBACK).
        subscribed = threading.Event()
        self.client.on_connect = lambda *a: self.client.subscribe([
            (f"shailoo/v1/{STATION}/dev/+/up", 1),
            (f"shailoo/v1/{STATION}/dev/+/status", 1)])
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("fake controller could not connect and subscribe")

    def stop(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()

    def _on_message(self, client: mqtt.Client, userdata: Any, m: mqtt.MQTTMessage) -> None:
        # paho swallows exceptions of callbacks; keep them where a test can see them.
        try:
            self._handle(m)
        except Exception as err:  # noqa: BLE001 - recorded for the test to assert on
            self.errors.append(repr(err))

    def _handle(self, m: mqtt.MQTTMessage) -> None:
        station, device, kind = topics.parse(m.topic)
        if kind == "status":
            # Retained statuses of other tests' devices come too; only its own count.
            if m.payload and device in self.keys:
                # A status is signed like every message (its seq is the status counter).
                status = envelope.parse(m.payload)
                status.verify(self.keys[device])
                assert status.type == "status" and status.dev == device, status.header
                self.status.append((device, status.body, m.retain))
                self.status_counters.append((device, status.seq))
            return
        try:
            msg = envelope.parse(m.payload)
            key = self.keys.get(msg.dev)
            if key is None or msg.dev != device:
                raise ProtocolError("unknown_device", msg.dev)
            msg.verify(key)
        except ProtocolError as err:
            self.refused.append(err.code)
            return
        with self._lock:
            verdict = self.windows[device].accept(msg.seq)
            if verdict != NEW:
                self.duplicates.append(msg)
                cached = self.replies.get((device, msg.seq))
                if cached is not None:
                    self.client.publish(topics.down(STATION, device), cached, qos=1)
                return
            if msg.type == blob.BEGIN:
                self.blobs[msg.body["blob"]] = blob.BlobAssembler(
                    msg.body["blob"], msg.body["kind"], msg.body["meta"], 8 * 1024 * 1024)
            elif msg.type == blob.CHUNK:
                self.blobs[msg.body["blob"]].add(msg.body, msg.attachment)
                self.chunks.append((msg.body["blob"], msg.body["i"]))
            handler = self.handlers.get(msg.type)
            answer = handler(msg) if handler else None
            if msg.type != blob.CHUNK:  # chunks are many; keep the log readable
                self.messages.append(msg)
            if answer is not None:
                self.send(device, answer[0], answer[1], msg.seq)

    def _blob_end(self, msg: envelope.Message) -> tuple[str, dict] | None:
        sheet = msg.body["blob"]
        assembler = self.blobs.pop(sheet)
        data = assembler.finish(msg.body)
        if assembler.kind == "finger":  # a terminal's finger: kept for its check-in
            self.fingers[sheet] = (assembler.meta, data)
            return None
        self.images[sheet] = hashlib.sha256(data).hexdigest()
        decision = self.decide(sheet)
        if decision is None:
            return None
        verdict, reason, text = decision
        return "ballot.decision", {
            "sheet": sheet, "decision": verdict, "reason": reason, "message": text}

    def seal(self, device: str, mtype: str, body: dict, re: int | None = None,
             key: bytes | None = None, seq: int | None = None) -> bytes:
        """A down message as the controller would sign it (or with another ``key``)."""
        if seq is None:
            self.down_seq[device] += 1
            seq = self.down_seq[device]
        return envelope.seal(key or self.keys[device], device, envelope.DOWN, seq, mtype, body, re)

    def send(self, device: str, mtype: str, body: dict, re: int | None = None) -> bytes:
        """Sign and publish a reply; remember it for duplicates."""
        payload = self.seal(device, mtype, body, re)
        if re is not None:
            self.replies[(device, re)] = payload
        self.publish_raw(device, payload, wait=False)
        return payload

    def publish_raw(self, device: str, payload: bytes, wait: bool = True) -> None:
        """Publish any bytes on the device's down topic (``wait``: until the broker has it;
        never from inside a paho callback, which would wait on itself)."""
        info = self.client.publish(topics.down(STATION, device), payload, qos=1)
        if wait:
            info.wait_for_publish(10)

    def wait(self, mtype: str, timeout: float = 20, start: int = 0,
             pred: Callable[[envelope.Message], bool] = lambda m: True) -> envelope.Message:
        """Wait for a verified message of ``mtype``."""
        return self.messages.wait_for(lambda m: m.type == mtype and pred(m), timeout, start, mtype)

    def of_type(self, mtype: str) -> list[envelope.Message]:
        """Every verified message of ``mtype`` so far."""
        return [m for m in self.messages.items() if m.type == mtype]
