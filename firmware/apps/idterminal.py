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

States (``STATES`` below, entered only by ``Terminal._enter``, which journals the
transaction in ``pending.json``, shows the state's screen and logs ``state <name>``)::

    READY --document--> CHECKING --request stored--> WAITING --answer--> ANSWERED
      ANSWERED/ERROR --document--> CHECKING      WAITING --no answer in time--> ERROR
      CHECKING --unreadable MRZ--> ANSWERED      ERROR --late answer--> ANSWERED

Documents are taken in READY, ANSWERED and ERROR; in CHECKING and WAITING they are
read and dropped. The printer's state (ready or a fault code) is the slip overlay's
and changes only in ``firmware.slipprint._state``.

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

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


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
_MAX_SLIPS = const(4)
# One buffer for whichever overlay runs: image chunks (4 KB) or a raster line of a
# slip (48 bytes x 28 rows): the device's scratch buffer, allocated first at boot.
_SCRATCH = const(4096)

# Timings of the terminal, in milliseconds unless said otherwise. From the config, in
# seconds: ``reply_timeout`` (no answer to a request: error screen), ``finger_timeout``
# (one attempt at the finger) with ``finger_attempts`` attempts, ``slip_wait`` (a slip
# waits this long for a printer fault to clear, then it is written by hand). The
# fingerprint sensor's per-packet and polling times are in ``drivers/fingerprint.py``.
# The overlays (``firmware.finger``, ``firmware.slipprint``) are handed theirs. All are
# compile-time constants: they take no heap.
_FINGER_SEND_MS = const(10000)  # a finger blob message not acknowledged by then: upload_failed
_FINGER_UPLOADS = const(2)  # a finger upload broken by a lost packet is asked for once more
_PRINTER_STATUS_MS = const(500)  # each DLE EOT status byte is awaited this long
_PRINTER_RETRY_MS = const(1000)  # a printer fault: read the status again after this
_EVENT_SEND_MS = const(10000)  # an event for the audit log (slip not printed): given up after
_LATE_POLL_MS = const(5000)  # after an error, listen for the late answer in steps of this
_READER_IDLE_MS = const(200)  # nothing from the document reader: look again after this

# The check-in states, by number; ``STATES[n]`` is state n's name and ``SCREENS[n]`` its
# screen (None: the screen is the finger overlay's, or stays).
_READY = const(0)  # nothing under way since boot
_CHECKING = const(1)  # a document taken: parsed, finger asked for
_WAITING = const(2)  # the request in the outbox, its transaction in pending.json
_ANSWERED = const(3)  # the answer on the screen, pending.json cleared
_ERROR = const(4)  # no answer in time, or a terminal error
STATES = ("ready", "checking", "waiting", "answered", "error")
SCREENS = ("ready", None, "waiting", "checkin", "error")


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
        self.pending = None  # {"txn", "seq"}: the transaction waiting for its answer
        self.state = _READY
        # Whoever holds ``heavy`` has its overlay's modules in the heap, and ``scratch``.
        self.heavy = asyncio.Lock()
        uarts = device.config["uart"]
        self.finger_uart = device.board.uart("finger") if "finger" in uarts else None
        self.printer_uart = device.board.uart("printer") if "printer" in uarts else None
        equipped = self.finger_uart is not None or self.printer_uart is not None
        self.scratch = device.buffer(_SCRATCH) if equipped else None
        self.slips = []  # [fields, first try (ticks ms) or None], oldest first
        self.slips_given_up = []  # fields of slips pushed out of a full queue
        self.printer_state = "unknown"  # the printer's fault code, None when ready
        self._slip_wake = asyncio.Event()

    def busy(self):
        """True while a check-in is under way: further documents are ignored."""
        return self.state == _CHECKING or self.state == _WAITING

    async def _enter(self, state, fields=None, txn=None):
        """Enter ``state``: journal (WAITING writes ``pending``, ANSWERED for the pending
        ``txn`` clears it) before anything else, show the state's screen with ``fields``
        and log the transition."""
        if state == _WAITING:
            store.write_json(self.pending_path, self.pending)
        elif state == _ANSWERED and self.pending is not None and self.pending["txn"] == txn:
            store.remove(self.pending_path)
            self.pending = None
        self.state = state
        _log("state", STATES[state], txn or "")
        if SCREENS[state] is not None:
            await self.display.show(SCREENS[state], fields)

    def _new_txn(self):
        self.count += 1
        return "%s-%d-%d" % (self.device.config["device"], self.device.boot, self.count)

    async def present(self, lines):
        """Handle one document (a list of MRZ lines)."""
        txn = self._new_txn()
        gc.collect()  # the request is the largest thing this terminal builds
        self.link.low = gc.mem_free()
        try:
            doc = mrz.parse(lines)
        except mrz.MrzError as err:
            _log("txn %s: not a readable MRZ (%s)" % (txn, err))
            await self._enter(_ANSWERED, {
                "txn": txn, "status": "invalid_document", "row": None, "name": None,
                "style": None, "reason": "document could not be read: %s" % err,
            }, txn)
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
        await self._enter(_WAITING, {"txn": txn}, txn)
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
                return await module.capture(self.device, self.finger_uart, txn, self.scratch,
                                            _FINGER_SEND_MS, _FINGER_UPLOADS)
            finally:
                module = None
                _log("finger %s done, heap free %d" % (job, runtime.unload(names)))

    def submit_slip(self, fields):
        """Queue the slip of an issued ballot; returns at once."""
        self.slips.append([fields, None])
        while len(self.slips) > _MAX_SLIPS:
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
                    pause = await module.service(self, _PRINTER_STATUS_MS, _PRINTER_RETRY_MS,
                                                 _EVENT_SEND_MS)
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
        """Wait for the answer to the pending transaction (in WAITING) and show it."""
        txn, seq = self.pending["txn"], self.pending["seq"]
        while True:
            msg = await self.link.reply(seq, self.timeout)
            if msg is None:
                _log("txn %s: no answer in %d s" % (txn, self.timeout))
                await self._enter(_ERROR, {
                    "reason": "no answer from the station controller; try again"}, txn)
                asyncio.create_task(self._late(txn, seq))
                return
            if await self._show(txn, msg):
                return

    async def _show(self, txn, msg):
        fields = result_screen(txn, msg.body) if msg.type == CHECKIN_RESULT else None
        if fields is None:
            _log("txn %s: unusable reply %s ignored" % (txn, msg.type))
            return False
        gc.collect()
        # ``low``: the least the heap had free from the document to this answer.
        _log("txn %s: %s, heap free %d, low %d" % (txn, fields["status"], gc.mem_free(),
                                                  self.link.low))
        # Ready for the next voter as soon as this answer is on the screen.
        await self._enter(_ANSWERED, fields, txn)
        if fields["status"] == "issued" and self.printer_uart is not None:
            self.submit_slip({"row": fields["row"], "name": fields["name"],
                              "style": fields["style"]})
        return True

    async def _late(self, txn, seq):
        while self.pending is not None and self.pending["txn"] == txn:
            msg = await self.link.reply(seq, _LATE_POLL_MS // 1000)
            if msg is None or self.busy():
                continue
            if self.pending is not None and self.pending["txn"] == txn:
                if await self._show(txn, msg):
                    return

    async def _serve(self, lines):
        try:
            if lines is None:
                self.link.low = gc.mem_free()
                await self.await_result()
            else:
                await self.present(lines)
        except Exception as err:  # noqa: BLE001 - the terminal must stay up for the next voter
            _log("check-in failed:", err)
            if hasattr(sys, "print_exception"):
                sys.print_exception(err)
            await self._enter(_ERROR, {"reason": "terminal error: %s" % err})

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
            await self._enter(_WAITING, {"txn": self.pending["txn"]}, self.pending["txn"])
            asyncio.create_task(self._serve(None))
        else:
            await self._enter(_READY)
        assembler = mrz.LineAssembler()
        while True:
            data = await reader.read(256)
            if not data:
                # Nothing on the line (the reader was unplugged): look again shortly.
                await asyncio.sleep(_READER_IDLE_MS / 1000)
                continue
            for lines in assembler.feed(data):
                if self.busy():
                    _log("busy: a document was ignored")
                    continue
                await self._enter(_CHECKING)
                asyncio.create_task(self._serve(lines))


async def run(device):
    """App entry: open the display and run the terminal."""
    device.open_display()
    await Terminal(device).run()
