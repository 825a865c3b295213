"""A simulated scan engine: paper feeder + line sensor on the scanner's ``scan`` UART.

It speaks the engine side of the scan engine link (docs/wire.md) with
``drivers.scanlink``: a voter ``insert``s a sheet (a grey image, 0 black, 255 white)
and the engine announces PAPER; FEED pulls it in and answers SHEET; every NEXT n
sends at most n ROW frames, then END after the last row; DROP moves the sheet into
the ballot box and RETURN pushes it back out to the voter, both confirmed by DONE.
STATUS reports the sensors.

The engine is the physical truth of the rig: ``box`` lists the sheets that went
into the ballot box and ``returned`` those handed back to a voter, whatever the
firmware or controller believe. A scenario checks counts against it.

Sensors: paper present, jam, double sheet and cover open are answered to STATUS;
every change of the jam, double-sheet and cover flags is also announced at once
with an unsolicited SENSORS frame, as a real engine's sensor interrupt would.

Faults are armed with ``arm(Fault(...))`` and fire once: a jam at a command or row
(the JAM flag stays until ``clear_jam()``), a double sheet on FEED (the DOUBLE flag
stays until the sheets are returned), a ROW frame with a broken CRC, the cover
opened at a command or row (until ``close_cover()``). A poll worker clearing a jam
either leaves the sheet in the path (``clear_jam()``) or takes it out
(``clear_jam(take_out=True)``).

A stalled mechanism is ``hold``: command types in that set are recorded but left
unanswered until ``release()`` answers them or ``drop_held()`` forgets them (the
board lost power meanwhile). ``keep_streaming`` plays an engine that goes on sending
the rows of its sheet after the board went away, as one still working through a long
NEXT does.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers import scanlink
from hil.history import History, RigTimeout
from hil.peripherals.base import Peripheral
from hil.pty import PtyClosed, PtyPair

_numbers = itertools.count(1)
COMMAND_NAMES = {
    scanlink.STATUS: "STATUS",
    scanlink.FEED: "FEED",
    scanlink.NEXT: "NEXT",
    scanlink.DROP: "DROP",
    scanlink.RETURN: "RETURN",
}


@dataclass(eq=False)
class Sheet:
    """One physical sheet of paper: its image, scan resolution and who brought it.

    ``image`` is a 2-D uint8 array (0 black, 255 white) or a PIL image (made grey).
    """

    image: np.ndarray
    dpi: int
    label: str = ""
    number: int = field(default_factory=lambda: next(_numbers))
    # Where the sheet has been, in order: "inserted", "fed", "dropped", "returned".
    path: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if hasattr(self.image, "convert"):  # a PIL image, as the ballot renderer makes
            self.image = self.image.convert("L")
        image = np.asarray(self.image)
        if image.ndim != 2 or image.dtype != np.uint8:
            raise ValueError("a sheet image is a 2-D array of uint8 grey levels")
        height, width = image.shape
        if not 0 < width <= scanlink.MAX_PAYLOAD - 2 or not 0 < height <= 0xFFFF:
            raise ValueError(f"a sheet of {width}x{height} pixels does not fit the link")
        self.image = np.ascontiguousarray(image)

    @property
    def width(self) -> int:
        """Pixels per scan line."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Scan lines."""
        return int(self.image.shape[0])

    def __repr__(self) -> str:
        return f"Sheet(#{self.number} {self.label!r} {self.width}x{self.height} {self.path})"


@dataclass
class Fault:
    """A fault that fires once.

    ``kind``: ``"jam"`` (answer FAULT jam, JAM flag until ``clear_jam``), ``"double"``
    (FEED answers FAULT double sheet, DOUBLE flag until the sheets are returned),
    ``"corrupt_row"`` (the ROW frame of ``row`` goes out with a broken CRC), ``"cover"``
    (FAULT cover open, COVER flag until ``close_cover``). ``command`` (a ``scanlink``
    command type) and ``row`` say when: a jam with ``row`` set fires on the NEXT that
    would send that row.
    """

    kind: str
    command: int | None = None
    row: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("jam", "double", "corrupt_row", "cover"):
            raise ValueError(f"unknown fault kind {self.kind!r}")


class EngineError(RuntimeError):
    """The engine cannot do what the voter or operator asked (e.g. a sheet is already in)."""


class ScanEngine(Peripheral):
    """The engine end of one scanner's ``scan`` UART, served by a daemon thread."""

    kind = "scan-engine"
    uart = "scan"

    def __init__(self, name: str = "scan", pair: PtyPair | None = None) -> None:
        super().__init__(name, pair)
        self.sheet: Sheet | None = None
        self.fed = False
        self.rows_sent = 0
        self.flags = 0  # JAM / COVER_OPEN, kept until cleared
        self.faults: list[Fault] = []
        self.box: History[Sheet] = History(f"{name}-box")
        self.returned: History[Sheet] = History(f"{name}-returned")
        # The frame type of every command the board sent, in order.
        self.commands: History[int] = History(f"{name}-commands")
        self.frames_sent = 0
        self.hold: set[int] = set()
        self.held: list[tuple[int, bytes]] = []
        self.streamed = 0
        # Called in the engine's thread with (command type, payload) as each command
        # arrives, before the engine acts on it: where a scenario cuts the power at an
        # exact step ("the board sent DROP").
        self.before_command: Callable[[int, bytes], None] | None = None
        self._decoder = scanlink.FrameDecoder()
        self._lock = threading.Condition()
        self._thread = self.listen(self._feed)

    @property
    def bad_frames(self) -> int:
        """Frames from the board whose CRC failed."""
        return self._decoder.bad_frames

    # ---- what voters and poll workers do ------------------------------------------

    def insert(self, sheet: Sheet) -> Sheet:
        """A voter puts ``sheet`` into the throat; the engine announces PAPER."""
        with self._lock:
            if self.sheet is not None:
                raise EngineError(f"{self.name}: {self.sheet!r} is still in the scanner")
            self.sheet = sheet
            self.fed = False
            self.rows_sent = 0
            sheet.path.append("inserted")
            self._lock.notify_all()
        self._send(scanlink.PAPER, b"\x01")
        return sheet

    def take_back(self) -> Sheet | None:
        """The voter pulls the sheet out of the throat before it was fed (or after a jam)."""
        with self._lock:
            sheet, self.sheet = self.sheet, None
            self.fed = False
            if sheet is not None:
                sheet.path.append("taken")
            self._lock.notify_all()
        if sheet is not None:
            self._send(scanlink.PAPER, b"\x00")
        return sheet

    def arm(self, fault: Fault) -> None:
        """Arm a fault; it fires once, at the first moment it matches."""
        with self._lock:
            self.faults.append(fault)

    def clear_jam(self, take_out: bool = False) -> Sheet | None:
        """A poll worker clears the paper path, leaving the sheet in it or taking it out
        (``take_out``: the sheet goes back to the voter's hand; it is returned here)."""
        sheet = self.take_back() if take_out else None
        self._set_flags(clear=scanlink.JAM)
        return sheet

    def open_cover(self) -> None:
        """A poll worker opens the cover."""
        self._set_flags(add=scanlink.COVER_OPEN)

    def close_cover(self) -> None:
        """A poll worker closes the cover."""
        self._set_flags(clear=scanlink.COVER_OPEN)

    def _set_flags(self, add: int = 0, clear: int = 0) -> None:
        with self._lock:
            before = self.flags
            self.flags = (self.flags | add) & ~clear
            changed = self.flags != before
            payload = bytes((self._sensor_flags(),))
        if changed:
            self._send(scanlink.SENSORS, payload)

    def _sensor_flags(self) -> int:
        return self.flags | (scanlink.PAPER_PRESENT if self.sheet is not None else 0)

    def release(self) -> None:
        """The stalled mechanism moves again: answer the held commands now."""
        with self._lock:
            self.hold.clear()
            held, self.held = self.held, []
        for ftype, payload in held:
            self._command(ftype, payload)

    def drop_held(self) -> None:
        """Forget held commands unanswered (the board that sent them lost power)."""
        with self._lock:
            self.hold.clear()
            self.held = []

    def keep_streaming(self, first: int = 0, interval: float = 0.02) -> threading.Event:
        """Go on sending the ROW frames of the sheet inside from row ``first``, one every
        ``interval`` seconds (wrapping round at its end), the first one cut to its second
        half, until the returned event is set: an engine still answering the NEXT of a
        board that has just restarted. Answers to commands go out between rows, never
        inside one (each frame is one write on the line); ``streamed`` counts the rows."""
        with self._lock:
            sheet = self.sheet
        if sheet is None:
            raise EngineError(f"{self.name}: no sheet inside to stream")
        stop = threading.Event()
        self.streamed = 0

        def stream() -> None:
            index = first
            while not stop.is_set():
                row = index % sheet.height
                frame = scanlink.encode(
                    scanlink.ROW, scanlink.row_payload(row, sheet.image[row].tobytes())
                )
                try:
                    self.pair.write(frame[len(frame) // 2 :] if index == first else frame)
                except PtyClosed:
                    return
                self.streamed += 1
                index += 1
                # The pace of the rows is what this plays; there is no event to wait on.
                stop.wait(interval)

        threading.Thread(target=stream, name=f"{self.name}-stream", daemon=True).start()
        return stop

    # ---- waiting ------------------------------------------------------------------

    def wait_rows(self, count: int, timeout: float) -> int:
        """Wait until ``count`` rows of the current sheet went out; return the number sent."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not (self.fed and self.rows_sent >= count):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RigTimeout(
                        f"{self.name}: {self.rows_sent} rows sent, not {count}, "
                        f"within {timeout:g} s"
                    )
                self._lock.wait(left)
            return self.rows_sent

    def wait_settled(self, sheet: Sheet, timeout: float) -> str:
        """Wait until ``sheet`` left the engine; return ``"dropped"`` or ``"returned"``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.sheet is sheet:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RigTimeout(f"{self.name}: {sheet!r} still inside after {timeout:g} s")
                self._lock.wait(left)
        return sheet.path[-1]

    # ---- the link -----------------------------------------------------------------

    def _send(self, ftype: int, payload: bytes = b"", corrupt: bool = False) -> None:
        frame = scanlink.encode(ftype, payload)
        if corrupt:
            frame = frame[:-1] + bytes((frame[-1] ^ 0xFF,))
        try:
            self.pair.write(frame)
        except PtyClosed:
            return
        self.frames_sent += 1

    def _fault(self, command: int, row: int | None = None) -> Fault | None:
        for fault in self.faults:
            if fault.kind == "corrupt_row":
                continue
            if fault.command not in (None, command):
                continue
            if fault.row is not None and (row is None or fault.row != row):
                continue
            if fault.kind == "double" and command != scanlink.FEED:
                continue
            self.faults.remove(fault)
            return fault
        return None

    def _corrupt(self, row: int) -> bool:
        for fault in self.faults:
            if fault.kind == "corrupt_row" and fault.row == row:
                self.faults.remove(fault)
                return True
        return False

    def _feed(self, data: bytes) -> None:
        for ftype, payload in self._decoder.feed(data):
            self.commands.append(ftype)
            hook = self.before_command
            if hook is not None:
                hook(ftype, payload)
            with self._lock:
                if ftype in self.hold:
                    self.held.append((ftype, payload))
                    continue
            self._command(ftype, payload)

    def _command(self, ftype: int, payload: bytes) -> None:
        # Decide under the lock, write after it: a write may wait on a slow board, and a
        # voter inserting a sheet meanwhile must not wait on that.
        out: list[tuple[int, bytes, bool]] = []
        with self._lock:
            self._decide(ftype, payload, out)
            self._lock.notify_all()
        for frame_type, frame_payload, corrupt in out:
            self._send(frame_type, frame_payload, corrupt)
        if ftype == scanlink.NEXT:
            with self._lock:
                self._lock.notify_all()

    def _fail(self, out: list[Any], fault: Fault) -> None:
        code, flag = {
            "jam": (scanlink.F_JAM, scanlink.JAM),
            "double": (scanlink.F_DOUBLE, scanlink.DOUBLE),
            "cover": (scanlink.F_COVER, scanlink.COVER_OPEN),
        }[fault.kind]
        self.flags |= flag
        self.fed = False
        out.append((scanlink.FAULT, bytes((code,)), False))
        out.append((scanlink.SENSORS, bytes((self._sensor_flags(),)), False))

    def _decide(self, ftype: int, payload: bytes, out: list[Any]) -> None:
        sheet = self.sheet
        if ftype == scanlink.STATUS:
            out.append((scanlink.R_STATUS, bytes((self._sensor_flags(),)), False))
            return
        if ftype not in COMMAND_NAMES:
            out.append((scanlink.FAULT, bytes((scanlink.F_BAD_COMMAND,)), False))
            return
        if self.flags & scanlink.COVER_OPEN:
            out.append((scanlink.FAULT, bytes((scanlink.F_COVER,)), False))
            return
        if self.flags & scanlink.JAM:
            out.append((scanlink.FAULT, bytes((scanlink.F_JAM,)), False))
            return
        if self.flags & scanlink.DOUBLE and ftype != scanlink.RETURN:
            out.append((scanlink.FAULT, bytes((scanlink.F_DOUBLE,)), False))
            return
        if sheet is None:
            out.append((scanlink.FAULT, bytes((scanlink.F_NO_PAPER,)), False))
            return
        if ftype == scanlink.FEED:
            fault = self._fault(ftype)
            if fault is not None:
                self._fail(out, fault)
                return
            self.fed = True
            self.rows_sent = 0
            sheet.path.append("fed")
            size = scanlink.sheet_payload(sheet.width, sheet.height, sheet.dpi)
            out.append((scanlink.SHEET, size, False))
        elif ftype == scanlink.NEXT:
            if not self.fed or len(payload) != 1:
                out.append((scanlink.FAULT, bytes((scanlink.F_BAD_COMMAND,)), False))
                return
            for _ in range(payload[0]):
                if self.rows_sent >= sheet.height:
                    break
                index = self.rows_sent
                fault = self._fault(ftype, index)
                if fault is not None:
                    self._fail(out, fault)
                    return
                row = sheet.image[index].tobytes()
                out.append((scanlink.ROW, scanlink.row_payload(index, row), self._corrupt(index)))
                self.rows_sent += 1
            if self.rows_sent >= sheet.height:
                out.append((scanlink.END, sheet.height.to_bytes(2, "big"), False))
        else:  # DROP or RETURN
            fault = self._fault(ftype)
            if fault is not None:
                self._fail(out, fault)
                return
            self.sheet = None
            self.fed = False
            if ftype == scanlink.DROP:
                sheet.path.append("dropped")
                self.box.append(sheet)
            else:
                sheet.path.append("returned")
                self.returned.append(sheet)
            out.append((scanlink.DONE, bytes((ftype,)), False))
            if self.flags & scanlink.DOUBLE:
                # Both sheets are back in the voter's hand: the sensor sees one again.
                self.flags &= ~scanlink.DOUBLE
                out.append((scanlink.SENSORS, bytes((self._sensor_flags(),)), False))
