"""Ballot scanner: paper in, image streamed, decision applied, nothing lost or doubled.

States (one sheet at a time)::

    READY --paper--> SCANNING --blob.end--> DECIDING --accept--> DROPPING --> READY
                        |                      |--return/timeout--> RETURNING --> READY
                        '--fault--> FAULT (eject if possible) --> RETURNING --> READY

The journal ``journal.json`` = ``{"phase": "idle"|"scanning"|"dropping", "sheet": S,
"counter": n}`` is written before each step that moves paper, and the public
counter lives in it:

1. ``scanning`` is written before FEED. The image goes out as ``blob.begin``, one
   ``blob.chunk`` per ``ROWS_PER_CHUNK`` rows (one reused buffer: never more than
   one chunk of the image in RAM) and ``blob.end``. Chunks are not durable.
2. The ``ballot.decision`` answering ``blob.end`` (by ``re``) decides. No decision
   within ``decision_timeout`` seconds returns the sheet with reason ``timeout``.
3. Accept: ``dropping`` with ``counter`` = n + 1 is the commit point; then DROP;
   then ``ballot.dropped`` into the outbox; then the journal goes back to ``idle``
   with the new counter.
4. Return: RETURN, ``ballot.returned`` into the outbox, journal ``idle``.

At boot the journal is replayed: ``dropping`` finishes the drop (DROP if the sheet
is still in the feeder) and (re)sends ``ballot.dropped`` unless it is still in the
outbox; ``scanning`` returns the sheet and sends ``ballot.returned``. A resent
message for a sheet the controller already settled is harmless: its effects are
idempotent per sheet id.
"""

import asyncio
import gc

from drivers import scanlink
from drivers.scanlink import ScanFault
from firmware import store
from firmware.scanio import ScanStream
from protocol import blob

JOURNAL = "journal.json"
ROWS_PER_CHUNK = 8
# One chunk buffer, allocated at boot while the heap is still in one piece: 8 rows of
# a 1700-pixel sheet (8.5 in at 200 dpi); wider sheets send fewer rows per chunk.
CHUNK_BYTES = 8 * 1700
UPLOAD_TIMEOUT = 20
HOLD = 1
REASONS = {
    0: "engine_timeout",
    scanlink.F_JAM: "jam",
    scanlink.F_DOUBLE: "double_sheet",
    scanlink.F_COVER: "cover_open",
    scanlink.F_NO_PAPER: "no_paper",
    scanlink.F_BAD_COMMAND: "engine_error",
}
MESSAGES = {
    "timeout": "The ballot could not be checked in time. Please take it and insert it again.",
    "upload_failed": "The ballot could not be checked. Please take it and insert it again.",
    "interrupted": "The scanner restarted. Please take your ballot and insert it again.",
    "double_sheet": "Two sheets went in at once. Please take them and insert one at a time.",
    "bad_decision": "The ballot could not be checked. Please take it and insert it again.",
}
BAD_FLAGS = scanlink.JAM | scanlink.DOUBLE | scanlink.COVER_OPEN


class UploadFailed(Exception):
    """The image could not be handed to the broker in time."""


def _log(*args):
    print("[scanner]", *args)


class Scanner:
    """The ballot flow of one scanner."""

    def __init__(self, device):
        self.device = device
        self.link = device.link
        self.display = device.display
        self.decision_timeout = device.config["decision_timeout"]
        self.journal_path = device.path(JOURNAL)
        journal = store.read_json(self.journal_path, {"phase": "idle", "sheet": None, "counter": 0})
        if not isinstance(journal, dict) or journal.get("phase") not in (
                "idle", "scanning", "dropping") or not isinstance(journal.get("counter"), int):
            raise ValueError("journal %s is not a scanner journal" % self.journal_path)
        self.journal = journal
        self.counter = journal["counter"] if journal["phase"] != "dropping" else (
            journal["counter"] - 1)
        self.sheets = 0
        self.buf = bytearray(CHUNK_BYTES)
        # Nothing waits for the confirmations of drop and return reports; left to the
        # link's reply buffer they would hold about 1 KB of heap each.
        self.link.handlers["ballot.recorded"] = self._confirmed
        self.link.handlers["ballot.voided"] = self._confirmed
        reader, writer = device.board.uart("scan")
        self.engine = ScanStream(reader, writer)

    def _confirmed(self, msg):
        _log("controller confirms %s %s" % (msg.type, msg.body.get("sheet")))

    # ---- journal and durable messages ---------------------------------------

    def _write_journal(self, phase, sheet, counter):
        self.journal = {"phase": phase, "sheet": sheet, "counter": counter}
        store.write_json(self.journal_path, self.journal)

    def _queued(self, mtype, sheet):
        needle = ('"sheet":"%s"' % sheet).encode()
        return self.device.outbox.find(('"type":"%s"' % mtype).encode(), needle) is not None

    def _dropped(self, sheet, counter):
        if not self._queued("ballot.dropped", sheet):
            self.link.send_durable("ballot.dropped", {"sheet": sheet, "counter": counter})
        self.counter = counter
        self._write_journal("idle", None, counter)
        _log("sheet %s dropped, counter %d" % (sheet, counter))

    def _returned(self, sheet, reason):
        if not self._queued("ballot.returned", sheet):
            self.link.send_durable("ballot.returned", {"sheet": sheet, "reason": reason})
        self._write_journal("idle", None, self.counter)
        _log("sheet %s returned (%s)" % (sheet, reason))

    def _event(self, kind, detail):
        async def send():
            try:
                await asyncio.wait_for(self.link.send("event", {"kind": kind, "detail": detail}),
                                       UPLOAD_TIMEOUT)
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
                await self.display.show("fault", {"reason": str(err)})
                await asyncio.sleep(1)

    async def _wait_clear(self):
        while True:
            flags = await self._status()
            if not flags & BAD_FLAGS:
                return flags
            await asyncio.sleep(0.5)

    async def _move(self, drop):
        """DROP or RETURN until the engine confirms or the sheet is gone."""
        while True:
            try:
                if drop:
                    await self.engine.drop()
                else:
                    await self.engine.eject()
                return
            except ScanFault as err:
                reason = REASONS.get(err.code, "engine_error")
                _log("%s failed: %s" % ("DROP" if drop else "RETURN", err))
                await self.display.show("fault", {"reason": str(err)})
                self._event(reason, "during " + ("drop" if drop else "return"))
            flags = await self._wait_clear()
            if not flags & scanlink.PAPER_PRESENT:
                # The poll workers cleared the path; the sheet went where it was sent.
                return

    # ---- one sheet ------------------------------------------------------------

    async def _send(self, mtype, body, attachment=b""):
        try:
            return await asyncio.wait_for(self.link.send(mtype, body, attachment), UPLOAD_TIMEOUT)
        except asyncio.TimeoutError:  # noqa: UP041 - MicroPython has no builtin TimeoutError
            raise UploadFailed("%s not acknowledged in %d s" % (mtype, UPLOAD_TIMEOUT))

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
        sender = blob.BlobSender(sheet)
        meta = {"width": width, "height": height, "dpi": dpi, "bpp": 8}
        await self._send(blob.BEGIN, sender.begin("ballot-image", meta))
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
                await self._send(blob.CHUNK, sender.chunk(part), part)
                # Each chunk leaves its header, packet and task behind; collecting
                # here (well under a millisecond on this heap) keeps the free space
                # in one piece for the whole sheet.
                gc.collect()
        if expected != height:
            raise ScanFault(scanlink.F_BAD_COMMAND, "%d of %d rows arrived" % (expected, height))
        return await self._send(blob.END, sender.end())

    def _decision(self, sheet, msg):
        if msg is None:
            return "return", "timeout", MESSAGES["timeout"]
        body = msg.body
        if msg.type != "ballot.decision" or body.get("sheet") != sheet or body.get(
                "decision") not in ("accept", "return"):
            _log("unusable decision for %s: %s" % (sheet, msg.type))
            return "return", "bad_decision", MESSAGES["bad_decision"]
        reason = body.get("reason")
        message = body.get("message")
        return (body["decision"], reason if isinstance(reason, str) else None,
                message if isinstance(message, str) else "")

    async def handle_sheet(self):
        """Scan one inserted sheet and settle it."""
        self.sheets += 1
        sheet = "%s-%d-%d" % (self.device.config["device"], self.device.boot, self.sheets)
        self._write_journal("scanning", sheet, self.counter)
        await self.display.show("scanning", {"sheet": sheet})
        try:
            end_seq = await self._scan(sheet)
        except ScanFault as err:
            await self._scan_fault(sheet, err)
            return
        except UploadFailed as err:
            _log("sheet %s: %s" % (sheet, err))
            await self._give_back(sheet, "upload_failed", MESSAGES["upload_failed"])
            return
        msg = await self.link.reply(end_seq, self.decision_timeout)
        decision, reason, message = self._decision(sheet, msg)
        if decision == "accept":
            await self._accept(sheet)
        else:
            await self._give_back(sheet, reason or "returned", message)

    async def _accept(self, sheet):
        counter = self.counter + 1
        self._write_journal("dropping", sheet, counter)
        await self._move(True)
        self._dropped(sheet, counter)
        await self.display.show("accepted", {"sheet": sheet, "counter": counter})

    async def _give_back(self, sheet, reason, message):
        await self._move(False)
        self._returned(sheet, reason)
        await self.display.show("returned", {"sheet": sheet, "reason": reason, "message": message})

    async def _scan_fault(self, sheet, err):
        reason = REASONS.get(err.code, "engine_error")
        _log("sheet %s: %s" % (sheet, err))
        self._event(reason, str(err))
        # Rows of the abandoned scan may still be on the line: the next answer must not
        # be read from the middle of them.
        await self.engine.drain()
        if err.code == scanlink.F_NO_PAPER:
            self._returned(sheet, reason)
            return
        if err.code != scanlink.F_DOUBLE:
            await self.display.show("fault", {"reason": str(err)})
            await self._wait_clear()
        message = MESSAGES.get(reason, "The ballot could not be scanned: %s." % err)
        await self._give_back(sheet, reason, message)

    # ---- boot and main loop -----------------------------------------------------

    async def recover(self):
        """Finish what the journal says was under way when the power went."""
        phase = self.journal["phase"]
        sheet = self.journal["sheet"]
        if phase == "idle":
            return False
        _log("recovering sheet %s from phase %s" % (sheet, phase))
        flags = await self._wait_clear()
        if phase == "dropping":
            if flags & scanlink.PAPER_PRESENT:
                await self._move(True)
            self._dropped(sheet, self.journal["counter"])
            await self.display.show("accepted", {"sheet": sheet, "counter": self.counter})
        else:
            if flags & scanlink.PAPER_PRESENT:
                await self._move(False)
            self._returned(sheet, "interrupted")
            await self.display.show("returned", {
                "sheet": sheet, "reason": "interrupted", "message": MESSAGES["interrupted"]})
        self._event("restart", "recovered sheet %s from phase %s" % (sheet, phase))
        return True

    async def run(self):
        """Recover, then take sheets forever."""
        recovered = await self.recover()
        await self.display.show("ready", {"counter": self.counter})
        if not recovered and await self._status() & scanlink.PAPER_PRESENT:
            await self._one()
        while True:
            try:
                present = await self.engine.wait_paper()
            except ScanFault as err:
                _log("scan engine link:", err)
                await asyncio.sleep(1)
                continue
            if present:
                await self._one()

    async def _one(self):
        try:
            await self.handle_sheet()
        except ScanFault as err:
            _log("unexpected engine fault:", err)
        await asyncio.sleep(HOLD)
        await self.display.show("ready", {"counter": self.counter})


async def run(device):
    """App entry: open the display and run the scanner."""
    device.open_display()
    await Scanner(device).run()
