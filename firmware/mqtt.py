"""A small asyncio MQTT 3.1.1 client for MicroPython (also runs under CPython).

What it promises:

* CONNECT with a client id, clean session off by default, keepalive, a last will
  and optional username/password; a refused CONNACK is logged with its code.
* QoS 0 and QoS 1 publishing. A QoS 1 ``publish`` returns only after the broker's
  PUBACK. Unacknowledged packets survive a dropped connection: after reconnecting
  they are sent again, in their original order, with the DUP flag and their
  original packet ids.
* A payload may come in two parts (``payload`` and ``attachment``) that go to the
  socket one after the other, never joined into one buffer; ``payload`` may itself be
  a list of pieces.
* Subscriptions are sent again on every connect, whether or not the broker kept
  the session.
* A received QoS 1 message is acknowledged after ``on_message`` returned. If the
  handler runs out of memory the message is not acknowledged and the connection is
  dropped, so the broker delivers it again; any other handler error is logged and
  the message acknowledged (a bug must not stall the link).
* PINGREQ when nothing was sent for half the keepalive; a connection that stays
  silent for 1.5 keepalives is dropped. Reconnects back off exponentially
  (``backoff_min`` doubling up to ``backoff_max`` seconds) with random jitter.
* TCP_NODELAY, so a packet written in pieces is not held back by Nagle's algorithm.

* TLS when given a context (``firmware.broker_tls``: the station CA, the broker's
  certificate and host name checked), on both interpreters; the connection is then
  refused unless the broker proves it holds a certificate of the station CA.

What it does not do: QoS 2 (subscriptions ask for QoS 1 at most), client
certificates (a device logs in with its user name and password), persistence of
in-flight packets across a power cut (that is ``firmware.outbox``'s job), and
incoming packets larger than ``max_incoming`` bytes (they are read in small pieces,
dropped, logged and acknowledged, so the broker does not redeliver them forever).
"""

import asyncio
import os
import struct
import sys

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x80)
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)
_MAX_REMAINING = const(268435455)
_WRITE_PIECE = const(1024)
_IPPROTO_TCP = const(6)  # not exported by MicroPython's socket module
_TCP_NODELAY = const(1)

_MICROPYTHON = sys.implementation.name == "micropython"
# MicroPython has no builtin TimeoutError; asyncio's is the one both interpreters raise.
Timeout = asyncio.TimeoutError
_IO_ERRORS = (OSError, EOFError, ValueError, Timeout)


class MQTTError(ValueError):
    """A protocol violation by the peer or a refused connection."""


def encode_length(n):
    """Remaining-length field: 7 bits per byte, high bit = more bytes follow."""
    if n < 0 or n > _MAX_REMAINING:
        raise MQTTError("remaining length %d out of range" % n)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    if len(s) > 0xFFFF:
        raise MQTTError("string field longer than 65535 bytes")
    return struct.pack(">H", len(s)) + s


def _packet(first, body):
    return bytes((first,)) + encode_length(len(body)) + body


def connect_packet(client_id, keepalive, clean=False, will=None, username=None, password=None):
    """CONNECT packet bytes. ``will`` is ``(topic, payload, qos, retain)`` or None."""
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will is not None:
        flags |= 0x04 | (will[2] << 3) | (0x20 if will[3] else 0)
        payload += _str(will[0]) + _str(will[1])
    if username is not None:
        flags |= 0x80
        payload += _str(username)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
    return _packet(_CONNECT, _str("MQTT") + struct.pack(">BBH", 4, flags, keepalive) + payload)


def publish_header(topic, size, qos=0, retain=False, pid=0):
    """Fixed and variable header of a PUBLISH whose payload is ``size`` bytes long."""
    var = _str(topic) + (struct.pack(">H", pid) if qos else b"")
    return bytes((_PUBLISH | (qos << 1) | (1 if retain else 0),)) + encode_length(
        len(var) + size) + var


def parse_publish(first, body):
    """Split a received PUBLISH into ``(topic, payload, qos, retain, pid)``."""
    qos = (first >> 1) & 3
    if qos == 3 or len(body) < 2:
        raise MQTTError("malformed PUBLISH")
    pos = 2 + struct.unpack(">H", body[:2])[0]
    pid = 0
    if qos:
        if pos + 2 > len(body):
            raise MQTTError("PUBLISH without packet id")
        pid = struct.unpack(">H", body[pos : pos + 2])[0]
    if pos > len(body):
        raise MQTTError("PUBLISH topic overruns the packet")
    try:
        topic = bytes(body[2:pos]).decode()
    except UnicodeError:
        # MQTT topics are UTF-8; a broker that sends anything else is not one to trust.
        raise MQTTError("PUBLISH topic is not UTF-8")
    return topic, bytes(body[pos + (2 if qos else 0) :]), qos, bool(first & 1), pid


async def _open_tls(host, port, ctx):
    """A TLS stream to ``host:port`` whose socket has TCP_NODELAY (MicroPython).

    ``asyncio.open_connection`` wraps its socket before anyone can set the option,
    and a TLS socket has no ``setsockopt``. Without it a message written in pieces
    waits at every piece for the broker's delayed ACK: 40 ms a message, two minutes
    for one ballot image.
    """
    import errno
    import select
    import socket

    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    sock = socket.socket(ai[0], ai[1], ai[2])
    try:
        try:
            sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
        except OSError:
            pass  # slower, still correct
        sock.setblocking(False)
        try:
            sock.connect(ai[-1])
        except OSError as err:
            if err.errno != errno.EINPROGRESS:
                raise
        poller = select.poll()
        poller.register(sock, select.POLLOUT | select.POLLERR | select.POLLHUP)
        while not poller.poll(0):
            await asyncio.sleep_ms(10)
        # The handshake runs in the stream's first reads and writes, without blocking.
        wrapped = ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        wrapped.setblocking(False)
    except BaseException:
        sock.close()
        raise
    from firmware.broker_tls import TlsStream

    stream = TlsStream(sock, wrapped)
    return stream, stream


def _nodelay(writer):
    sock = getattr(writer, "s", None)  # MicroPython's Stream keeps its socket here
    if sock is None and hasattr(writer, "get_extra_info"):
        sock = writer.get_extra_info("socket")
    try:
        sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
    except (AttributeError, OSError, TypeError):
        pass  # not a TCP socket: slower, still correct


def _jitter(delay):
    """``delay`` scaled by a random factor in [0.5, 1): spreads reconnecting devices."""
    return delay * (0.5 + struct.unpack(">H", os.urandom(2))[0] / 131072)


def _log(*args):
    print("[mqtt]", *args)


def _why(err):
    return "%s %s" % (type(err).__name__, err)


class MQTTClient:
    """One connection to one broker, kept up by ``run()``.

    ``on_message(topic, payload, retained)`` is a plain function called for each
    received PUBLISH; it must not wait for anything (hand work to a task).
    ``on_connect(session_present)`` is an optional coroutine function started as a
    task after every successful connect (subscriptions done, old packets resent).
    """

    def __init__(self, client_id, host, port=1883, keepalive=30, clean=False, will=None,
                 username=None, password=None, on_message=None, on_connect=None,
                 max_inflight=8, max_incoming=16384, backoff_min=0.5, backoff_max=30,
                 connect_timeout=10, tls=None):
        self.client_id = client_id
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.clean = clean
        # ``will`` may be a function giving the will at each connect (a will that
        # carries a counter of its connection).
        self.will = will
        self._login = (username, password)
        self.on_message = on_message
        self.on_connect = on_connect
        self.max_inflight = max_inflight
        self.max_incoming = max_incoming
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.connect_timeout = connect_timeout
        self.tls = tls
        self.subscriptions = []
        self.connected = False
        self.connects = 0
        self._reader = None
        self._writer = None
        self._pid = 0
        # pid -> [header, payload, attachment, done event, sent before]; _order keeps
        # send order, so a resend after reconnecting keeps the original order.
        self._inflight = {}
        self._order = []
        self._lock = asyncio.Lock()
        self._lost = asyncio.Event()
        self._space = asyncio.Event()
        self._suback = asyncio.Event()
        self._last_tx = 0
        self._last_rx = 0
        self._stopping = False

    def subscribe(self, topic, qos=1):
        """Add a subscription (QoS 0 or 1); it is (re)sent on every connect."""
        self.subscriptions.append((topic, min(qos, 1)))

    async def publish(self, topic, payload, qos=0, retain=False, attachment=b""):
        """Publish ``payload`` (+ ``attachment`` sent right after it, not joined).

        ``payload`` is bytes or a list of bytes pieces sent one after the other (a
        message read from flash in small blocks).

        QoS 0: sent if connected, else dropped; returns whether it was written.
        QoS 1: returns True after PUBACK, waiting across reconnects. Cancelling the
        call (e.g. ``asyncio.wait_for``) gives the packet up; it may still arrive.
        """
        size = len(attachment)
        for piece in payload if isinstance(payload, list) else (payload,):
            size += len(piece)
        if not qos:
            if not self.connected:
                return False
            return await self._send(publish_header(topic, size, 0, retain), payload, attachment)
        while len(self._inflight) >= self.max_inflight:
            self._space.clear()
            await self._space.wait()
        pid = self._pid
        while True:
            pid = pid % 0xFFFE + 1
            if pid not in self._inflight:
                break
        self._pid = pid
        header = bytearray(publish_header(topic, size, 1, retain, pid))
        entry = [header, payload, attachment, asyncio.Event(), self.connected]
        self._inflight[pid] = entry
        self._order.append(pid)
        try:
            if entry[4]:
                await self._send(header, payload, attachment)
            await entry[3].wait()
        finally:
            if self._inflight.pop(pid, None) is not None:
                self._order.remove(pid)
                self._space.set()
        return True

    async def disconnect(self):
        """Send DISCONNECT (so no will) and stop ``run()``."""
        self._stopping = True
        if self.connected:
            await self._send(bytes((_DISCONNECT, 0)))
        self._drop("disconnect requested")

    async def run(self):
        """Connect, serve and reconnect until ``disconnect()``; I/O errors never escape."""
        failures = 0
        while not self._stopping:
            self._lost = asyncio.Event()
            try:
                session = await self._open()
            except _IO_ERRORS as err:
                self._close()
                failures += 1
                delay = _jitter(min(self.backoff_max, self.backoff_min * (1 << min(failures, 16))))
                _log("connect to %s:%d failed (%s); retry in %d ms" % (
                    self.host, self.port, _why(err), delay * 1000))
                await asyncio.sleep(delay)
                continue
            failures = 0
            self.connects += 1
            tasks = (asyncio.create_task(self._read_loop()), asyncio.create_task(self._pinger()))
            try:
                await self._setup(session)
            except _IO_ERRORS as err:
                self._drop("setup failed: %s" % _why(err))
            await self._lost.wait()
            for task in tasks:
                task.cancel()
            self._close()
            if not self._stopping:
                await asyncio.sleep(_jitter(self.backoff_min))

    async def _open(self):
        if self.tls is None:
            opening = asyncio.open_connection(self.host, self.port)
        elif _MICROPYTHON:
            opening = _open_tls(self.host, self.port, self.tls)
        else:  # CPython sets TCP_NODELAY on its transports itself
            opening = asyncio.open_connection(self.host, self.port, ssl=self.tls,
                                              server_hostname=self.host)
        self._reader, self._writer = await asyncio.wait_for(opening, self.connect_timeout)
        _nodelay(self._writer)
        will = self.will() if callable(self.will) else self.will
        self._writer.write(connect_packet(self.client_id, self.keepalive, self.clean, will,
                                          self._login[0], self._login[1]))
        await self._writer.drain()
        first, body = await asyncio.wait_for(self._read_packet(), self.connect_timeout)
        if first != _CONNACK or len(body) != 2:
            raise MQTTError("expected CONNACK, got packet type 0x%02x" % first)
        if body[1]:
            raise MQTTError("broker refused the connection, code %d" % body[1])
        self._last_tx = self._last_rx = ticks_ms()
        return bool(body[0] & 1)

    async def _setup(self, session):
        if self.subscriptions:
            self._suback.clear()
            body = struct.pack(">H", 0xFFFF)  # publishes use ids 1..0xFFFE only
            for topic, qos in self.subscriptions:
                body += _str(topic) + bytes((qos,))
            await self._send(_packet(_SUBSCRIBE | 2, body), check=True)
            await asyncio.wait_for(self._suback.wait(), self.connect_timeout)
        # Index loop: publishes made while this runs are appended and sent here too.
        i = 0
        while i < len(self._order):
            entry = self._inflight.get(self._order[i])
            i += 1
            if entry is not None:
                if entry[4]:
                    entry[0][0] |= 0x08  # DUP: the broker may have seen it already
                entry[4] = True
                await self._send(entry[0], entry[1], entry[2], check=True)
        self.connected = True
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

    def _close(self):
        writer = self._writer
        self._writer = self._reader = None
        self.connected = False
        if writer is not None:
            try:
                writer.close()
            except OSError:
                pass

    async def _send(self, *parts, check=False):
        """Write one packet (given in parts), not interleaved with other senders.

        Returns False when there is no connection or it broke; with ``check`` the
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
                    for piece in part if isinstance(part, list) else (part,):
                        if len(piece) <= _WRITE_PIECE:
                            if piece:
                                writer.write(piece)
                            continue
                        # A stream that cannot take a write at once copies what is left;
                        # pieces keep that copy small instead of a whole image chunk.
                        view = memoryview(piece)
                        for start in range(0, len(view), _WRITE_PIECE):
                            writer.write(view[start : start + _WRITE_PIECE])
                            await writer.drain()
                await writer.drain()
            except OSError as err:
                self._drop("write failed: %s" % _why(err))
                if check:
                    raise
                return False
            self._last_tx = ticks_ms()
            return True

    async def _read_packet(self):
        """Next packet as ``(first byte, body)``. For a PUBLISH the body is its payload
        (None when the packet is over ``max_incoming``) and its topic and packet id are in
        ``self._head``."""
        reader = self._reader
        # Every packet has at least two header bytes: read together, a PUBACK takes two
        # reads, not three (each read is a trip through the TLS layer and the poller).
        fixed = await reader.readexactly(2)
        first, d = fixed[0], fixed[1]
        n = d & 0x7F
        for shift in (7, 14, 21, 28):
            if not d & 0x80:
                break
            if shift == 28:
                raise MQTTError("remaining length longer than 4 bytes")
            d = (await reader.readexactly(1))[0]
            n |= (d & 0x7F) << shift
        self._last_rx = ticks_ms()
        if first & 0xF0 != _PUBLISH:
            if n > self.max_incoming:
                raise MQTTError("packet type 0x%02x of %d bytes" % (first, n))
            return first, (await reader.readexactly(n) if n else b"")
        if n < 2:
            raise MQTTError("malformed PUBLISH")
        # Topic and packet id first, then the payload read as a block of its own: sliced
        # out of the whole packet it would be a second copy on a small heap. An oversized
        # payload is read past in small pieces, which keeps the stream in step.
        head = await reader.readexactly(2)
        head += await reader.readexactly(
            min(struct.unpack(">H", head)[0] + (2 if first & 0x06 else 0), n - 2))
        self._head = head
        left = n - len(head)
        if n <= self.max_incoming:
            return first, (await reader.readexactly(left) if left else b"")
        while left:
            left -= len(await reader.readexactly(min(left, 512)))
        return first, None

    async def _read_loop(self):
        try:
            while True:
                first, body = await self._read_packet()
                kind = first & 0xF0
                if kind == _PUBLISH:
                    await self._on_publish(first, body)
                elif kind == _PUBACK and len(body) == 2:
                    entry = self._inflight.get(struct.unpack(">H", body)[0])
                    if entry is not None:
                        entry[3].set()
                elif kind == _SUBACK and len(body) >= 3:
                    if 0x80 in body[2:]:
                        _log("broker refused a subscription")
                    self._suback.set()
                elif kind == _PINGRESP:
                    pass
                else:
                    raise MQTTError("unexpected packet type 0x%02x" % first)
        except _IO_ERRORS as err:
            self._drop("read failed: %s" % _why(err))
        except MemoryError:
            # The packet is not acknowledged: the broker delivers it again after the
            # reconnect, when the heap may have the room.
            self._drop("out of memory reading a packet")

    async def _on_publish(self, first, body):
        topic, _, qos, retain, pid = parse_publish(first, self._head)
        if body is None:
            _log("dropped a message of more than %d bytes on %s" % (self.max_incoming, topic))
        else:
            if self.on_message is not None:
                try:
                    self.on_message(topic, body, retain)
                except MemoryError:
                    # Not acknowledged: the broker delivers it again after a reconnect.
                    self._drop("out of memory handling a message on " + topic)
                    return
                except Exception as err:  # noqa: BLE001 - a bad handler must not kill the link
                    _log("message handler failed on %s: %s" % (topic, _why(err)))
        if qos:
            await self._send(struct.pack(">BBH", _PUBACK, 2, pid))

    async def _pinger(self):
        while True:
            await asyncio.sleep(1)
            if not self.keepalive or not self.connected:
                continue
            now = ticks_ms()
            if ticks_diff(now, self._last_rx) > self.keepalive * 1500:
                self._drop("broker silent for %d s" % (ticks_diff(now, self._last_rx) // 1000))
                return
            if ticks_diff(now, self._last_tx) >= self.keepalive * 500:
                await self._send(bytes((_PINGREQ, 0)))
