"""The device apps' states as the real firmware walks them, in ``micropython``.

Each app enters a state in one place, which logs ``[scanner] state <name> <sheet>`` or
``[terminal] state <name> <txn>`` on the console; these tests read that log and assert
the course of states for each kind of sheet and check-in, beside where the paper went
and what was reported. Every message the firmware sends on the way is checked against
its payload schema in ``docs/asyncapi.json``.
"""

from __future__ import annotations

import re

import numpy as np

from drivers import mrz_make, scanlink
from hil.peripherals import Sheet
from hil.peripherals.scan_engine import Fault
from tests.protocol.wire_schema import validator

STATE = re.compile(r"^\[(scanner|terminal)\] state (\w+)(?: (\S+))?$")
DOC = mrz_make.make_td1("AN1234567", "850214", "F", "310101", "KGZ", "ASANOVA", "AIGUL",
                        personal_number="21402198500123")


def states(board, start: int = 0) -> list[tuple[str, str | None]]:
    """(state, sheet or txn) of every transition on the console from line ``start`` on."""
    found = []
    for line in board.console.items()[start:]:
        m = STATE.match(line.strip())
        if m:
            found.append((m.group(2), m.group(3)))
    return found


def names(board, start: int = 0) -> list[str]:
    """The states entered from console line ``start`` on; a state entered again straight
    after itself (a sensor change that leaves the scanner ready) counts once."""
    found: list[str] = []
    for name, _ in states(board, start):
        if not found or found[-1] != name:
            found.append(name)
    return found


def wait_state(board, name: str, start: int = 0, timeout: float = 30) -> None:
    board.console.wait_for(lambda line: (m := STATE.match(line.strip())) is not None
                           and m.group(2) == name, timeout, start, f"state {name}")


def check_wire(ctl) -> None:
    """Every message the device sent matches its AsyncAPI payload schema."""
    sent = ctl.messages.items()
    assert sent
    for msg in sent:
        header = dict(msg.header, tag=msg.tag.hex())
        errors = [e.message for e in validator(msg.type).iter_errors(header)]
        assert errors == [], (msg.type, errors)


def sheet(label: str) -> Sheet:
    image = (np.arange(200 * 60) * 7 % 256).astype(np.uint8).reshape(60, 200)
    return Sheet(image, 150, label)


def start_scanner(make_scanner, controller, **config):
    scanner = make_scanner(**config)
    ctl = controller(scanner.device)
    scanner.board.start()
    scanner.display.wait_screen("ready", counter=0)
    # The console and the screen are two lines of their own: the state's log line may
    # reach the rig after its screen. Marks are taken once it is in.
    wait_state(scanner.board, "ready")
    ctl.wait("hello")
    return scanner, ctl


def test_accepted_sheet(make_scanner, controller):
    scanner, ctl = start_scanner(make_scanner, controller)
    mark = len(scanner.board.console)
    paper = scanner.engine.insert(sheet("voter-1"))
    scanner.display.wait_screen("accepted", counter=1)
    wait_state(scanner.board, "ready", mark)
    name = f"{scanner.device}-1-1"
    assert names(scanner.board, mark) == [
        "scanning", "deciding", "dropping", "accepted", "ready"]
    assert {sheet for state, sheet in states(scanner.board, mark) if state != "ready"} == {
        name}
    assert scanner.engine.wait_settled(paper, 10) == "dropped"
    assert scanner.journal() == {"phase": "idle", "sheet": None, "counter": 1}
    ctl.wait("ballot.dropped")
    check_wire(ctl)


def test_sheet_the_controller_returns(make_scanner, controller):
    scanner, ctl = start_scanner(make_scanner, controller)
    ctl.decide = lambda sheet: ("return", "overvote", "Contest 1: more than one mark")
    mark = len(scanner.board.console)
    paper = scanner.engine.insert(sheet("voter-2"))
    scanner.display.wait_screen("returned")
    wait_state(scanner.board, "ready", mark)
    assert names(scanner.board, mark) == [
        "scanning", "deciding", "returning", "returned", "ready"]
    assert scanner.engine.wait_settled(paper, 10) == "returned"
    assert ctl.wait("ballot.returned").body["reason"] == "overvote"
    check_wire(ctl)


def test_double_sheet_skips_deciding_and_fault(make_scanner, controller):
    scanner, ctl = start_scanner(make_scanner, controller)
    scanner.engine.arm(Fault("double"))
    mark = len(scanner.board.console)
    scanner.engine.insert(sheet("voter-3"))
    scanner.display.wait_screen("returned")
    wait_state(scanner.board, "ready", mark)
    assert names(scanner.board, mark) == ["scanning", "returning", "returned", "ready"]
    ctl.wait("ballot.returned")
    check_wire(ctl)


def test_cover_opened_mid_scan_is_a_fault_until_closed(make_scanner, controller):
    scanner, ctl = start_scanner(make_scanner, controller)
    scanner.engine.arm(Fault("cover", row=20))
    mark = len(scanner.board.console)
    scanner.engine.insert(sheet("voter-4"))
    scanner.display.wait_screen("fault")
    wait_state(scanner.board, "fault", mark)
    assert names(scanner.board, mark)[:2] == ["scanning", "fault"]
    # Shown until the cover is closed: nothing moves on while it is open.
    assert "returning" not in names(scanner.board, mark)
    scanner.engine.close_cover()
    scanner.display.wait_screen("returned")
    wait_state(scanner.board, "ready", mark)
    assert names(scanner.board, mark)[-3:] == ["returning", "returned", "ready"]
    check_wire(ctl)


def test_refused_drop_is_jammed_until_cleared(make_scanner, controller):
    scanner, ctl = start_scanner(make_scanner, controller)
    scanner.engine.arm(Fault("jam", command=scanlink.DROP))
    mark = len(scanner.board.console)
    paper = scanner.engine.insert(sheet("voter-5"))
    scanner.display.wait_screen("jammed")
    wait_state(scanner.board, "jammed", mark)
    assert names(scanner.board, mark) == ["scanning", "deciding", "dropping", "jammed"]
    assert scanner.journal()["phase"] == "jammed"
    scanner.engine.clear_jam()
    scanner.display.wait_screen("accepted", counter=1)
    wait_state(scanner.board, "ready", mark)
    assert names(scanner.board, mark)[-2:] == ["accepted", "ready"]
    assert scanner.engine.wait_settled(paper, 10) == "dropped"
    check_wire(ctl)


def test_power_cut_while_deciding_returns_the_sheet_after_restart(make_scanner, controller):
    scanner, ctl = start_scanner(make_scanner, controller, decision_timeout=60)
    ctl.decide = lambda sheet: None  # the controller does not answer before the cut
    mark = len(scanner.board.console)
    paper = scanner.engine.insert(sheet("voter-6"))
    wait_state(scanner.board, "deciding", mark)
    assert scanner.journal()["phase"] == "scanning"
    scanner.power_cut()
    restart = len(scanner.board.console)
    scanner.board.start()
    shown = scanner.display.wait_screen("returned", start=scanner.display.mark())
    assert shown["reason"] == "interrupted"
    wait_state(scanner.board, "ready", restart)
    assert names(scanner.board, restart) == ["returning", "returned", "ready"]
    assert scanner.engine.wait_settled(paper, 10) == "returned"
    assert scanner.journal() == {"phase": "idle", "sheet": None, "counter": 0}
    check_wire(ctl)


def issued(msg):
    return ("checkin.result", {"txn": msg.body["txn"], "status": "issued",
                               "voter": {"row": 17, "name": "ASANOVA AIGUL"},
                               "style": "kg-2025-a", "reason": ""})


def test_check_in_and_a_document_while_waiting(make_terminal, controller):
    term = make_terminal(peripherals=False, reply_timeout=60)
    ctl = controller(term.device)
    term.board.start()
    term.display.wait_screen("ready")
    ctl.wait("hello")
    term.present(DOC)
    request = ctl.wait("checkin.request")
    txn = request.body["txn"]
    wait_state(term.board, "waiting")
    assert (term.board.flash / "pending.json").exists()
    term.present(DOC)  # in WAITING a document is read and dropped
    term.board.wait_console("busy: a document was ignored")
    ctl.send(term.device, *issued(request), re=request.seq)
    term.display.wait_screen("checkin", status="issued")
    wait_state(term.board, "answered")
    assert states(term.board) == [("ready", None), ("checking", None), ("waiting", txn),
                                  ("answered", txn)]
    assert not (term.board.flash / "pending.json").exists()
    assert len(ctl.of_type("checkin.request")) == 1
    check_wire(ctl)


def test_no_answer_is_an_error_until_the_late_answer(make_terminal, controller):
    term = make_terminal(peripherals=False, reply_timeout=2)
    ctl = controller(term.device)
    term.board.start()
    ctl.wait("hello")
    term.present(DOC)
    request = ctl.wait("checkin.request")
    term.display.wait_screen("error", timeout=10)
    wait_state(term.board, "error")
    assert (term.board.flash / "pending.json").exists()  # the answer is still awaited
    ctl.send(term.device, *issued(request), re=request.seq)
    term.display.wait_screen("checkin", status="issued")
    wait_state(term.board, "answered")
    assert names(term.board) == ["ready", "checking", "waiting", "error", "answered"]
    assert not (term.board.flash / "pending.json").exists()
    check_wire(ctl)


def test_unreadable_document_is_answered_without_a_request(make_terminal, controller):
    term = make_terminal(peripherals=False)
    ctl = controller(term.device)
    term.board.start()
    ctl.wait("hello")
    term.present([DOC[0], DOC[1][:10] + "a" + DOC[1][11:], DOC[2]])  # "a": not an MRZ letter
    term.display.wait_screen("checkin", status="invalid_document")
    wait_state(term.board, "answered")
    assert names(term.board) == ["ready", "checking", "answered"]
    assert ctl.of_type("checkin.request") == []
    check_wire(ctl)


def test_waiting_survives_a_power_cut(make_terminal, controller):
    term = make_terminal(peripherals=False, reply_timeout=60)
    ctl = controller(term.device)
    term.board.start()
    ctl.wait("hello")
    term.present(DOC)
    request = ctl.wait("checkin.request")
    wait_state(term.board, "waiting")
    term.board.power_cut()
    restart = len(term.board.console)
    ctl.handlers["checkin.request"] = issued
    term.board.start()
    wait_state(term.board, "waiting", restart)
    # Resumed straight into WAITING: no ready screen, no second request.
    assert names(term.board, restart)[0] == "waiting"
    ctl.send(term.device, *issued(request), re=request.seq)
    term.display.wait_screen("checkin", status="issued")
    wait_state(term.board, "answered", restart)
    assert names(term.board, restart) == ["waiting", "answered"]
    assert not (term.board.flash / "pending.json").exists()
    check_wire(ctl)
