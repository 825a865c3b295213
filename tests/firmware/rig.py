"""A small rig for the firmware tests: virtual boards, peripherals and a fake controller.

Everything is real where it matters: the firmware runs in ``micropython`` with a
heap limit, its UARTs are pseudo-terminals, the broker is a real broker, and the
fake controller speaks the signed protocol over paho-mqtt. The peripheral ends
(scan engine, document reader, display) are written here with ``drivers``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from drivers import scanlink
from firmware.build import build_flash
from hil.board import heap_for
from protocol import blob, envelope, topics
from protocol.errors import ProtocolError
from protocol.replay import NEW, ReplayWindow
from tests.conftest import micropython_path

STATION = "st-1"


class Lines:
    """A thread-safe log that tests wait on with a bounded timeout."""

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._cond = threading.Condition()

    def append(self, item: Any) -> None:
        """Add an item and wake waiters."""
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def items(self) -> list[Any]:
        """A copy of everything so far."""
        with self._cond:
            return list(self._items)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def wait(self, pred: Callable[[Any], bool], timeout: float = 20, start: int = 0) -> Any:
        """Return the first item at or after index ``start`` that satisfies ``pred``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self._items[start:]:
                    if pred(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout} s; last items: {self._items[-8:]!r}"
                    )
                self._cond.wait(left)


class Pty:
    """A pseudo-terminal pair in raw mode: the board opens ``path``, the test uses ``master``."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> None:
        """Write everything (blocking until the board has room)."""
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def flush(self) -> None:
        """Drop bytes the board has not read (a real UART loses them while the board is off)."""
        termios.tcflush(self.slave, termios.TCIFLUSH)

    def close(self) -> None:
        """Close both ends."""
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def _reader(fd: int, sink: Callable[[bytes], None]) -> threading.Thread:
    def loop() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            sink(data)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


class Display:
    """Reads the display UART: one JSON screen per line into ``screens``."""

    def __init__(self) -> None:
        self.pty = Pty()
        self.screens = Lines()
        self._partial = b""
        _reader(self.pty.master, self._feed)

    def _feed(self, data: bytes) -> None:
        self._partial += data
        while b"\n" in self._partial:
            line, self._partial = self._partial.split(b"\n", 1)
            if line.strip():
                self.screens.append(json.loads(line))

    def wait(self, screen: str, timeout: float = 20, start: int = 0, **fields: Any) -> dict:
        """Wait for a screen named ``screen`` whose fields include ``fields``."""
        return self.screens.wait(
            lambda s: s.get("screen") == screen
            and all(s.get(k) == v for k, v in fields.items()),
            timeout,
            start,
        )


class Board:
    """A virtual board: the firmware of ``flash`` in ``micropython`` with a heap limit.

    The console (stdin/stdout/stderr) is a pseudo-terminal; its lines go to ``console``.
    """

    def __init__(self, flash: Path, heap: str) -> None:
        self.flash = flash
        self.heap = heap
        self.console = Lines()
        self.process: subprocess.Popen | None = None
        self._partial = b""
        self._pty: Pty | None = None

    def start(self) -> None:
        """Power on."""
        self._pty = Pty()
        self.process = subprocess.Popen(
            [micropython_path(), "-X", f"heapsize={self.heap}", "main.py"],
            cwd=self.flash,
            stdin=self._pty.slave,
            stdout=self._pty.slave,
            stderr=self._pty.slave,
            env={"PATH": os.environ.get("PATH", ""), "MICROPYPATH": ".frozen"},
        )
        os.close(self._pty.slave)
        _reader(self._pty.master, self._feed)

    def _feed(self, data: bytes) -> None:
        self._partial += data
        while b"\n" in self._partial:
            line, self._partial = self._partial.split(b"\n", 1)
            self.console.append(line.decode(errors="replace").rstrip("\r"))

    def wait_console(self, text: str, timeout: float = 20, start: int = 0) -> str:
        """Wait for a console line containing ``text``."""
        return self.console.wait(lambda line: text in line, timeout, start)

    def kill(self) -> None:
        """Power cut: SIGKILL, no chance to clean up."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def restart(self) -> None:
        """Power cut, then power on again."""
        self.kill()
        self.start()

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """End the process at teardown."""
        self.kill()
        if self._pty:
            try:
                os.close(self._pty.master)
            except OSError:
                pass


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


def make_board(flash: Path, cfg: dict) -> Board:
    """Build the flash directory and return the (not yet started) board."""
    build_flash(flash, cfg)
    return Board(flash, heap_for(cfg["role"], cfg["uart"]))


class FakeController:
    """The controller side of the wire, enough to drive the device apps.

    Verifies every up message (tag, replay window), records it in ``messages``,
    and answers through ``handlers[type](msg) -> (type, body) | None``. A duplicate
    seq gets the cached reply again, as the real controller promises.
    """

    def __init__(self, host: str, port: int, devices: list[str]) -> None:
        self.keys = {d: make_key(d) for d in devices}
        self.messages = Lines()
        self.status = Lines()
        self.duplicates = Lines()
        self.refused = Lines()
        self.errors = Lines()
        self.chunks = Lines()
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
        self.client.on_message = self._on_message
        # Devices may talk only once the broker confirmed the subscriptions (SUBACK).
        subscribed = threading.Event()
        self.client.on_connect = lambda *a: self.client.subscribe([
            (f"shailoo/v1/{STATION}/dev/+/up", 1),
            (f"shailoo/v1/{STATION}/dev/+/status", 1)])
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(host, port)
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
            if m.payload:
                self.status.append((device, json.loads(m.payload), m.retain))
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
        return self.messages.wait(lambda m: m.type == mtype and pred(m), timeout, start)

    def of_type(self, mtype: str) -> list[envelope.Message]:
        """Every verified message of ``mtype`` so far."""
        return [m for m in self.messages.items() if m.type == mtype]


def image_row(index: int, width: int) -> bytes:
    """A deterministic grey row: a ramp shifted by the row index."""
    return bytes((index * 7 + x) & 0xFF for x in range(width))


class EngineSim:
    """The scan engine end of the ``scan`` UART, speaking ``drivers.scanlink`` frames.

    ``insert()`` puts a sheet in (PAPER event); FEED answers SHEET, NEXT sends rows,
    DROP/RETURN answer DONE. ``fault_on`` maps a command type to a fault code to
    answer once; ``hold`` is a set of command types to leave unanswered (a stuck
    mechanism) until ``release()``.
    """

    def __init__(self, width: int = 200, height: int = 60, dpi: int = 200) -> None:
        self.pty = Pty()
        self.width, self.height, self.dpi = width, height, dpi
        self.paper = False
        self.flags_extra = 0
        self.sent = 0
        self.commands = Lines()
        self.fault_on: dict[int, int] = {}
        self.hold: set[int] = set()
        self.corrupt_row: int | None = None
        self.held: list[tuple[int, bytes]] = []
        self.streamed = 0
        self.image_hash = hashlib.sha256()
        self._rows = [image_row(i, width) for i in range(256)]
        self._decoder = scanlink.FrameDecoder()
        self._lock = threading.Lock()
        _reader(self.pty.master, self._feed)

    def expected_sha256(self) -> str:
        """SHA-256 of the image this engine scans."""
        h = hashlib.sha256()
        for i in range(self.height):
            h.update(self._rows[i % 256])
        return h.hexdigest()

    def _send(self, ftype: int, payload: bytes = b"") -> None:
        try:
            self.pty.write(scanlink.encode(ftype, payload))
        except OSError:
            pass  # the board is off (power cut): the frame is lost, as on a real wire

    def insert(self) -> None:
        """A voter inserts a sheet."""
        with self._lock:
            self.paper = True
            self._send(scanlink.PAPER, b"\x01")

    def keep_streaming(self, first: int = 0, interval: float = 0.02) -> threading.Event:
        """Go on sending ROW frames of the current sheet from row ``first``, one every
        ``interval`` seconds, starting in the middle of a frame, until the returned event
        is set: an engine still answering the NEXTs of a board that has just restarted
        (a NEXT of many rows of a wide sheet lasts seconds at a UART's baud rate).
        Answers to commands go out between rows, never inside one; ``streamed`` counts
        the rows sent."""
        stop = threading.Event()

        def stream() -> None:
            index = first
            while not stop.is_set():
                frame = scanlink.encode(
                    scanlink.ROW, scanlink.row_payload(index, self._rows[index % 256]))
                with self._lock:
                    try:
                        self.pty.write(frame[len(frame) // 2:] if index == first else frame)
                    except OSError:
                        return
                    self.streamed += 1
                index += 1
                time.sleep(interval)

        self.streamed = 0
        threading.Thread(target=stream, daemon=True).start()
        return stop

    def drop_held(self) -> None:
        """Forget held commands without answering them (the board lost power meanwhile)."""
        with self._lock:
            self.hold.clear()
            self.held = []

    def release(self) -> None:
        """Answer the held commands now."""
        with self._lock:
            self.hold.clear()
            held, self.held = self.held, []
        for ftype, payload in held:
            self._command(ftype, payload)

    def _feed(self, data: bytes) -> None:
        for ftype, payload in self._decoder.feed(data):
            self.commands.append(ftype)
            with self._lock:
                if ftype in self.hold:
                    self.held.append((ftype, payload))
                    continue
            self._command(ftype, payload)

    def _command(self, ftype: int, payload: bytes) -> None:
        with self._lock:
            fault = self.fault_on.pop(ftype, None)
            if fault is not None:
                self._send(scanlink.FAULT, bytes((fault,)))
                if fault == scanlink.F_JAM:
                    self.flags_extra |= scanlink.JAM
                return
            if ftype == scanlink.STATUS:
                flags = (scanlink.PAPER_PRESENT if self.paper else 0) | self.flags_extra
                self._send(scanlink.R_STATUS, bytes((flags,)))
            elif ftype == scanlink.FEED:
                if not self.paper:
                    self._send(scanlink.FAULT, bytes((scanlink.F_NO_PAPER,)))
                    return
                self.sent = 0
                sheet = scanlink.sheet_payload(self.width, self.height, self.dpi)
                self._send(scanlink.SHEET, sheet)
            elif ftype == scanlink.NEXT:
                for _ in range(payload[0]):
                    if self.sent >= self.height:
                        break
                    row = self._rows[self.sent % 256]
                    frame = scanlink.encode(scanlink.ROW, scanlink.row_payload(self.sent, row))
                    if self.sent == self.corrupt_row:
                        self.corrupt_row = None
                        frame = frame[:-1] + bytes((frame[-1] ^ 0xFF,))  # CRC no longer fits
                    try:
                        self.pty.write(frame)
                    except OSError:
                        pass
                    self.sent += 1
                if self.sent >= self.height:
                    self._send(scanlink.END, self.height.to_bytes(2, "big"))
            elif ftype in (scanlink.DROP, scanlink.RETURN):
                self.paper = False
                self._send(scanlink.DONE, bytes((ftype,)))
            else:
                self._send(scanlink.FAULT, bytes((scanlink.F_BAD_COMMAND,)))
