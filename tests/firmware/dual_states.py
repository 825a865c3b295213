# The device apps' state machines, run under CPython and MicroPython (see tests/dual.py).
#
# The real ``Scanner`` and ``Terminal`` classes drive stand-ins for what lies outside
# them (scan engine, link, display, outbox): each check feeds one course of events and
# asserts the states entered, in order, what the journal said at the moment paper moved
# or a request was stored, and the screens shown.
import asyncio
import binascii
import gc
import os

from drivers import scanlink
from drivers.scanlink import ScanFault
from firmware import store
from firmware.apps import idterminal, scanner
from tests.dual import rmtree, run

if not hasattr(gc, "mem_free"):  # CPython: the apps log MicroPython's free heap
    gc.mem_free = lambda: 0

TMP = "/tmp/shailoo-dual-states-" + binascii.hexlify(os.urandom(6)).decode()
# The ICAO 9303 TD1 specimen.
TD1 = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6",
       "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]


class Msg:
    def __init__(self, mtype, body):
        self.type = mtype
        self.body = body


class Display:
    def __init__(self):
        self.shown = []

    async def show(self, screen, fields=None):
        self.shown.append(screen)


class Link:
    """Records what the app sends; ``replies`` are handed out in order (None: no answer)."""

    def __init__(self, replies=()):
        self.handlers = {}
        self.faults = {}
        self.sent = []
        self.replies = list(replies)
        self.on_durable = None
        self.seq = 0

    def set_fault(self, part, code):
        if code is None:
            self.faults.pop(part, None)
        else:
            self.faults[part] = code

    async def send(self, mtype, body, attachment=b""):
        self.seq += 1
        self.sent.append(mtype)
        return self.seq

    def send_durable(self, mtype, body, seq=None):
        if self.on_durable is not None:
            self.on_durable()
        self.sent.append(mtype)
        return seq

    async def reply(self, seq, timeout=None):
        await asyncio.sleep(0)
        return self.replies.pop(0) if self.replies else None


class Outbox:
    def find(self, *needles):
        return None


class Seq:
    def __init__(self):
        self.n = 100

    def next(self):
        self.n += 1
        return self.n


class Board:
    def uart(self, name):
        return None, None


_made = [0]


class Device:
    def __init__(self, name, config, link):
        _made[0] += 1
        self.root = TMP + "/" + name + "-" + str(_made[0])  # a fresh flash each time
        store.makedirs(self.root)
        self.config = config
        self.boot = 1
        self.link = link
        self.display = Display()
        self.outbox = Outbox()
        self.board = Board()
        self.seq = Seq()

    def path(self, name):
        return self.root + "/" + name

    def buffer(self, size):
        return bytearray(size)


class Engine:
    """A scan engine that feeds a 10 x 4 sheet and answers DROP/RETURN from ``script``."""

    def __init__(self, app, feed_fault=None, drop_faults=(), flags=()):
        self.app = app
        self.feed_fault = feed_fault
        self.drop_faults = list(drop_faults)
        self.flags = list(flags)  # answers to STATUS, the last one repeated
        self.ended = False
        self.events = []
        self.left = 0
        self.moves = []  # (command, journal at that moment)

    def _journal(self):
        return store.read_json(self.app.journal_path)

    async def feed(self):
        self.moves.append(("feed", self._journal()))
        if self.feed_fault is not None:
            raise ScanFault(self.feed_fault)
        self.ended, self.left = False, 4
        return 10, 4, 200

    async def rows_into(self, buf, offset, count):
        n = min(count, self.left)
        for i in range(n * 10):
            buf[offset + i] = 0x80
        self.left -= n
        self.ended = self.left == 0
        return n

    async def drop(self):
        self.moves.append(("drop", self._journal()))
        if self.drop_faults:
            raise ScanFault(self.drop_faults.pop(0))

    async def eject(self):
        self.moves.append(("eject", self._journal()))

    async def status(self):
        return self.flags.pop(0) if len(self.flags) > 1 else self.flags[0]

    async def drain(self):
        pass


def _scanner(name, replies=(), journal=None, **engine):
    link = Link(replies)
    device = Device(name, {"device": name, "decision_timeout": 5}, link)
    if journal is not None:
        store.write_json(device.path(scanner.JOURNAL), journal)
    app = scanner.Scanner(device)
    app.engine = Engine(app, **engine)
    entered = []
    enter = app._enter

    async def spy(state, fields=None, sheet=None, counter=None):
        entered.append(scanner.STATES[state])
        await enter(state, fields, sheet, counter)

    app._enter = spy
    return app, entered


def _decision(decision, reason=None, message=""):
    return Msg("ballot.decision", {"sheet": "scan-a-1-1", "decision": decision,
                                   "reason": reason, "message": message})


def check_state_tables_agree():
    assert len(scanner.STATES) == len(scanner.PHASE_OF) == 9
    for phase in scanner.PHASE_OF:
        assert phase is None or phase in scanner.PHASES
    assert len(idterminal.STATES) == len(idterminal.SCREENS) == 5
    assert "checkin" in idterminal.SCREENS and "waiting" in idterminal.SCREENS


def check_accepted_sheet_journals_before_paper_moves():
    app, entered = _scanner("scan-a", [_decision("accept")])
    asyncio.run(app.handle_sheet())
    assert entered == ["scanning", "deciding", "dropping", "accepted"], entered
    assert app.engine.moves == [
        ("feed", {"phase": "scanning", "sheet": "scan-a-1-1", "counter": 0}),
        ("drop", {"phase": "dropping", "sheet": "scan-a-1-1", "counter": 1})]
    assert store.read_json(app.journal_path) == {"phase": "idle", "sheet": None, "counter": 1}
    assert app.device.display.shown == ["scanning", "accepted"]
    assert app.device.link.sent == ["blob.begin", "blob.chunk", "blob.end", "ballot.dropped"]
    assert app.counter == 1 and app.state == scanner.STATES.index("accepted")


def check_returned_and_unanswered_sheets_go_back():
    for replies, reason in (([_decision("return", "overvote", "two marks")], "overvote"),
                            ([], "timeout")):
        app, entered = _scanner("scan-a", replies)
        asyncio.run(app.handle_sheet())
        assert entered == ["scanning", "deciding", "returning", "returned"], entered
        assert app.engine.moves[-1] == (
            "eject", {"phase": "scanning", "sheet": "scan-a-1-1", "counter": 0})
        assert store.read_json(app.journal_path) == {"phase": "idle", "sheet": None,
                                                     "counter": 0}
        assert app.device.display.shown == ["scanning", "returned"], reason
        assert app.device.link.sent[-1] == "ballot.returned"


def check_double_sheet_goes_straight_back():
    app, entered = _scanner("scan-a", feed_fault=scanlink.F_DOUBLE, flags=[0])

    async def course():
        await app.handle_sheet()
        await asyncio.sleep(0.01)  # the event task

    asyncio.run(course())
    assert entered == ["scanning", "returning", "returned"], entered
    assert "fault" not in app.device.display.shown
    assert "event" in app.device.link.sent and "blob.begin" not in app.device.link.sent


def check_refused_drop_is_jammed_until_cleared():
    flags = [scanlink.JAM | scanlink.PAPER_PRESENT, scanlink.PAPER_PRESENT]
    app, entered = _scanner("scan-a", [_decision("accept")], drop_faults=[scanlink.F_JAM],
                            flags=flags)
    asyncio.run(app.handle_sheet())
    assert entered == ["scanning", "deciding", "dropping", "jammed", "accepted"], entered
    assert app.engine.moves[-1] == (
        "drop", {"phase": "jammed", "sheet": "scan-a-1-1", "counter": 1})
    assert app.device.display.shown == ["scanning", "jammed", "accepted"]
    assert app.device.link.faults == {} and app.counter == 1


def check_jammed_sheet_taken_out_is_returned_uncounted():
    app, entered = _scanner("scan-a", [_decision("accept")], drop_faults=[scanlink.F_JAM],
                            flags=[scanlink.JAM, 0])
    asyncio.run(app.handle_sheet())
    assert entered == ["scanning", "deciding", "dropping", "jammed", "returned"], entered
    assert store.read_json(app.journal_path) == {"phase": "idle", "sheet": None, "counter": 0}
    assert app.device.link.sent[-1] == "ballot.returned" and app.counter == 0


def check_a_queued_paper_event_is_not_a_second_sheet():
    # STATUS at boot saw the sheet while its PAPER frame was still on the way.
    app, entered = _scanner("scan-a", [_decision("accept")])
    app.engine.events = [(scanlink.PAPER, True)]
    asyncio.run(app._one())
    assert entered == ["scanning", "deciding", "dropping", "accepted", "ready"], entered
    assert app.engine.events == []
    assert [m for m, _ in app.engine.moves] == ["feed", "drop"]


def check_recovery_returns_a_sheet_caught_mid_scan():
    app, entered = _scanner("scan-r", journal={"phase": "scanning", "sheet": "scan-r-1-4",
                                               "counter": 3}, flags=[scanlink.PAPER_PRESENT, 0])

    async def course():
        assert await app.recover()
        await asyncio.sleep(0.01)

    asyncio.run(course())
    assert entered == ["returning", "returned"], entered
    assert app.engine.moves == [
        ("eject", {"phase": "scanning", "sheet": "scan-r-1-4", "counter": 3})]
    assert store.read_json(app.journal_path) == {"phase": "idle", "sheet": None, "counter": 3}
    assert app.device.link.sent == ["ballot.returned", "event"]


def check_recovery_finishes_a_drop_the_power_cut_interrupted():
    # Paper gone after a DROP that may have moved it: dropped, counted, reported.
    app, entered = _scanner("scan-d", journal={"phase": "dropping", "sheet": "scan-d-1-2",
                                               "counter": 5}, flags=[0])

    async def course():
        assert await app.recover()
        await asyncio.sleep(0.01)

    asyncio.run(course())
    assert entered == ["accepted"], entered
    assert app.counter == 5 and app.engine.moves == []
    assert store.read_json(app.journal_path) == {"phase": "idle", "sheet": None, "counter": 5}
    assert app.device.link.sent == ["ballot.dropped", "event"]


def _terminal(name, replies):
    link = Link(replies)
    config = {"device": name, "reply_timeout": 1, "uart": {"mrz": "x", "display": "y"}}
    app = idterminal.Terminal(Device(name, config, link))
    entered = []
    enter = app._enter

    async def spy(state, fields=None, txn=None):
        entered.append(idterminal.STATES[state])
        await enter(state, fields, txn)

    app._enter = spy
    return app, entered


def _result(txn):
    return Msg("checkin.result", {"txn": txn, "status": "issued",
                                  "voter": {"row": 3, "name": "A"}, "style": "s", "reason": ""})


def check_terminal_journals_the_request_before_the_outbox():
    app, entered = _terminal("term-a", [_result("term-a-1-1")])
    seen = []
    app.link.on_durable = lambda: seen.append(store.read_json(app.pending_path))
    asyncio.run(app.present(TD1))
    assert seen == [{"txn": "term-a-1-1", "seq": 101}], seen
    assert entered == ["waiting", "answered"], entered
    assert app.device.display.shown == ["waiting", "checkin"]
    assert not store.exists(app.pending_path) and app.pending is None and not app.busy()


def check_terminal_error_then_late_answer():
    app, entered = _terminal("term-b", [None, _result("term-b-1-1")])

    async def course():
        await app.present(TD1)
        assert not app.busy() and store.exists(app.pending_path)
        for _ in range(50):
            if app.pending is None:
                break
            await asyncio.sleep(0.01)

    asyncio.run(course())
    assert entered == ["waiting", "error", "answered"], entered
    assert not store.exists(app.pending_path)


def check_terminal_unreadable_document_is_answered_locally():
    app, entered = _terminal("term-c", [])
    asyncio.run(app.present(["NOT AN MRZ"]))
    assert entered == ["answered"] and app.link.sent == []
    assert app.device.display.shown == ["checkin"]


def check_zz_cleanup():
    rmtree(TMP)


run(globals())
