"""The firmware's MQTT client, run in MicroPython, against Mosquitto and a scripted broker."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from firmware.mqtt import encode_length
from hil.broker import Broker, free_port, start_broker
from hil.history import History
from tests.conftest import ROOT, micropython_path

CLIENT = """
import sys, asyncio
from firmware.mqtt import MQTTClient
from firmware.broker_tls import client_context
host, cid = sys.argv[1], sys.argv[3]
port, keepalive, count = int(sys.argv[2]), int(sys.argv[4]), int(sys.argv[5])
user, password, tls = None, None, None
if len(sys.argv) > 6:  # the station broker: TLS with its CA, an account
    user, password = sys.argv[6], sys.argv[7]
    with open(sys.argv[8], "rb") as f:
        tls = client_context(f.read())

def on_message(topic, payload, retained):
    print("got", topic, len(payload), bytes(payload[:20]))

will = ("t/" + cid + "/status", b"offline", 1, True)
c = MQTTClient(cid, host, port, keepalive=keepalive, will=will, on_message=on_message,
               max_incoming=2048, backoff_min=0.2, backoff_max=1, username=user,
               password=password, tls=tls)
c.subscribe("t/" + cid + "/in", 1)

async def main():
    asyncio.create_task(c.run())
    for i in range(count):
        await c.publish("t/" + cid + "/out/%d" % i, b"head-%d|" % i, 1, True, b"attachment" * 50)
        print("acked", i)
        await asyncio.sleep(0.1)
    print("done")
    while True:
        await asyncio.sleep(1)

asyncio.run(main())
"""


class Device:
    """The client script in a micropython process; its stdout lines in ``out``."""

    def __init__(self, tmp: Path, port: int, cid: str, keepalive: int = 30, count: int = 0,
                 broker: Broker | None = None):
        script = tmp / "client.py"
        script.write_text(CLIENT)
        login = []
        if broker is not None:
            # An account with exactly this client's test topics, over TLS.
            account = broker.client_login(cid, read=(f"t/{cid}/#",), write=(f"t/{cid}/#",))
            assert broker.ca_der is not None
            (tmp / "ca.der").write_bytes(broker.ca_der)
            login = [account.username, account.password, str(tmp / "ca.der")]
        self.out: History[str] = History("client")
        self._partial = b""
        self.proc = subprocess.Popen(
            [micropython_path(), "-X", "heapsize=96k", str(script), "127.0.0.1", str(port),
             cid, str(keepalive), str(count), *login],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=dict(os.environ, MICROPYPATH=f"{ROOT}:.frozen"),
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for raw in iter(lambda: self.proc.stdout.read1(65536), b""):
            self._feed(raw)

    def _feed(self, data: bytes) -> None:
        self._partial += data
        while b"\n" in self._partial:
            line, self._partial = self._partial.split(b"\n", 1)
            self.out.append(line.decode(errors="replace"))

    def wait(self, text: str, timeout: float = 20, start: int = 0) -> str:
        return self.out.wait_for(lambda line: text in line, timeout, start, repr(text))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


class Watcher:
    """A paho subscriber that records (topic, payload, retain)."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.got: History[tuple] = History("got")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        name = "watch-" + topic.split("/")[1]
        broker.client_login(name, read=(topic,), write=(topic,)).configure(self.client)
        self.client.on_message = lambda c, u, m: self.got.append((m.topic, m.payload, m.retain))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topic, 1)
        self.client.loop_start()
        assert subscribed.wait(10)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_round_trip_and_retained_will_on_power_cut(tmp_path, broker):
    watcher = Watcher(broker, "t/mq-a/#")
    device = Device(tmp_path, broker.port, "mq-a", count=3, broker=broker)
    try:
        device.wait("done")
        outs = sorted(t for t, _, _ in watcher.got.items() if "/out/" in t)
        assert outs == ["t/mq-a/out/0", "t/mq-a/out/1", "t/mq-a/out/2"]
        # The payload went out in two parts and arrived as one message.
        payload = next(p for t, p, _ in watcher.got.items() if t == "t/mq-a/out/1")
        assert payload == b"head-1|" + b"attachment" * 50
        watcher.client.publish("t/mq-a/in", b"hello device", qos=1).wait_for_publish(10)
        assert "got t/mq-a/in 12 b'hello device'" in device.wait("got t/mq-a/in")
        device.kill()  # power cut: no DISCONNECT, the broker publishes the will
        topic, payload, _ = watcher.got.wait_for(lambda m: m[0] == "t/mq-a/status")
        assert payload == b"offline"
    finally:
        device.kill()
        watcher.stop()
    late = Watcher(broker, "t/mq-a/status")  # retained: a newcomer sees it too
    try:
        assert late.got.wait_for(lambda m: True)[1:] == (b"offline", True)
    finally:
        late.stop()


def test_publishes_during_a_broker_outage_arrive_after_restart(tmp_path):
    port = free_port()
    first = start_broker("mosquitto", port=port)
    device = Device(tmp_path, port, "mq-b", count=40, broker=first)
    try:
        device.wait("acked 3")
        first.stop()  # broker restart: every connection dropped, sessions forgotten
        device.wait("connection lost")
        with start_broker("mosquitto", port=port, like=first) as second:
            device.wait("done", timeout=30)
            acked = [int(line.split()[1]) for line in device.out.items()
                     if line.startswith("acked")]
            assert acked == list(range(40))  # each publish returned once, in order
            # Everything acknowledged by the new broker is really there (retained).
            restart = next(i for i, line in enumerate(device.out.items())
                           if "connection lost" in line)
            after = [int(line.split()[1]) for line in device.out.items()[restart:]
                     if line.startswith("acked")]
            watcher = Watcher(second, "t/mq-b/out/#")
            try:
                for i in after:
                    watcher.got.wait_for(lambda m, i=i: m[0] == f"t/mq-b/out/{i}")
            finally:
                watcher.stop()
            assert len(after) >= 30
    finally:
        device.kill()


class ScriptedBroker:
    """A broker that follows the test's script, to see exactly what the client sends."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.server.settimeout(20)
        self.port = self.server.getsockname()[1]

    def accept(self) -> Conn:
        conn, _ = self.server.accept()
        conn.settimeout(20)
        return Conn(conn)


class Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            part = self.sock.recv(n - len(data))
            if not part:
                raise EOFError("client closed")
            data += part
        return data

    def packet(self) -> tuple[int, bytes]:
        first = self._exact(1)[0]
        n, shift = 0, 0
        while True:
            d = self._exact(1)[0]
            n |= (d & 0x7F) << shift
            shift += 7
            if not d & 0x80:
                break
        return first, self._exact(n)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def publish(self, topic: str, payload: bytes, pid: int) -> None:
        var = struct.pack(">H", len(topic)) + topic.encode() + struct.pack(">H", pid)
        self.send(bytes((0x32,)) + encode_length(len(var) + len(payload)) + var + payload)

    def close(self) -> None:
        self.sock.close()


def _handshake(conn: Conn, session_present: int) -> bytes:
    first, body = conn.packet()
    assert first == 0x10
    conn.send(bytes((0x20, 2, session_present, 0)))
    first, sub = conn.packet()
    assert first == 0x82
    conn.send(bytes((0x90, 3)) + sub[:2] + b"\x01")
    return body


def test_resend_with_dup_and_same_id_keepalive_and_oversized_messages(tmp_path):
    broker = ScriptedBroker()
    device = Device(tmp_path, broker.port, "mq-c", keepalive=2, count=1)
    try:
        conn = broker.accept()
        connect = _handshake(conn, 0)
        flags, keepalive = connect[7], struct.unpack(">H", connect[8:10])[0]
        assert flags & 0x02 == 0  # clean session off
        assert flags & 0x04 and flags & 0x20 and (flags >> 3) & 3 == 1  # retained QoS 1 will
        assert keepalive == 2
        first, body = conn.packet()
        assert first & 0xF0 == 0x30 and not first & 0x08 and (first >> 1) & 3 == 1
        tlen = struct.unpack(">H", body[:2])[0]
        assert body[2 : 2 + tlen] == b"t/mq-c/out/0"
        pid = struct.unpack(">H", body[2 + tlen : 4 + tlen])[0]
        conn.close()  # no PUBACK: the broker went away
        conn = broker.accept()
        _handshake(conn, 1)
        first, again = conn.packet()
        assert first & 0x08, "resent without the DUP flag"
        assert again == body  # same topic, same packet id, same payload
        conn.send(bytes((0x40, 2)) + struct.pack(">H", pid))
        device.wait("acked 0")
        # Incoming QoS 1: acknowledged; an oversized one is skipped but acknowledged too.
        conn.publish("t/mq-c/in", b"x" * 5000, 7)
        conn.publish("t/mq-c/in", b"small", 8)
        acks = []
        while len(acks) < 2:
            first, body = conn.packet()
            if first == 0x40:
                acks.append(struct.unpack(">H", body)[0])
            else:
                assert first == 0xC0  # PINGREQ
                conn.send(bytes((0xD0, 0)))
        assert acks == [7, 8]
        device.wait("dropped a message of more than 2048 bytes")
        assert "got t/mq-c/in 5 b'small'" in device.wait("got t/mq-c/in")
        # Keepalive: a PINGREQ within the keepalive; a broker that stops answering is left.
        first, _ = conn.packet()
        assert first == 0xC0
        device.wait("broker silent", timeout=10)
        conn2 = broker.accept()
        _handshake(conn2, 1)
        conn2.close()
        conn.close()
    finally:
        device.kill()
        broker.server.close()
