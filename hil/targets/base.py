"""What every target is: a board that runs one device's firmware and prints its log.

A target has the device's ``config`` (its ``config.json``), a flash image it builds
with ``firmware.build`` (``build()`` returns the firmware hash), and a console whose
lines land in ``console`` and in ``log_path``. ``start()`` runs the firmware,
``stop()`` ends it for good, ``restart()`` runs it again from the same flash,
``alive()`` says whether it runs. ``power_cut()`` takes the power away at once where
the target has a way to (the virtual board: SIGKILL); a target without one raises
``TargetError``.

Two targets exist: ``hil.targets.virtual.VirtualBoard`` (the firmware in
``micropython`` on this machine, with the heap of the reference board) and
``hil.targets.serial.SerialBoard`` (a board on a serial port, flashed and started
over its raw REPL).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from hil.history import DEFAULT_TIMEOUT, History, RigTimeout

# A console line longer than this is cut: a board printing without newlines must not
# grow the rig's memory without bound.
MAX_CONSOLE_LINE = 4096


class TargetError(RuntimeError):
    """The target cannot be built, reached or started; the message says which and why."""


class Target(ABC):
    """Base of the targets: the device's config, flash image, console and power."""

    kind = ""

    def __init__(self, config: dict[str, Any], flash: Path, log_dir: Path | None = None) -> None:
        self.name: str = config["device"]
        self.role: str = config["role"]
        self.config = dict(config)
        self.flash = Path(flash)
        self.fw_hash: str | None = None
        self.console: History[str] = History(f"{self.name}-console")
        self.resets = 0
        self._partial = b""
        log_dir = Path(log_dir) if log_dir else self.flash.parent
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.name}.console.log"
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self._log_lock = threading.Lock()

    # ---- what each target does its own way -------------------------------------------

    @abstractmethod
    def start(self) -> None:
        """Run the firmware."""

    @abstractmethod
    def stop(self) -> None:
        """End the firmware for good and release the console."""

    @abstractmethod
    def alive(self) -> bool:
        """True while the firmware runs."""

    def power_cut(self) -> None:
        """Take the power away at once; ``TargetError`` where nothing can."""
        raise TargetError(f"{self.name}: this {self.kind} target has no power switch")

    def restart(self) -> None:
        """Power cut, then run the same firmware from the same flash again."""
        self.power_cut()
        self.start()

    # ---- the flash image -------------------------------------------------------------

    def build(self) -> str:
        """Build (or rebuild) the flash image in ``flash``; return the firmware hash."""
        from firmware.build import build_flash

        self.fw_hash = build_flash(self.flash, self.config)
        return self.fw_hash

    def _prepare_image(self, entry: str) -> None:
        """Build the image if ``entry`` is not in it yet; else write the current config.

        The config is rewritten on every start because it names things that change
        between power-ons: a pseudo-terminal's path is whatever number the host hands
        out, so a config kept from an earlier run can point at another process's line.
        """
        if self.fw_hash is None and not (self.flash / entry).exists():
            self.build()
        else:
            from firmware.build import write_config

            write_config(self.flash, self.config)

    # ---- console ---------------------------------------------------------------------

    def _on_console(self, data: bytes) -> None:
        self._partial += data
        while b"\n" in self._partial:
            raw, self._partial = self._partial.split(b"\n", 1)
            self._console_line(raw)
        if len(self._partial) > MAX_CONSOLE_LINE:
            self._console_line(self._partial)
            self._partial = b""

    def _console_line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        self.console.append(line)
        self._write_log(line)

    def _write_log(self, line: str) -> None:
        with self._log_lock:
            if not self._log.closed:
                self._log.write(line + "\n")
                self._log.flush()

    def _close_log(self) -> None:
        with self._log_lock:
            if not self._log.closed:
                self._log.close()

    def wait_console(self, text: str, timeout: float = DEFAULT_TIMEOUT, start: int = 0) -> str:
        """Wait for a console line containing ``text`` (from index ``start`` on)."""
        try:
            return self.console.wait_for(lambda line: text in line, timeout, start, what=repr(text))
        except RigTimeout:
            if not self.alive():
                raise RigTimeout(
                    f"{self.name} stopped before printing {text!r}; "
                    f"console: {self.console.items()[-15:]!r}"
                ) from None
            raise

    def console_tail(self, lines: int = 20) -> str:
        """The last console lines, for error messages."""
        return "\n".join(self.console.items()[-lines:])
