"""Ballot scanner: paper in, image streamed, decision applied, nothing lost or doubled.

States (one sheet at a time; ``STATES`` below, entered only by ``Scanner._enter``,
which writes the journal, shows the state's screen and logs ``state <name>``)::

    READY --paper--> SCANNING --blob.end--> DECIDING --accept--> DROPPING --> ACCEPTED --> READY
                        |                      '--return/timeout--> RETURNING --> RETURNED --> READY
                        '--fault--> FAULT --cleared--> RETURNING --> RETURNED --> READY
    DROPPING --jam/cover--> JAMMED --cleared, sheet still in--> ACCEPTED
                              '--cleared, sheet taken out--> RETURNED (removed, not counted)

A double sheet or a corrupt row goes from SCANNING straight to RETURNING.

The journal ``journal.json`` = ``{"phase": "idle"|"scanning"|"dropping"|"jammed",
"sheet": S, "counter": n}`` is written before each step that moves paper, and the
public counter lives in it:

1. ``scanning`` is written before FEED. The image goes out as ``blob.begin``, one
   ``blob.chunk`` per ``ROWS_PER_CHUNK`` rows (one reused buffer: never more than
   one chunk of the image in RAM) and ``blob.end``. Chunks are not durable.
2. The ``ballot.decision`` answering ``blob.end`` (by ``re``) decides. No decision
   within ``decision_timeout`` seconds returns the sheet with reason ``timeout``.
3. Accept: ``dropping`` with ``counter`` = n + 1 is the commit point; then DROP;
   then ``ballot.dropped`` into the outbox; then the journal goes back to ``idle``
   with the new counter.
4. Return: RETURN, ``ballot.returned`` into the outbox, journal ``idle``.
5. The engine refuses the DROP (jam, cover opened, sheet gone): the sheet is not in
   the box, so it is not counted. ``jammed`` goes into the journal, the screen says
   that an accepted ballot is stuck and not counted, the device's status carries the
   fault ``engine: ballot-stuck`` (the station dashboard shows it) and an ``event``
   tells the audit log. When the poll worker has cleared the path, a sheet still in
   the path is dropped and counted; a sheet taken out is reported returned
   (``removed``) and the voter inserts it again. A DROP that gets no answer at
   all is different: the engine may have moved the sheet, so paper gone means
   dropped, as after a power cut.

At boot the journal is replayed: ``dropping`` finishes the drop (DROP if the sheet
is still in the feeder) and (re)sends ``ballot.dropped`` unless it is still in the
outbox; ``jammed`` drops a sheet still in the path and reports a missing one
returned; ``scanning`` returns the sheet and sends ``ballot.returned``. A resent
message for a sheet the controller already settled is harmless: its effects are
idempotent per sheet id. The engine may still be sending the rows of the sheet
scanned before the restart; the link resynchronises before its first command
(``drivers.scanlink``), so those rows are never read as answers.
"""

import asyncio
import gc

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


from drivers import scanlink
from drivers.scanlink import ScanEngine, ScanFault
from firmware import store
from protocol.blob_sender import BlobSender
from protocol.messages import (
    BALLOT_DECISION,
    BALLOT_DROPPED,
    BALLOT_RECORDED,
    BALLOT_RETURNED,
    BALLOT_VOIDED,
    BLOB_BEGIN,
    BLOB_CHUNK,
    BLOB_END,
    EVENT,
)

JOURNAL = "journal.json"
ROWS_PER_CHUNK = 8
# One chunk buffer (the device's scratch buffer, allocated first at boot while the heap
# is still in one piece): 4 rows of a 1700-pixel sheet (8.5 in at 200 dpi), 8 rows of a
# sheet up to 850 pixels wide. It was twice that, which left a jammed ballot's event,
# status and screen no room in the 128 KB heap: the board died of MemoryError in the
# fault paths. On a full-size sheet the extra round trips cost far less time than the
# rows take to come over the engine's UART.
CHUNK_BYTES = 4 * 1700

# Timings, in milliseconds (``decision_timeout``, in seconds, comes from the config; the
# engine link's own timeouts and its drain are in ``drivers/scanlink.py``). Compile-time
# constants: they take no heap.
_UPLOAD_MS = const(20000)  # an image message or event not acknowledged by then: upload_failed
_HOLD_MS = const(1000)  # accepted/returned stays on the screen this long before ready
_STATUS_RETRY_MS = const(1000)  # the engine did not answer STATUS: ask again after this
_CLEAR_POLL_MS = const(500)  # a jam, open cover or double sheet not cleared yet: look again
_LINK_RETRY_MS = const(1000)  # the engine link failed while waiting for paper: listen again

# The states, by number; ``STATES[n]`` is the name of state n, which is also the name of
# its screen where it has one (DECIDING, DROPPING and RETURNING leave the screen as it
# is), and ``PHASE_OF[n]`` the journal phase it writes (None: the journal stays).
_READY = const(0)  # waiting for paper
_SCANNING = const(1)  # FEED, image streamed to the controller
_DECIDING = const(2)  # blob.end sent, waiting for ballot.decision
_DROPPING = const(3)  # accepted: counter n + 1 journaled (the commit point), DROP
_ACCEPTED = const(4)  # in the box, ballot.dropped in the outbox
_RETURNING = const(5)  # RETURN until the engine confirms or the sheet is gone
_RETURNED = const(6)  # back with the voter, ballot.returned in the outbox
_JAMMED = const(7)  # an accepted sheet the engine would not drop: not in the box, not counted
_FAULT = const(8)  # a sensor or engine fault, shown until cleared
STATES = ("ready", "scanning", "deciding", "dropping", "accepted", "returning", "returned",
          "jammed", "fault")
PHASE_OF = ("idle", "scanning", None, "dropping", "idle", None, "idle", "jammed", None)
PHASES = ("idle", "scanning", "dropping", "jammed")
REASONS = {
    0: "engine_timeout",
    scanlink.F_JAM: "jam",
    scanlink.F_DOUBLE: "double_sheet",
    scanlink.F_COVER: "cover_open",
    scanlink.F_NO_PAPER: "no_paper",
    scanlink.F_BAD_COMMAND: "engine_error",
    scanlink.F_CORRUPT: "corrupt_scan",
}
# What the screen tells the voter and the poll worker, one ``key<TAB>text`` line each,
# read from the flash when shown: held in the heap as constants, these texts took
# 1.6 KB that a sheet in the middle of its upload could not spare (and a file is
# where a translated set of texts goes).
TEXTS = "scanner_texts.txt"
FALLBACK = "Please take your ballot and insert it again."
# Fault codes in the device status (docs/wire.md): what the dashboard shows.
STATUS_CODES = {scanlink.JAM: "jam", scanlink.COVER_OPEN: "cover-open",
                scanlink.DOUBLE: "double-sheet"}
BAD_FLAGS = scanlink.JAM | scanlink.DOUBLE | scanlink.COVER_OPEN
# An answer from the engine to DROP that says the sheet did not move.
REFUSED = (scanlink.F_JAM, scanlink.F_COVER, scanlink.F_DOUBLE, scanlink.F_NO_PAPER)


class UploadFailed(Exception):
    """The image could not be handed to the broker in time."""


def _log(*args):
    print("[scanner]", *args)


def _s(ms):
    return ms / 1000


def message(path, key, default=FALLBACK):
    """The text for ``key`` in the texts file at ``path``; ``default`` when the file or
    the line is missing (a screen without its text is better than no screen)."""
    head = key + "\t"
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(head):
                    return line[len(head):].rstrip("\r\n")
    except OSError:
        pass
    return default


class Scanner:
    """The ballot flow of one scanner."""

    def __init__(self, device):
        self.device = device
        self.link = device.link
        self.display = device.display
        self.decision_timeout = device.config["decision_timeout"]
        self.journal_path = device.path(JOURNAL)
        self.texts_path = device.path(TEXTS)
        journal = store.read_json(self.journal_path, {"phase": "idle", "sheet": None, "counter": 0})
        if not isinstance(journal, dict) or journal.get("phase") not in PHASES or not isinstance(
                journal.get("counter"), int):
            raise ValueError("journal %s is not a scanner journal" % self.journal_path)
        self.journal = journal
        # In "dropping" and "jammed" the journal holds the counter the drop will give.
        self.counter = journal["counter"] if journal["phase"] in ("idle", "scanning") else (
            journal["counter"] - 1)
        self.sheets = 0
        self.state = _READY
        self.buf = device.buffer(CHUNK_BYTES)
        # Nothing waits for the confirmations of drop and return reports; left to the
        # link's reply buffer they would hold about 1 KB of heap each.
        self.link.handlers[BALLOT_RECORDED] = self._confirmed
        self.link.handlers[BALLOT_VOIDED] = self._confirmed
        reader, writer = device.board.uart("scan")
        self.engine = ScanEngine(reader, writer)

    def _message(self, key, default=FALLBACK):
        return message(self.texts_path, key, default)

    def _confirmed(self, msg):
        _log("controller confirms %s %s" % (msg.type, msg.body.get("sheet")))

    # ---- journal and durable messages ---------------------------------------

    def _write_journal(self, phase, sheet, counter):
        journal = {"phase": phase, "sheet": sheet, "counter": counter}
        if journal != self.journal:
            self.journal = journal
            store.write_json(self.journal_path, journal)

    async def _enter(self, state, fields=None, sheet=None, counter=None):
        """Enter ``state``: journal its phase (with ``sheet``, and ``counter`` or the
        public counter) before anything else, show its screen with ``fields`` (None: no
        screen of its own, or nobody there to read it) and log the transition."""
        phase = PHASE_OF[state]
        if phase is not None:
            self._write_journal(phase, None if phase == "idle" else sheet,
                                self.counter if counter is None else counter)
        self.state = state
        _log("state", STATES[state], sheet or "")
        if fields is not None:
            await self.display.show(STATES[state], fields)

    def _queued(self, mtype, sheet):
        needle = ('"sheet":"%s"' % sheet).encode()
        return self.device.outbox.find(('"type":"%s"' % mtype).encode(), needle) is not None

    async def _dropped(self, sheet, counter):
        """The sheet is in the box: report it (once), count it, show it."""
        if not self._queued(BALLOT_DROPPED, sheet):
            self.link.send_durable(BALLOT_DROPPED, {"sheet": sheet, "counter": counter})
        self.counter = counter
        _log("sheet %s dropped, counter %d" % (sheet, counter))
        await self._enter(_ACCEPTED, {"sheet": sheet, "counter": counter}, sheet)

    async def _returned(self, sheet, reason, message=None):
        """The sheet is back with the voter: report it (once); show ``message`` if any."""
        if not self._queued(BALLOT_RETURNED, sheet):
            self.link.send_durable(BALLOT_RETURNED, {"sheet": sheet, "reason": reason})
        _log("sheet %s returned (%s)" % (sheet, reason))
        fields = None if message is None else {"sheet": sheet, "reason": reason,
                                               "message": message}
        await self._enter(_RETURNED, fields, sheet)

    def _event(self, kind, detail):
        async def send():
            try:
                await asyncio.wait_for(
                    self.link.send(EVENT, {"kind": kind, "detail": detail}), _s(_UPLOAD_MS))
            except Exception as err:  # noqa: BLE001 - events are best effort
                _log("event %s not sent: %s" % (kind, err))

        asyncio.create_task(send())

    # ---- paper movements ------------------------------------------------------

    async def _status(self):
        """Sensor flags; retries until the engine answers."""
        while True:
            try:
                return await self.engine.status()
            except ScanFault as err:
                _log("engine status failed:", err)
                self.link.set_fault("engine", "no-answer")
                await self._enter(_FAULT, {"reason": str(err)})
                await asyncio.sleep(_s(_STATUS_RETRY_MS))

    def _report_flags(self, flags):
        """Put the engine's sensor fault (or none) into the device status; return its code."""
        code = None
        for flag in (scanlink.JAM, scanlink.COVER_OPEN, scanlink.DOUBLE):
            if flags & flag:
                code = STATUS_CODES[flag]
                break
        if self.link.faults.get("engine") != "ballot-stuck":
            self.link.set_fault("engine", code)
        return code

    async def _wait_clear(self):
        """Wait until no jam, double sheet or open cover is reported; return the flags."""
        while True:
            flags = await self._status()
            self._report_flags(flags)
            if not flags & BAD_FLAGS:
                return flags
            await asyncio.sleep(_s(_CLEAR_POLL_MS))

    async def _eject(self, sheet):
        """RETURN until the engine confirms or the sheet is gone."""
        while True:
            await self._enter(_RETURNING, None, sheet)
            try:
                await self.engine.eject()
                return
            except ScanFault as err:
                _log("RETURN failed: %s" % err)
                await self._enter(_FAULT, {"reason": str(err)}, sheet)
                self._event(REASONS.get(err.code, "engine_error"), "during return")
            flags = await self._wait_clear()
            if not flags & scanlink.PAPER_PRESENT:
                return

    async def _drop(self, sheet, counter):
        """DROP until the engine confirms; return True when the sheet is in the box.

        An engine that refuses the DROP (jam, cover, no sheet) did not move the sheet:
        phase ``jammed``, and the sheet counts only if it is still in the path once the
        poll worker has cleared it. An engine that does not answer may have moved it.
        """
        while True:
            try:
                await self.engine.drop()
                return True
            except ScanFault as err:
                reason = REASONS.get(err.code, "engine_error")
                _log("DROP of %s failed: %s" % (sheet, err))
                if err.code in REFUSED:
                    if err.code == scanlink.F_NO_PAPER:
                        await self._enter(_JAMMED, None, sheet, counter)
                        self._event(reason, "sheet %s gone before the drop" % sheet)
                    else:
                        await self._stuck(sheet, counter, reason)
                else:
                    await self._enter(_FAULT, {"reason": str(err)}, sheet)
                    self._event(reason, "during drop")
            flags = await self._wait_clear()
            if not flags & scanlink.PAPER_PRESENT:
                # Gone: into the box if the engine may have moved it, else taken out.
                return self.journal["phase"] != "jammed"

    async def _stuck(self, sheet, counter, reason):
        await self._enter(_JAMMED, {"sheet": sheet, "reason": reason, "counted": False,
                                    "message": self._message("stuck")}, sheet, counter)
        self.link.set_fault("engine", "ballot-stuck")
        self._event(reason, "during drop of accepted sheet %s: not in the box, not counted" % (
            sheet,))

    # ---- one sheet ------------------------------------------------------------

    async def _send(self, mtype, body, attachment=b""):
        try:
            return await asyncio.wait_for(self.link.send(mtype, body, attachment),
                                          _s(_UPLOAD_MS))
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
            raise UploadFailed("%s not acknowledged in %d ms" % (mtype, _UPLOAD_MS))

    async def _scan(self, sheet):
        """FEED and stream the image; return the seq of ``blob.end``."""
        # Start each sheet on a collected heap: a day of sheets otherwise leaves
        # the free space in holes too small for the next header.
        gc.collect()
        _log("sheet %s, heap free %d" % (sheet, gc.mem_free()))
        width, height, dpi = await self.engine.feed()
        if not 0 < width <= scanlink.MAX_PAYLOAD - 2 or not 0 < height:
            raise ScanFault(scanlink.F_BAD_COMMAND, "sheet of %dx%d pixels" % (width, height))
        per_chunk = max(1, min(ROWS_PER_CHUNK, len(self.buf) // width))
        sender = BlobSender(sheet)
        meta = {"width": width, "height": height, "dpi": dpi, "bpp": 8}
        await self._send(BLOB_BEGIN, sender.begin("ballot-image", meta))
        buf = self.buf
        view = memoryview(buf)
        expected = 0
        while not self.engine.ended:
            n = 0
            while n < per_chunk and not self.engine.ended:
                got = await self.engine.rows_into(buf, n * width, per_chunk - n)
                if not got and not self.engine.ended:
                    raise ScanFault(scanlink.F_BAD_COMMAND, "engine sent no rows")
                n += got
                expected += got
            if n:
                part = view[: n * width]
                await self._send(BLOB_CHUNK, sender.chunk(part), part)
                # Each chunk leaves its header, packet and task behind; collecting
                # here (well under a millisecond on this heap) keeps the free space
                # in one piece for the whole sheet.
                gc.collect()
        if expected != height:
            raise ScanFault(scanlink.F_BAD_COMMAND, "%d of %d rows arrived" % (expected, height))
        return await self._send(BLOB_END, sender.end())

    def _decision(self, sheet, msg):
        if msg is None:
            return "return", "timeout", self._message("timeout")
        body = msg.body
        if msg.type != BALLOT_DECISION or body.get("sheet") != sheet or body.get(
                "decision") not in ("accept", "return"):
            _log("unusable decision for %s: %s" % (sheet, msg.type))
            return "return", "bad_decision", self._message("bad_decision")
        reason = body.get("reason")
        message = body.get("message")
        return (body["decision"], reason if isinstance(reason, str) else None,
                message if isinstance(message, str) else "")

    async def handle_sheet(self):
        """Scan one inserted sheet and settle it."""
        self.sheets += 1
        sheet = "%s-%d-%d" % (self.device.config["device"], self.device.boot, self.sheets)
        await self._enter(_SCANNING, {"sheet": sheet}, sheet)
        try:
            end_seq = await self._scan(sheet)
        except ScanFault as err:
            await self._scan_fault(sheet, err)
            return
        except UploadFailed as err:
            _log("sheet %s: %s" % (sheet, err))
            await self._give_back(sheet, "upload_failed", self._message("upload_failed"))
            return
        await self._enter(_DECIDING, None, sheet)
        msg = await self.link.reply(end_seq, self.decision_timeout)
        decision, reason, message = self._decision(sheet, msg)
        if decision == "accept":
            await self._accept(sheet)
        else:
            await self._give_back(sheet, reason or "returned", message)

    async def _accept(self, sheet):
        counter = self.counter + 1
        await self._enter(_DROPPING, None, sheet, counter)
        await self._settle_drop(sheet, counter)

    async def _settle_drop(self, sheet, counter):
        """Drop the accepted ``sheet``; record it dropped, or returned if it was taken out."""
        if await self._drop(sheet, counter):
            self._clear_stuck()
            await self._dropped(sheet, counter)
            return
        self._clear_stuck()
        await self._returned(sheet, "removed", self._message("removed"))

    def _clear_stuck(self):
        if self.link.faults.get("engine") == "ballot-stuck":
            self.link.set_fault("engine", None)

    async def _give_back(self, sheet, reason, message):
        await self._eject(sheet)
        await self._returned(sheet, reason, message)

    async def _scan_fault(self, sheet, err):
        reason = REASONS.get(err.code, "engine_error")
        _log("sheet %s: %s" % (sheet, err))
        self._event(reason, str(err))
        # Rows of the abandoned scan may still be on the line: the next answer must not
        # be read from the middle of them.
        await self.engine.drain()
        if err.code == scanlink.F_NO_PAPER:
            # Gone before it was fed: nobody there to read a screen.
            await self._returned(sheet, reason)
            return
        if err.code not in (scanlink.F_DOUBLE, scanlink.F_CORRUPT):
            await self._enter(_FAULT, {"reason": str(err)}, sheet)
            await self._wait_clear()
        message = self._message(reason, "The ballot could not be scanned: %s." % err)
        await self._give_back(sheet, reason, message)

    # ---- boot and main loop -----------------------------------------------------

    async def recover(self):
        """Finish what the journal says was under way when the power went."""
        phase = self.journal["phase"]
        sheet = self.journal["sheet"]
        if phase == "idle":
            return False
        _log("recovering sheet %s from phase %s" % (sheet, phase))
        counter = self.journal["counter"]
        if phase == "jammed":
            await self._stuck(sheet, counter, "jam")
        flags = await self._wait_clear()
        if phase in ("dropping", "jammed"):
            if phase == "jammed" or flags & scanlink.PAPER_PRESENT:
                await self._settle_drop(sheet, counter)
            else:
                await self._dropped(sheet, counter)
        else:
            if flags & scanlink.PAPER_PRESENT:
                await self._eject(sheet)
            await self._returned(sheet, "interrupted", self._message("interrupted"))
        self._event("restart", "recovered sheet %s from phase %s" % (sheet, phase))
        return True

    async def run(self):
        """Recover, then take sheets forever; show sensor faults that come up while idle."""
        recovered = await self.recover()
        await self._enter(_READY, {"counter": self.counter})
        flags = await self._status()
        code = self._report_flags(flags)
        if code:
            await self._enter(_FAULT, {"reason": code})
        elif not recovered and flags & scanlink.PAPER_PRESENT:
            await self._one()
        while True:
            try:
                kind, value = await self.engine.wait_event()
            except ScanFault as err:
                _log("scan engine link:", err)
                await asyncio.sleep(_s(_LINK_RETRY_MS))
                continue
            if kind == scanlink.PAPER and value:
                await self._one()
            elif kind == scanlink.SENSORS:
                code = self._report_flags(value)
                if code:
                    await self._enter(_FAULT, {"reason": code})
                else:
                    await self._enter(_READY, {"counter": self.counter})

    async def _one(self):
        # One sheet fits the throat: a PAPER event still queued announces this very
        # sheet (seen by STATUS at boot while its PAPER frame was on the way) and, left
        # there, would start a second scan of a sheet already settled.
        self.engine.events = [e for e in self.engine.events if e[0] != scanlink.PAPER]
        try:
            await self.handle_sheet()
        except ScanFault as err:
            _log("unexpected engine fault:", err)
        # Sensor changes during the sheet were dealt with by asking the engine; queued,
        # they would only replay old faults on the screen.
        self.engine.events = [e for e in self.engine.events if e[0] != scanlink.SENSORS]
        await asyncio.sleep(_s(_HOLD_MS))
        await self._enter(_READY, {"counter": self.counter})


async def run(device):
    """App entry: open the display and run the scanner."""
    device.open_display()
    await Scanner(device).run()
