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
3. The voter is asked for a finger (``finger`` screen); the fingerprint sensor's
   image (or template) goes to the controller as a blob named by the transaction id
   (``txn`` = ``<device>-<boot>-<n>``), see ``firmware/finger.py``. A voter without
   a usable finger, a broken sensor or a failed upload still goes on: the request
   then says why there is no finger (``finger_status``).
4. The transaction (``txn`` and the seq of the request) is written to
   ``pending.json``, then ``checkin.request`` (document, ``finger`` reference or
   null, ``finger_status``) is written to the durable outbox, then ``waiting`` is
   shown.
5. The ``checkin.result`` whose ``re`` is the request's seq is shown as the
   ``checkin`` screen and logged on the console (txn and status only: the terminal
   keeps nothing that links a voter to a ballot), and ``pending.json`` is cleared.
   For ``issued`` the check-in slip is queued for the printer and prints while the
   next voter comes (``firmware/slipprint.py`` says what happens on a printer fault).

The fingerprint step and the slip printer run their code as overlays
(``firmware.runtime.load``/``unload``), one at a time under the ``heavy`` lock: a
96 KB terminal cannot hold both, and needs neither between voters.

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
from firmware import runtime, store
from protocol.messages import CHECKIN_REQUEST, CHECKIN_RESULT

STATUSES = (
    "issued",
    "already_issued",
    "not_on_list",
    "invalid_document",
    "polls_closed",
    "finger_retry",
    "finger_mismatch",
    "not_found",
)
PENDING = "pending.json"
FINGER = "firmware.finger"
SLIPS = "firmware.slipprint"
MAX_SLIPS = 4
# One buffer for whichever overlay runs: image chunks (4 KB) or a raster line of a
# slip (48 bytes x 28 rows): the device's scratch buffer, allocated first at boot.
SCRATCH = 4096


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
        # Whoever holds ``heavy`` has its overlay's modules in the heap, and ``scratch``.
        self.heavy = asyncio.Lock()
        uarts = device.config["uart"]
        self.finger_uart = device.board.uart("finger") if "finger" in uarts else None
        self.printer_uart = device.board.uart("printer") if "printer" in uarts else None
        equipped = self.finger_uart is not None or self.printer_uart is not None
        self.scratch = device.buffer(SCRATCH) if equipped else None
        self.slips = []  # [fields, first try (ticks ms) or None], oldest first
        self.slips_given_up = []  # fields of slips pushed out of a full queue
        self.printer_state = "unknown"  # the printer's fault code, None when ready
        self._slip_wake = asyncio.Event()

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
        if self.finger_uart is not None:
            finger, finger_status = await self._finger("capture", txn)
        else:
            finger, finger_status = None, "no_sensor"
        seq = self.device.seq.next()
        # The journal first: a power cut after it and before the outbox write leaves a
        # transaction that times out; the other order would lose track of an answer.
        self.pending = {"txn": txn, "seq": seq}
        store.write_json(self.pending_path, self.pending)
        self.link.send_durable(CHECKIN_REQUEST, {
            "txn": txn, "mrz": lines, "doc": doc, "finger": finger,
            "finger_status": finger_status}, seq)
        _log("txn %s: request seq %d stored, finger %s, heap free %d" % (
            txn, seq, finger_status, gc.mem_free()))
        await self.await_result()

    async def _finger(self, job, txn=None):
        """Run ``job`` ("check" or "capture") of the fingerprint overlay."""
        async with self.heavy:
            module = runtime.load(FINGER)
            names = module.MODULES
            try:
                if job == "check":
                    return await module.check(self.device, self.finger_uart)
                return await module.capture(self.device, self.finger_uart, txn, self.scratch)
            finally:
                module = None
                _log("finger %s done, heap free %d" % (job, runtime.unload(names)))

    def submit_slip(self, fields):
        """Queue the slip of an issued ballot; returns at once."""
        self.slips.append([fields, None])
        while len(self.slips) > MAX_SLIPS:
            self.slips_given_up.append(self.slips.pop(0)[0])
        self._slip_wake.set()

    def drop_slip(self, entry):
        """Take ``entry`` off the queue (printed or given up), if it is still there."""
        for i in range(len(self.slips)):
            if self.slips[i] is entry:
                del self.slips[i]
                return

    async def _printer(self):
        """Print, check and report slips, one overlay round at a time, forever."""
        while True:
            async with self.heavy:
                module = runtime.load(SLIPS)
                names = module.MODULES
                try:
                    pause = await module.service(self)
                finally:
                    module = None
                    free = runtime.unload(names)
            _log("printer round done, heap free %d" % free)
            if pause:
                await asyncio.sleep(pause)
            elif pause is None and not self.slips and not self.slips_given_up:
                self._slip_wake.clear()
                await self._slip_wake.wait()

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
        fields = result_screen(txn, msg.body) if msg.type == CHECKIN_RESULT else None
        if fields is None:
            _log("txn %s: unusable reply %s ignored" % (txn, msg.type))
            return False
        store.remove(self.pending_path)
        self.pending = None
        # Ready for the next voter as soon as this answer is on the screen.
        self.busy = False
        gc.collect()
        _log("txn %s: %s, heap free %d" % (txn, fields["status"], gc.mem_free()))
        await self.display.show("checkin", fields)
        if fields["status"] == "issued" and self.printer_uart is not None:
            self.submit_slip({"row": fields["row"], "name": fields["name"],
                              "style": fields["style"]})
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
        if self.finger_uart is not None:
            await self._finger("check")
        if self.printer_uart is not None:
            asyncio.create_task(self._printer())
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
