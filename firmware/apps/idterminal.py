"""Voter-identification terminal: document in, check-in request out, result shown.

One document at a time:

1. ``ready``: MRZ lines arrive on the ``mrz`` UART and are grouped into documents
   by ``drivers.mrz.LineAssembler``.
2. The document is parsed (``drivers.mrz.parse``). Lines that are not an MRZ at all
   (a character outside ``A-Z0-9<``) cannot identify anybody: the terminal shows
   ``invalid_document`` itself and sends nothing. A document that parses but fails
   a check digit still goes to the controller, with ``doc.valid`` false and the
   failing checks named: the controller decides (it may, for example, accept a
   worn card identified by its personal number).
3. The transaction (``txn`` = ``<device>-<boot>-<n>``, and the seq of the request)
   is written to ``pending.json``, then ``checkin.request`` is written to the
   durable outbox, then ``waiting`` is shown.
4. The ``checkin.result`` whose ``re`` is the request's seq is shown as the
   ``checkin`` screen and logged on the console (txn and status only: the terminal
   keeps nothing that links a voter to a ballot), and ``pending.json`` is cleared.

After a power cut, a pending transaction is resumed: the request is still in the
outbox (or already delivered) and its answer is shown when it arrives. Documents
presented while a transaction is waiting are ignored, as a reader that is switched
off would. With no answer within ``reply_timeout`` seconds the terminal shows an
error and takes documents again; a late answer to the pending transaction is still
shown unless a new document was presented in the meantime.
"""

import asyncio
import gc
import sys

from drivers import mrz
from firmware import store

STATUSES = ("issued", "already_issued", "not_on_list", "invalid_document", "polls_closed")
PENDING = "pending.json"


def _log(*args):
    print("[terminal]", *args)


def _text(value, limit=80):
    return value[:limit] if isinstance(value, str) else None


def _row(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def result_screen(txn, body):
    """Fields of the ``checkin`` screen for a ``checkin.result`` body, or None if malformed."""
    if not isinstance(body, dict) or body.get("txn") != txn:
        return None
    status = body.get("status")
    if status not in STATUSES:
        return None
    voter = body.get("voter")
    if not isinstance(voter, dict):
        voter = {}
    return {
        "txn": txn,
        "status": status,
        "row": _row(voter.get("row")),
        "name": _text(voter.get("name")),
        "style": _text(body.get("style")),
        "reason": _text(body.get("reason"), 200),
    }


class Terminal:
    """The check-in flow of one terminal."""

    def __init__(self, device):
        self.device = device
        self.link = device.link
        self.display = device.display
        self.timeout = device.config["reply_timeout"]
        self.pending_path = device.path(PENDING)
        self.count = 0
        self.pending = None  # {"txn", "seq"}
        self.busy = False  # a check-in is under way: further documents are ignored

    def _new_txn(self):
        self.count += 1
        return "%s-%d-%d" % (self.device.config["device"], self.device.boot, self.count)

    async def present(self, lines):
        """Handle one document (a list of MRZ lines)."""
        txn = self._new_txn()
        gc.collect()  # the request is the largest thing this terminal builds
        try:
            doc = mrz.parse(lines)
        except mrz.MrzError as err:
            _log("txn %s: not a readable MRZ (%s)" % (txn, err))
            await self.display.show("checkin", {
                "txn": txn, "status": "invalid_document", "row": None, "name": None,
                "style": None, "reason": "document could not be read: %s" % err,
            })
            return
        if not doc["valid"]:
            failed = [name for name in doc["checks"] if not doc["checks"][name]]
            _log("txn %s: check digits fail (%s); the controller decides" % (
                txn, ",".join(failed)))
        seq = self.device.seq.next()
        # The journal first: a power cut after it and before the outbox write leaves a
        # transaction that times out; the other order would lose track of an answer.
        self.pending = {"txn": txn, "seq": seq}
        store.write_json(self.pending_path, self.pending)
        self.link.send_durable("checkin.request", {"txn": txn, "mrz": lines, "doc": doc}, seq)
        _log("txn %s: request seq %d stored" % (txn, seq))
        await self.await_result()

    async def await_result(self):
        """Show ``waiting`` and then the answer to the pending transaction."""
        txn, seq = self.pending["txn"], self.pending["seq"]
        await self.display.show("waiting", {"txn": txn})
        while True:
            msg = await self.link.reply(seq, self.timeout)
            if msg is None:
                _log("txn %s: no answer in %d s" % (txn, self.timeout))
                self.busy = False
                await self.display.show("error", {
                    "reason": "no answer from the station controller; try again"})
                asyncio.create_task(self._late(txn, seq))
                return
            if await self._show(txn, msg):
                return

    async def _show(self, txn, msg):
        fields = result_screen(txn, msg.body) if msg.type == "checkin.result" else None
        if fields is None:
            _log("txn %s: unusable reply %s ignored" % (txn, msg.type))
            return False
        store.remove(self.pending_path)
        self.pending = None
        # Ready for the next voter as soon as this answer is on the screen.
        self.busy = False
        _log("txn %s: %s" % (txn, fields["status"]))
        await self.display.show("checkin", fields)
        return True

    async def _late(self, txn, seq):
        while self.pending is not None and self.pending["txn"] == txn:
            msg = await self.link.reply(seq, 5)
            if msg is None or self.busy:
                continue
            if self.pending is not None and self.pending["txn"] == txn:
                if await self._show(txn, msg):
                    return

    async def _serve(self, lines):
        try:
            if lines is None:
                await self.await_result()
            else:
                await self.present(lines)
        except Exception as err:  # noqa: BLE001 - the terminal must stay up for the next voter
            _log("check-in failed:", err)
            if hasattr(sys, "print_exception"):
                sys.print_exception(err)
            await self.display.show("error", {"reason": "terminal error: %s" % err})
        finally:
            self.busy = False

    async def run(self):
        """Resume a pending transaction, then serve documents forever.

        The UART is read all the time, so documents presented while a check-in is
        under way are read and dropped rather than piling up in the line buffer.
        """
        try:
            self.pending = store.read_json(self.pending_path)
        except ValueError as err:
            _log(err)
            self.pending = None
        reader, _ = self.device.board.uart("mrz")
        if self.pending is not None:
            _log("resuming txn %s (request seq %d)" % (self.pending["txn"], self.pending["seq"]))
            self.busy = True
            asyncio.create_task(self._serve(None))
        else:
            await self.display.show("ready")
        assembler = mrz.LineAssembler()
        while True:
            data = await reader.read(256)
            if not data:
                # Nothing on the line (the reader was unplugged): look again shortly.
                await asyncio.sleep(0.2)
                continue
            for lines in assembler.feed(data):
                if self.busy:
                    _log("busy: a document was ignored")
                    continue
                self.busy = True
                asyncio.create_task(self._serve(lines))


async def run(device):
    """App entry: open the display and run the terminal."""
    device.open_display()
    await Terminal(device).run()
