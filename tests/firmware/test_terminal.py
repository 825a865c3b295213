"""The voter-identification terminal end to end: real firmware, broker, ptys."""

from __future__ import annotations

import json
from pathlib import Path

from drivers import mrz_make
from hil.broker import free_port, start_broker
from tests.firmware.fake_controller import FakeController, checkin_answer

DOC = mrz_make.make_td1("AN1234567", "850214", "F", "310101", "KGZ", "ASANOVA", "AIGUL",
                   personal_number="21402198500123")


def issued(msg):
    return ("checkin.result", {"txn": msg.body["txn"], "status": "issued",
                               "voter": {"row": 17, "name": "ASANOVA AIGUL"},
                               "style": "kg-2025-a", "reason": ""})


def test_document_checked_in_and_shown(make_terminal, controller):
    term = make_terminal()
    ctl = controller(term.device)
    ctl.handlers["checkin.request"] = issued
    term.board.start()
    term.display.wait_screen("ready")
    hello = ctl.wait("hello")
    assert hello.body["role"] == "idterminal" and hello.body["boot"] == 1
    manifest = json.loads((term.board.flash / "manifest.json").read_text())
    assert hello.body["fw_hash"] == manifest["fw_hash"]
    assert hello.body["fw"] == manifest["version"]
    status = ctl.status.wait_for(lambda s: s[0] == term.device and s[1]["state"] == "online")
    assert status[1] == {"state": "online", "fw": hello.body["fw"], "role": "idterminal"}
    term.present(DOC)
    request = ctl.wait("checkin.request")
    assert request.body["mrz"] == DOC
    assert request.body["doc"]["document_number"] == "AN1234567"
    assert request.body["doc"]["valid"] is True
    waiting = term.display.wait_screen("waiting")
    shown = term.display.wait_screen("checkin")
    assert waiting["txn"] == shown["txn"] == request.body["txn"]
    assert shown == {"screen": "checkin", "txn": request.body["txn"], "status": "issued",
                     "row": 17, "name": "ASANOVA AIGUL", "style": "kg-2025-a", "reason": ""}
    assert request.body["txn"] == f"{term.device}-1-1"
    # A second voter: a new transaction id, the next sequence number.
    ctl.handlers["checkin.request"] = lambda m: ("checkin.result", {
        "txn": m.body["txn"], "status": "already_issued", "voter": None, "style": None,
        "reason": "ballot issued at 09:14"})
    term.present(DOC)
    second = ctl.wait("checkin.request", start=len(ctl.messages) - 1,
                      pred=lambda m: m.body["txn"] != request.body["txn"])
    assert second.seq > request.seq
    shown = term.display.wait_screen("checkin", status="already_issued")
    assert shown["row"] is None and shown["reason"] == "ballot issued at 09:14"


def test_unreadable_document_is_refused_locally(make_terminal, controller):
    term = make_terminal()
    ctl = controller(term.device)
    term.board.start()
    term.display.wait_screen("ready")
    ctl.wait("hello")
    bad = [DOC[0], DOC[1][:10] + "a" + DOC[1][11:], DOC[2]]  # lower case: not an MRZ character
    term.present(bad)
    shown = term.display.wait_screen("checkin", status="invalid_document")
    assert "column 11" in shown["reason"] and shown["row"] is None
    term.board.wait_console("not a readable MRZ")
    assert ctl.of_type("checkin.request") == []


def test_bad_check_digit_goes_to_the_controller(make_terminal, controller):
    term = make_terminal()
    ctl = controller(term.device)
    ctl.handlers["checkin.request"] = lambda m: ("checkin.result", {
        "txn": m.body["txn"], "status": "invalid_document", "voter": None, "style": None,
        "reason": "check digits do not match"})
    term.board.start()
    ctl.wait("hello")
    broken = [DOC[0][:14] + str((int(DOC[0][14]) + 1) % 10) + DOC[0][15:], DOC[1], DOC[2]]
    term.present(broken)
    request = ctl.wait("checkin.request")
    assert request.body["doc"]["valid"] is False
    assert request.body["doc"]["checks"]["document_number"] is False
    term.display.wait_screen("checkin", status="invalid_document",
                             reason="check digits do not match")


def test_forged_replayed_and_foreign_replies_change_nothing(make_terminal, controller):
    term = make_terminal(reply_timeout=60)
    ctl = controller(term.device)
    term.board.start()
    ctl.wait("hello")
    term.present(DOC)
    request = ctl.wait("checkin.request")
    term.display.wait_screen("waiting")
    body = issued(request)[1]
    # Signed with another device's key.
    forged = ctl.seal(term.device, "checkin.result", body, request.seq, key=b"k" * 32)
    ctl.publish_raw(term.device, forged)
    term.board.wait_console("refused a message: bad_tag")
    # A tampered body under a valid tag.
    good = ctl.seal(term.device, "checkin.result", body, request.seq)
    ctl.publish_raw(term.device, good.replace(b"ASANOVA", b"BSANOVA"))
    term.board.wait_console("refused a message: bad_tag", start=len(term.board.console) - 1)
    # Not an envelope at all, and an oversized payload.
    ctl.publish_raw(term.device, b"\x00garbage")
    term.board.wait_console("refused a message: malformed")
    ctl.publish_raw(term.device, b"{" + b" " * 20000 + b"}\n")
    term.board.wait_console("dropped a message of more than")
    # An "up" message of the device itself sent back down.
    echoed = ctl.seal(term.device, "checkin.result", body, request.seq)
    echoed = echoed.replace(b'"dir":"down"', b'"dir":"up"')
    ctl.publish_raw(term.device, echoed)
    assert term.display.screens.items()[-1]["screen"] == "waiting"
    # The genuine answer is shown; the same answer replayed is ignored.
    ctl.publish_raw(term.device, good)
    shown = term.display.wait_screen("checkin", status="issued")
    assert shown["txn"] == request.body["txn"]
    count = len(term.display.screens)
    ctl.publish_raw(term.device, good)
    term.board.wait_console("ignored duplicate controller seq")
    assert len(term.display.screens) == count
    assert term.board.alive()


def test_document_while_waiting_is_ignored(make_terminal, controller):
    term = make_terminal(reply_timeout=60)
    ctl = controller(term.device)
    term.board.start()
    ctl.wait("hello")
    term.present(DOC)
    request = ctl.wait("checkin.request")
    term.display.wait_screen("waiting")
    term.present(DOC)
    term.board.wait_console("busy: a document was ignored")
    ctl.send(term.device, *issued(request), re=request.seq)
    term.display.wait_screen("checkin", status="issued")
    assert len(ctl.of_type("checkin.request")) == 1


def test_no_answer_shows_error_and_late_answer_is_still_shown(make_terminal, controller):
    term = make_terminal(reply_timeout=2)
    ctl = controller(term.device)
    term.board.start()
    ctl.wait("hello")
    term.present(DOC)
    request = ctl.wait("checkin.request")
    term.display.wait_screen("error", timeout=10)
    ctl.send(term.device, *issued(request), re=request.seq)
    shown = term.display.wait_screen("checkin", status="issued")
    assert shown["txn"] == request.body["txn"]


def test_request_survives_power_cut_and_answer_is_shown_after_restart(make_terminal, tmp_path,
                                                                      broker):
    port = free_port()
    term = make_terminal(host="127.0.0.1", port=port)  # no broker there yet
    term.board.start()
    term.display.wait_screen("ready")
    term.present(DOC)
    term.display.wait_screen("waiting")
    line = term.board.wait_console("request seq")
    seq = int(line.split("request seq ")[1].split()[0])
    term.board.power_cut()
    outbox = Path(term.board.flash) / "outbox"
    assert [p.name for p in outbox.iterdir()] == [f"{seq:016d}.msg"]
    assert (Path(term.board.flash) / "pending.json").exists()
    # The station's broker comes up late: same CA and accounts as the module's broker.
    with start_broker("mosquitto", port=port, like=broker) as late:
        ctl = FakeController(late, [term.device])
        try:
            ctl.handlers["checkin.request"] = issued
            term.board.start()
            request = ctl.wait("checkin.request")
            assert request.seq == seq  # the stored message itself, not a new one
            hello = ctl.wait("hello")
            assert hello.body["boot"] == 2 and hello.seq > seq
            shown = term.display.wait_screen("checkin", status="issued")
            assert shown["txn"] == request.body["txn"] == f"{term.device}-1-1"
            term.board.wait_console("delivered outbox seq %d" % seq)
            assert list(outbox.iterdir()) == []
            assert not (Path(term.board.flash) / "pending.json").exists()
            assert ctl.errors.items() == []
        finally:
            ctl.stop()


def test_a_morning_of_voters_fits_in_96k(make_terminal, controller):
    term = make_terminal()
    ctl = controller(term.device)
    ctl.handlers["checkin.request"] = issued
    term.board.start()
    ctl.wait("hello")
    for n in range(1, 26):
        start = len(term.display.screens)
        doc = mrz_make.make_td1("AN%07d" % n, "850214", "F", "310101", "KGZ", "VOTER", "NUMBER",
                           personal_number="2140219850%04d" % n)
        term.present(doc)
        shown = term.display.screens.wait_for(
            lambda s: s["screen"] in ("checkin", "error"), 20, start)
        assert shown["screen"] == "checkin" and shown["txn"] == f"{term.device}-1-{n}", shown
    assert not any("MemoryError" in line or "memory" in line
                   for line in term.board.console.items())


def test_a_plain_terminal_at_96k_serves_30_voters_with_the_controllers_answers(
        make_terminal, controller):
    term = make_terminal(peripherals=False)
    ctl = controller(term.device)
    ctl.handlers["checkin.request"] = checkin_answer
    term.board.start()
    ctl.wait("hello")
    # 96 KB and the TLS allowance (hil.targets.virtual.TLS_HEAP_KB).
    assert term.board.cmdline()[-3:] == ["-X", "heapsize=104k", "main.py"]
    for n in range(1, 31):
        start = len(term.display.screens)
        doc = mrz_make.make_td1("AN%07d" % n, "850214", "F", "310101", "KGZ", "VOTER", "NUMBER",
                                personal_number="2140219850%04d" % n)
        term.present(doc)
        shown = term.display.screens.wait_for(
            lambda s: s["screen"] in ("checkin", "error"), 30, start)
        expected = checkin_answer(ctl.wait("checkin.request", 5, pred=lambda m, n=n: (
            m.body["txn"] == f"{term.device}-1-{n}")))[1]
        assert shown["screen"] == "checkin", shown
        assert (shown["txn"], shown["status"], shown["reason"]) == (
            expected["txn"], expected["status"], expected["reason"][:200])
        assert shown["name"] == (expected["voter"] or {}).get("name")
    console = term.board.console.items()
    assert not any("MemoryError" in line or "memory" in line for line in console), [
        line for line in console if "emory" in line]
    # Every answer says how low the heap went while it was under way.
    lows = [line for line in console if ", low " in line and "[terminal] txn" in line]
    assert len(lows) == 30, lows
