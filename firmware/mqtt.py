"""A small asyncio MQTT 3.1.1 client for MicroPython (also runs under CPython).

What it promises:

* CONNECT with a client id, clean session off by default, keepalive, a last will
  and optional username/password; CONNACK refusals are reported by name.
* QoS 0 and QoS 1 publishing. A QoS 1 ``publish`` returns only after the broker's
  PUBACK. Unacknowledged packets survive a dropped connection: after reconnecting
  they are sent again, in their original order, with the DUP flag and their
  original packet ids.
* Payloads may be given as two parts (``payload`` and ``attachment``) that go to
  the socket one after the other, so a large attachment is never copied into a
  joined buffer.
* Subscriptions (QoS 0/1) are sent again on every connect, whether or not the
  broker kept the session.
* Received QoS 1 messages are acknowledged after ``on_message`` returned, so a
  message whose handler never ran (power cut) is redelivered by the broker.
* PINGREQ when nothing was sent for half the keepalive; a connection that stays
  silent for 1.5 keepalives is dropped. Reconnects back off exponentially
  (``backoff_min`` doubling up to ``backoff_max`` seconds) with random jitter.

What it does not do: QoS 2 (a QoS 2 delivery is acknowledged as far as needed and
passed on, but exactly-once is not promised), TLS (the reference board wraps the
socket with ``ssl`` before handing it over; not wired here), persistence of in-flight
packets across a power cut (that is ``firmware.outbox``'s job), and incoming packets
larger than ``max_incoming`` bytes (they are read, dropped, logged and acknowledged so
the broker does not redeliver them forever).
"""

import asyncio
import os
import struct

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
PUBREC = 0x50
PUBREL = 0x60
PUBCOMP = 0x70
SUBSCRIBE = 0x80
SUBACK = 0x90
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0

MAX_REMAINING = 268435455
WRITE_PIECE = 1024
_IPPROTO_TCP = 6  # not exported by MicroPython's socket module
_TCP_NODELAY = 1
CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


# MicroPython has no builtin TimeoutError; asyncio's is the one both interpreters raise.
Timeout = asyncio.TimeoutError


class MQTTError(Exception):
    """A protocol violation by the peer or a refused connection."""


def encode_length(n):
    """Remaining-length field: 7 bits per byte, high bit = more bytes follow."""
    if n < 0 or n > MAX_REMAINING:
        raise MQTTError("remaining length %d out of range" % n)
    out = bytearray()
    while True:
        digit = n & 0x7F
        n >>= 7
        if n:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def decode_length(data):
    """Decode a remaining-length field at the start of ``data``; return ``(n, used bytes)``."""
    n = 0
    shift = 0
    for i in range(4):
        if i >= len(data):
            raise MQTTError("truncated remaining length")
        d = data[i]
        n |= (d & 0x7F) << shift
        if not d & 0x80:
            return n, i + 1
        shift += 7
    raise MQTTError("remaining length longer than 4 bytes")


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    if len(s) > 0xFFFF:
        raise MQTTError("string field longer than 65535 bytes")
    return struct.pack(">H", len(s)) + s


def connect_packet(client_id, keepalive, clean=False, will=None, username=None, password=None):
    """CONNECT packet bytes. ``will`` is ``(topic, payload, qos, retain)`` or None."""
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _str(topic) + _str(message)
    if username is not None:
        flags |= 0x80
        payload += _str(username)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
    var = _str("MQTT") + struct.pack(">BBH", 4, flags, keepalive)
    return bytes((CONNECT,)) + encode_length(len(var) + len(payload)) + var + payload


def publish_header(topic, payload_len, qos=0, retain=False, pid=0, dup=False):
    """Fixed and variable header of a PUBLISH whose payload is ``payload_len`` bytes long."""
    first = PUBLISH | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    var = _str(topic)
    if qos:
        var += struct.pack(">H", pid)
    return bytes((first,)) + encode_length(len(var) + payload_len) + var


def subscribe_packet(pid, topics):
    """SUBSCRIBE for ``[(topic, qos)]``."""
    body = struct.pack(">H", pid)
    for topic, qos in topics:
        body += _str(topic) + bytes((qos,))
    return bytes((SUBSCRIBE | 0x02,)) + encode_length(len(body)) + body


def parse_publish(first, body):
    """Split a received PUBLISH into ``(topic, payload, qos, retain, dup, pid)``."""
    qos = (first >> 1) & 3
    if qos == 3:
        raise MQTTError("PUBLISH with QoS 3")
    if len(body) < 2:
        raise MQTTError("PUBLISH too short")
    tlen = struct.unpack(">H", body[:2])[0]
    pos = 2 + tlen
    if pos > len(body):
        raise MQTTError("PUBLISH topic overruns the packet")
    topic = bytes(body[2:pos]).decode()
    pid = 0
    if qos:
        if pos + 2 > len(body):
            raise MQTTError("PUBLISH without packet id")
        pid = struct.unpack(">H", body[pos : pos + 2])[0]
        pos += 2
    return topic, bytes(body[pos:]), qos, bool(first & 1), bool(first & 8), pid


def _nodelay(writer):
    """Turn Nagle's algorithm off: a packet goes out in pieces (header, payload,
    attachment) and Nagle would hold each piece for the peer's delayed ACK (~40 ms)."""
    sock = getattr(writer, "s", None)  # MicroPython's Stream keeps its socket here
    if sock is None and hasattr(writer, "get_extra_info"):
        sock = writer.get_extra_info("socket")
    try:
        sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
    except (AttributeError, OSError, TypeError):
        pass  # not a TCP socket (or a port without the option): slower, still correct


def _random_unit():
    """A random number in [0, 1) from os.urandom (both interpreters have it)."""
    return struct.unpack(">H", os.urandom(2))[0] / 65536


def _log(*args):
    print("[mqtt]", *args)


class MQTTClient:
    """One connection to one broker, kept up by ``run()``.

    ``on_message(topic, payload, retained)`` is a plain function called for each
    received PUBLISH; it must not wait for anything (hand work to a task).
    ``on_connect(session_present)`` is an optional coroutine function started as a
    task after every successful connect (subscriptions done, old packets resent).
    """

    def __init__(
        self,
        client_id,
        host,
        port=1883,
        keepalive=30,
        clean=False,
        will=None,
        username=None,
        password=None,
        on_message=None,
        on_connect=None,
        max_inflight=8,
        max_incoming=16384,
        backoff_min=0.5,
        backoff_max=30,
        connect_timeout=10,
    ):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.clean = clean
        self.will = will
        self.username = username
        self.password = password
        self.on_message = on_message
        self.on_connect = on_connect
        self.max_inflight = max_inflight
        self.max_incoming = max_incoming
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.connect_timeout = connect_timeout
        self.subscriptions = []
        self.connected = False
        self.connects = 0
        self._reader = None
        self._writer = None
        self._pid = 0
        # pid -> [first byte, rest of header, payload, attachment, done event, sent once];
        # _order holds pids in send order, so a resend keeps the original order.
        self._inflight = {}
        self._order = []
        self._lock = asyncio.Lock()
        self._up = asyncio.Event()
        self._lost = asyncio.Event()
        self._space = asyncio.Event()
        self._suback = asyncio.Event()
        self._last_tx = 0
        self._last_rx = 0
        self._ping_sent = False
        self._stopping = False

    # ---- public API -------------------------------------------------------

    def subscribe(self, topic, qos=1):
        """Add a subscription; it is (re)sent on every connect."""
        self.subscriptions.append((topic, qos))

    async def wait_connected(self):
        """Return once a connection is up (subscriptions done)."""
        while not self.connected:
            await self._up.wait()

    async def publish(self, topic, payload, qos=0, retain=False, attachment=b""):
        """Publish ``payload`` (+ ``attachment`` sent right after it, not joined).

        QoS 0: sent if connected, else dropped; returns whether it was written.
        QoS 1: returns True after PUBACK, waiting across reconnects. Cancelling the
        call (e.g. ``asyncio.wait_for``) gives the packet up; it may still arrive.
        """
        size = len(payload) + len(attachment)
        if qos == 0:
            if not self.connected:
                return False
            head = publish_header(topic, size, 0, retain)
            return await self._send(head, payload, attachment)
        if qos != 1:
            raise MQTTError("QoS %r is not supported for publishing" % (qos,))
        while len(self._inflight) >= self.max_inflight:
            self._space.clear()
            await self._space.wait()
        pid = self._next_pid()
        header = publish_header(topic, size, 1, retain, pid)
        done = asyncio.Event()
        entry = [header[0], header[1:], payload, attachment, done, False]
        self._inflight[pid] = entry
        self._order.append(pid)
        try:
            if self.connected:
                entry[5] = True
                await self._send(header, payload, attachment)
            await done.wait()
        finally:
            self._forget(pid)
        return True

    async def disconnect(self):
        """Send DISCONNECT (no will) and stop ``run()``."""
        self._stopping = True
        if self.connected:
            await self._send(bytes((DISCONNECT, 0)))
        self._drop("disconnect requested")

    async def run(self):
        """Connect, serve and reconnect until ``disconnect()``; never raises on I/O errors."""
        failures = 0
        while not self._stopping:
            try:
                session = await self._open()
            except (OSError, EOFError, MQTTError, Timeout) as err:
                self._close_socket()
                failures += 1
                delay = min(self.backoff_max, self.backoff_min * (1 << min(failures - 1, 16)))
                # Jitter spreads a station's devices out after a broker restart.
                delay = delay * (0.5 + _random_unit() / 2)
                _log("connect to %s:%d failed (%s); retry in %d ms" % (
                    self.host, self.port, _errtext(err), int(delay * 1000)))
                await asyncio.sleep(delay)
                continue
            failures = 0
            self.connects += 1
            tasks = [asyncio.create_task(self._read_loop()), asyncio.create_task(self._ping_loop())]
            try:
                await self._after_connect(session)
            except (OSError, EOFError, MQTTError, Timeout) as err:
                self._drop("setup failed: %s" % _errtext(err))
            await self._lost.wait()
            for task in tasks:
                task.cancel()
            self._close_socket()
            if not self._stopping:
                await asyncio.sleep(self.backoff_min * (0.5 + _random_unit() / 2))

    # ---- connection -------------------------------------------------------

    async def _open(self):
        self._lost = asyncio.Event()
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.connect_timeout
        )
        _nodelay(self._writer)
        packet = connect_packet(
            self.client_id, self.keepalive, self.clean, self.will, self.username, self.password
        )
        self._writer.write(packet)
        await self._writer.drain()
        first, body = await asyncio.wait_for(self._read_packet(), self.connect_timeout)
        if first != CONNACK or len(body) != 2:
            raise MQTTError("expected CONNACK, got packet type 0x%02x" % first)
        if body[1]:
            raise MQTTError("broker refused: " + CONNACK_REASONS.get(body[1], "code %d" % body[1]))
        now = ticks_ms()
        self._last_tx = now
        self._last_rx = now
        self._ping_sent = False
        return bool(body[0] & 1)

    async def _after_connect(self, session):
        if self.subscriptions:
            self._suback.clear()
            await self._send(subscribe_packet(self._next_pid(), self.subscriptions), check=True)
            await asyncio.wait_for(self._suback.wait(), self.connect_timeout)
        # Index loop: publishes made while this runs are appended and sent here too.
        i = 0
        while i < len(self._order):
            entry = self._inflight.get(self._order[i])
            i += 1
            if entry is None:
                continue
            if entry[5]:
                entry[0] |= 0x08  # DUP: the broker may have seen it already
            entry[5] = True
            await self._send(bytes((entry[0],)) + entry[1], entry[2], entry[3], check=True)
        self.connected = True
        self._up.set()
        self._up = asyncio.Event()
        _log("connected to %s:%d (session %s)" % (self.host, self.port,
                                                    "kept" if session else "new"))
        if self.on_connect is not None:
            asyncio.create_task(self.on_connect(session))

    def _drop(self, why):
        if not self._lost.is_set():
            if self.connected:
                _log("connection lost:", why)
            self.connected = False
            self._lost.set()

    def _close_socket(self):
        writer = self._writer
        self._writer = None
        self._reader = None
        self.connected = False
        if writer is not None:
            try:
                writer.close()
            except OSError:
                pass

    # ---- sending ----------------------------------------------------------

    def _next_pid(self):
        while True:
            self._pid = self._pid % 0xFFFF + 1
            if self._pid not in self._inflight:
                return self._pid

    def _forget(self, pid):
        if self._inflight.pop(pid, None) is not None:
            self._order.remove(pid)
            self._space.set()

    async def _send(self, *parts, check=False):
        """Write one packet (given in parts) atomically with respect to other senders.

        Returns False when there is no connection or it broke; with ``check`` an
        error is raised instead (used while setting a connection up).
        """
        async with self._lock:
            writer = self._writer
            if writer is None or self._lost.is_set():
                if check:
                    raise MQTTError("not connected")
                return False
            try:
                for part in parts:
                    if len(part) <= WRITE_PIECE:
                        if part:
                            writer.write(part)
                        continue
                    # A stream that cannot take a write at once copies what is left;
                    # pieces keep that copy small instead of a whole image chunk.
                    view = memoryview(part)
                    for start in range(0, len(view), WRITE_PIECE):
                        writer.write(view[start : start + WRITE_PIECE])
                        await writer.drain()
                await writer.drain()
            except OSError as err:
                self._drop("write failed: %s" % _errtext(err))
                if check:
                    raise
                return False
            self._last_tx = ticks_ms()
            return True

    # ---- receiving --------------------------------------------------------

    async def _read_packet(self):
        reader = self._reader
        first = (await reader.readexactly(1))[0]
        lenbytes = b""
        while True:
            b = await reader.readexactly(1)
            lenbytes += b
            if not b[0] & 0x80:
                break
            if len(lenbytes) == 4:
                raise MQTTError("remaining length longer than 4 bytes")
        n, _ = decode_length(lenbytes)
        self._last_rx = ticks_ms()
        if n > self.max_incoming:
            # Keep the stream in step, but never hold the oversized packet in RAM.
            if first & 0xF0 != PUBLISH:
                raise MQTTError("packet type 0x%02x of %d bytes" % (first, n))
            head = await reader.readexactly(2)
            tlen = struct.unpack(">H", head)[0]
            head += await reader.readexactly(min(tlen + 2, n - 2))
            left = n - len(head)
            while left:
                left -= len(await reader.readexactly(min(left, 512)))
            return first, _Oversized(head)
        body = await reader.readexactly(n) if n else b""
        return first, body

    async def _read_loop(self):
        try:
            while True:
                first, body = await self._read_packet()
                await self._handle(first, body)
        except (OSError, EOFError, MQTTError, ValueError) as err:
            self._drop("read failed: %s" % _errtext(err))

    async def _handle(self, first, body):
        kind = first & 0xF0
        if kind == PUBLISH:
            await self._on_publish(first, body)
        elif kind == PUBACK:
            if len(body) != 2:
                raise MQTTError("malformed PUBACK")
            entry = self._inflight.get(struct.unpack(">H", body)[0])
            if entry is not None:
                entry[4].set()
        elif kind == SUBACK:
            if len(body) < 3:
                raise MQTTError("malformed SUBACK")
            for code in body[2:]:
                if code == 0x80:
                    _log("broker refused a subscription")
            self._suback.set()
        elif kind == PINGRESP:
            self._ping_sent = False
        elif kind == PUBREL:
            if len(body) != 2:
                raise MQTTError("malformed PUBREL")
            await self._send(bytes((PUBCOMP, 2)) + body)
        elif kind == CONNACK:
            raise MQTTError("unexpected CONNACK")
        else:
            _log("ignoring packet type 0x%02x" % kind)

    async def _on_publish(self, first, body):
        if isinstance(body, _Oversized):
            topic, _, qos, _, _, pid = parse_publish(first, body.head)
            _log("dropped a message of more than %d bytes on %s" % (self.max_incoming, topic))
        else:
            topic, payload, qos, retain, _, pid = parse_publish(first, body)
            if self.on_message is not None:
                try:
                    self.on_message(topic, payload, retain)
                except Exception as err:  # noqa: BLE001 - a bad handler must not kill the link
                    _log("message handler failed on %s: %s" % (topic, _errtext(err)))
        if qos == 1:
            await self._send(bytes((PUBACK, 2)) + struct.pack(">H", pid))
        elif qos == 2:
            await self._send(bytes((PUBREC, 2)) + struct.pack(">H", pid))

    async def _ping_loop(self):
        half = self.keepalive * 500
        while True:
            await asyncio.sleep(min(1, self.keepalive / 4) if self.keepalive else 1)
            if not self.keepalive or not self.connected:
                continue
            now = ticks_ms()
            if ticks_diff(now, self._last_rx) > self.keepalive * 1500:
                self._drop("broker silent for %d s" % (ticks_diff(now, self._last_rx) // 1000))
                return
            if ticks_diff(now, self._last_tx) >= half and not self._ping_sent:
                self._ping_sent = True
                await self._send(bytes((PINGREQ, 0)))


class _Oversized:
    """Marks a PUBLISH that was too large to keep; ``head`` is its topic and packet id."""

    def __init__(self, head):
        self.head = head


def _errtext(err):
    text = str(err)
    return type(err).__name__ + (": " + text if text else "")
