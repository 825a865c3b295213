"""A board on a serial port: its flash image put on it and run over the raw REPL.

``SerialBoard`` talks to the board's REPL console with ``mpremote``'s
``SerialTransport`` (any pyserial URL: ``/dev/ttyACM0``, ``socket://host:port``,
``rfc2217://…``). ``start()``:

1. interrupts whatever runs (Ctrl-C) and enters the raw REPL without a soft reset, so
   nothing on the board's flash runs before the new image is on it;
2. puts the image built by ``build()`` on the board's filesystem: every file the
   image's ``manifest.json`` lists, then ``config.json`` and the manifest, skipping a
   file whose SHA-256 on the board already matches (as ``mpremote fs cp`` does); the
   board's own state files (sequence numbers, outbox, journal) are left alone;
3. runs the firmware's ``main()`` and from then on reads the board's output into
   ``console`` and the log file, the raw REPL's framing taken off.

The firmware ends when it returns to the REPL (an error, or ``stop()``'s Ctrl-C) or
when the line goes away (a unix board's reset ends its process); ``alive()`` then
says False. There is no power switch on a serial line: ``power_cut()`` raises
``TargetError``, and a board that resets itself is not restarted by the rig.

What this promises: the same image, config and log as a virtual board, over the
board's real console. What it does not: the board's UARTs are the board's own (its
``config["uart"]`` names pins or device paths on the board), so its peripherals are
whatever is wired to them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from hil.targets.base import Target, TargetError

# What the REPL runs: the image's entry point, found on the board's path as on boot.
RUN = "import sys\n'' in sys.path or sys.path.insert(0, '')\nimport main\nmain.main()\n"
CTRL_C, CTRL_D = b"\x03", b"\x04"
# Raw REPL framing after the firmware's output: EOT, error text, EOT, prompt.
END_OF_OUTPUT = CTRL_D
READ_PERIOD = 0.2
# The image's files are written in pieces of this size (the board's buffer is small).
CHUNK = 256


class SerialBoard(Target):
    """A real board behind ``port``; ``config`` is the device config put on it as is."""

    kind = "serial"

    def __init__(
        self,
        config: dict[str, Any],
        flash: Path,
        port: str,
        baudrate: int = 115200,
        log_dir: Path | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__(config, flash, log_dir)
        self.port = port
        self.baudrate = baudrate
        self.connect_timeout = connect_timeout
        self.written: list[str] = []  # files the last start() wrote (the others matched)
        self._transport: Any = None
        self._reader: threading.Thread | None = None
        self._running = threading.Event()
        self._closing = threading.Event()
        self._eots = 0
        self._lock = threading.Lock()

    # ---- power --------------------------------------------------------------------

    def start(self) -> None:
        """Connect, put the image on the board and run it (building it first if never built)."""
        with self._lock:
            if self.alive():
                raise TargetError(f"{self.name} is already running")
            self._prepare_image("manifest.json")
            self._disconnect()
            transport = self._connect()
            try:
                self.written = self._put_image(transport)
                self._write_log(f"=== {self.port}: image on the board, running main ===")
                transport.exec_raw_no_follow(RUN)
            except Exception as err:
                self._transport = transport
                self._disconnect()
                raise TargetError(f"{self.name} on {self.port}: {err}") from err
            self._transport = transport
            self._eots = 0
            self._closing.clear()
            self._running.set()
            transport.serial.timeout = READ_PERIOD
            self._reader = threading.Thread(
                target=self._read, args=(transport,), name=f"{self.name}-serial", daemon=True
            )
            self._reader.start()

    def _connect(self) -> Any:
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        try:
            # A read timeout: on a pseudo-terminal mpremote reads without asking what is
            # waiting, and a port nobody answers on would hold it for ever.
            transport = SerialTransport(
                self.port, baudrate=self.baudrate, timeout=self.connect_timeout
            )
        except TransportError as err:
            raise TargetError(f"{self.name}: cannot open {self.port}: {err}") from None
        try:
            transport.enter_raw_repl(soft_reset=False, timeout_overall=self.connect_timeout)
        except TransportError as err:
            transport.close()
            raise TargetError(
                f"{self.name}: no MicroPython raw REPL on {self.port} ({err})"
            ) from None
        return transport

    def _put_image(self, transport: Any) -> list[str]:
        manifest_path = self.flash / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
            files = sorted(manifest["files"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise TargetError(f"{self.name}: no usable image in {self.flash}: {err}") from None
        written = []
        made: set[str] = set()
        for rel in [*files, "config.json", "manifest.json"]:
            path = PurePosixPath(rel)
            if path.is_absolute() or ".." in path.parts:
                raise TargetError(f"{self.name}: the manifest names {rel!r}, outside the image")
            for parent in reversed(path.parents[:-1]):
                folder = parent.as_posix()
                if folder not in made:
                    if not transport.fs_exists(folder):
                        transport.fs_mkdir(folder)
                    made.add(folder)
            data = (self.flash / rel).read_bytes()
            if self._same_on_board(transport, rel, data):
                continue
            transport.fs_writefile(rel, data, chunk_size=CHUNK)
            written.append(rel)
        return written

    @staticmethod
    def _same_on_board(transport: Any, rel: str, data: bytes) -> bool:
        if not transport.fs_exists(rel):
            return False
        try:
            return transport.fs_hashfile(rel, "sha256") == hashlib.sha256(data).digest()
        except Exception:  # noqa: BLE001 - a board without hashlib: write the file
            return False

    def _read(self, transport: Any) -> None:
        started = True
        while not self._closing.is_set():
            try:
                data = transport.serial.read(4096)
            except Exception:  # noqa: BLE001 - the line went away (unplugged, board reset)
                break
            if not data:
                continue
            if started:
                # The raw-paste acknowledgement, if any, comes before the firmware speaks.
                data = data.lstrip(CTRL_D)
                started = False
            self._feed(data)
            if self._eots >= 2:
                break
        self._running.clear()

    def _feed(self, data: bytes) -> None:
        # The firmware's output ends at the first EOT; the error text follows up to the
        # second. Both go to the console; the framing bytes do not.
        parts = data.split(END_OF_OUTPUT)
        for n, part in enumerate(parts):
            if n:
                self._eots += 1
                if self._eots == 2:
                    self._on_console(b"\n")
                    self._write_log("=== the firmware returned to the REPL ===")
                    return
            if part:
                self._on_console(part)

    def alive(self) -> bool:
        """True while the firmware runs on the board."""
        return self._running.is_set()

    def stop(self) -> None:
        """Interrupt the firmware (Ctrl-C), leave the raw REPL and let go of the port."""
        with self._lock:
            self._disconnect()
        self._close_log()

    def _disconnect(self) -> None:
        transport, self._transport = self._transport, None
        if transport is None:
            return
        self._closing.set()
        if self._reader is not None:
            self._reader.join(2 * READ_PERIOD + 1)
            self._reader = None
        try:
            transport.serial.write(b"\r" + CTRL_C + CTRL_C)
            # The raw REPL's prompt says the firmware stopped; then back to the friendly REPL.
            transport.read_until(1, b">", timeout=2, timeout_overall=5)
            transport.exit_raw_repl()
        except Exception:  # noqa: BLE001 - the line may already be gone
            pass
        try:
            transport.close()
        except Exception:  # noqa: BLE001 - closing a vanished port
            pass
        self._running.clear()

    def __repr__(self) -> str:
        state = "running" if self.alive() else "idle"
        return f"SerialBoard({self.name}, {self.role}, {self.port}, {state})"
