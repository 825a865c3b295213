"""The ballot scanner end to end: real firmware at 128 KB heap, broker, scan engine on a pty."""

from __future__ import annotations

import json
from pathlib import Path

from drivers import scanlink
from hil.history import wait_until
from hil.peripherals.scan_engine import Fault


def journal(scanner) -> dict:
    return json.loads((Path(scanner.board.flash) / "journal.json").read_text())


def wait_journal(scanner, phase: str, timeout: float = 20) -> dict:
    """Wait until the scanner's journal file shows ``phase`` (a file: polled, bounded)."""

    def reached() -> dict | None:
        try:
            state = journal(scanner)
        except (OSError, ValueError):
            return None
        return state if state and state["phase"] == phase else None

    return wait_until(reached, timeout, f"journal phase {phase}", interval=0.02)


def test_full_size_ballot_streams_in_128k_and_is_accepted(make_scanner, controller):
    scanner = make_scanner(1700, 2400)
    ctl = controller(scanner.device)
    scanner.board.start()
    scanner.display.wait_screen("ready", counter=0)
    ctl.wait("hello")
    scanner.insert()
    shown = scanner.display.wait_screen("accepted", timeout=60)
    sheet = f"{scanner.device}-1-1"
    assert shown == {"screen": "accepted", "sheet": sheet, "counter": 1}
    begin = ctl.wait("blob.begin")
    assert begin.body == {"blob": sheet, "kind": "ballot-image",
                          "meta": {"width": 1700, "height": 2400, "dpi": 200, "bpp": 8}}
    end = ctl.wait("blob.end")
    # 4 rows of 1700 pixels per chunk: one 6.8 KB buffer in the heap.
    assert end.body["size"] == 1700 * 2400 and end.body["chunks"] == 600
    assert ctl.images[sheet] == scanner.expected_sha256() == end.body["sha256"]
    assert len(ctl.chunks) == 600
    dropped = ctl.wait("ballot.dropped")
    assert dropped.body == {"sheet": sheet, "counter": 1}
    assert scanner.engine.commands.items().count(scanlink.DROP) == 1
    assert journal(scanner) == {"phase": "idle", "sheet": None, "counter": 1}
    assert not any("MemoryError" in line for line in scanner.board.console.items())
    # The public counter survives a restart.
    scanner.board.restart()
    scanner.display.wait_screen("ready", counter=1, start=len(scanner.display.screens))


def test_returned_ballot_is_pushed_back_and_reported(make_scanner, controller):
    scanner = make_scanner()
    ctl = controller(scanner.device)
    ctl.decide = lambda sheet: ("return", "overvote", "Contest 1: more than one mark")
    scanner.board.start()
    ctl.wait("hello")
    scanner.insert()
    shown = scanner.display.wait_screen("returned")
    sheet = f"{scanner.device}-1-1"
    assert shown == {"screen": "returned", "sheet": sheet, "reason": "overvote",
                     "message": "Contest 1: more than one mark"}
    assert ctl.wait("ballot.returned").body == {"sheet": sheet, "reason": "overvote"}
    assert scanner.engine.commands.items().count(scanlink.RETURN) == 1
    assert scanlink.DROP not in scanner.engine.commands.items()
    assert ctl.of_type("ballot.dropped") == []
    scanner.display.wait_screen("ready", counter=0, start=1)


def test_no_decision_returns_the_sheet(make_scanner, controller):
    scanner = make_scanner(decision_timeout=2)
    ctl = controller(scanner.device)
    ctl.decide = lambda sheet: None  # the controller never answers
    scanner.board.start()
    ctl.wait("hello")
    scanner.insert()
    shown = scanner.display.wait_screen("returned", timeout=15)
    assert shown["reason"] == "timeout"
    assert ctl.wait("ballot.returned").body["reason"] == "timeout"
    # A decision arriving after the sheet went back changes nothing.
    end = ctl.wait("blob.end")
    ctl.send(scanner.device, "ballot.decision", {
        "sheet": end.body["blob"], "decision": "accept", "reason": None, "message": ""},
        re=end.seq)
    scanner.display.wait_screen("ready", counter=0, start=1)
    assert scanlink.DROP not in scanner.engine.commands.items()
    assert journal(scanner)["counter"] == 0


def test_decision_for_another_sheet_is_not_obeyed(make_scanner, controller):
    scanner = make_scanner()
    ctl = controller(scanner.device)
    ctl.handlers["blob.end"] = lambda m: ("ballot.decision", {
        "sheet": "someone-else-1-1", "decision": "accept", "reason": None, "message": ""})
    scanner.board.start()
    ctl.wait("hello")
    scanner.insert()
    shown = scanner.display.wait_screen("returned")
    assert shown["reason"] == "bad_decision"
    assert scanlink.DROP not in scanner.engine.commands.items()


def test_jam_while_feeding_returns_the_sheet_once_cleared(make_scanner, controller):
    scanner = make_scanner()
    ctl = controller(scanner.device)
    scanner.engine.arm(Fault("jam", command=scanlink.FEED))
    scanner.board.start()
    ctl.wait("hello")
    scanner.insert()
    fault = scanner.display.wait_screen("fault")
    assert "jam" in fault["reason"]
    event = ctl.wait("event")
    assert event.body["kind"] == "jam"
    scanner.engine.clear_jam()  # a poll worker clears the jam
    shown = scanner.display.wait_screen("returned")
    sheet = f"{scanner.device}-1-1"
    assert shown["sheet"] == sheet and shown["reason"] == "jam"
    assert ctl.wait("ballot.returned").body == {"sheet": sheet, "reason": "jam"}
    assert ctl.of_type("blob.begin") == []


def test_power_cut_mid_upload_loses_nothing_counts_nothing_twice(make_scanner, controller):
    scanner = make_scanner(200, 12000)
    ctl = controller(scanner.device)
    scanner.board.start()
    ctl.wait("hello")
    scanner.insert()
    ctl.chunks.wait_for(lambda c: c[1] >= 20)
    scanner.power_cut()
    first = f"{scanner.device}-1-1"
    assert journal(scanner) == {"phase": "scanning", "sheet": first, "counter": 0}
    assert ctl.of_type("blob.end") == []
    scanner.board.start()
    # Boot: the interrupted sheet goes back to the voter and is reported returned.
    returned = ctl.wait("ballot.returned")
    assert returned.body == {"sheet": first, "reason": "interrupted"}
    shown = scanner.display.wait_screen("returned", sheet=first)
    assert shown["reason"] == "interrupted" and shown["message"]
    assert ctl.wait("hello", pred=lambda m: m.body["boot"] == 2)
    assert scanner.engine.commands.items().count(scanlink.RETURN) == 1
    scanner.display.wait_screen("ready", counter=0, start=len(scanner.display.screens) - 1)
    # The voter inserts the ballot again: a new sheet id, counted once.
    scanner.insert()
    shown = scanner.display.wait_screen("accepted", timeout=60)
    assert shown == {"screen": "accepted", "sheet": f"{scanner.device}-2-1", "counter": 1}
    ctl.wait("ballot.dropped")
    dropped = [m.body for m in ctl.of_type("ballot.dropped")]
    assert dropped == [{"sheet": f"{scanner.device}-2-1", "counter": 1}]


def test_board_restarting_into_an_engine_still_streaming_resynchronises(make_scanner, controller):
    """A board that restarts while its engine is still sending the rows of the sheet it
    was scanning (the engine does not know the board went away) must not take those
    rows, or the end of a frame it comes up in the middle of, for the answers to its
    first commands. Here the engine streams for as long as the test lets it, so the
    board's resync gives up waiting for a quiet line and the answers to STATUS and
    RETURN come between rows."""
    scanner = make_scanner(200, 2000)
    ctl = controller(scanner.device)
    scanner.board.start()
    ctl.wait("hello")
    scanner.insert()
    ctl.chunks.wait_for(lambda c: c[1] >= 5)
    scanner.power_cut()
    first = f"{scanner.device}-1-1"
    before = len(scanner.engine.commands)
    stop = scanner.engine.keep_streaming(first=scanner.engine.rows_sent)
    try:
        scanner.board.start()
        scanner.engine.commands.wait_for(lambda c: c == scanlink.STATUS, timeout=30, start=before)
        at_status = scanner.engine.streamed
        shown = scanner.display.wait_screen("returned", sheet=first, timeout=30)
        assert shown["reason"] == "interrupted"
        scanner.display.wait_screen("ready", counter=0, start=len(scanner.display.screens) - 1)
        # Answered in the middle of the stream: rows went out before and go on after.
        assert at_status > 0
        wait_until(lambda: scanner.engine.streamed > at_status + 5, 10, "rows after STATUS")
    finally:
        stop.set()
    assert ctl.wait("ballot.returned").body == {"sheet": first, "reason": "interrupted"}
    assert scanner.engine.commands.items()[before:].count(scanlink.RETURN) == 1
    faults = [s for s in scanner.display.screens.items() if s["screen"] == "fault"]
    assert faults == []
    assert not any("expected frame" in line for line in scanner.board.console.items())
    # The voter inserts the ballot again: read cleanly, counted once.
    scanner.insert()
    shown = scanner.display.wait_screen("accepted", timeout=60)
    second = f"{scanner.device}-2-1"
    assert shown == {"screen": "accepted", "sheet": second, "counter": 1}
    assert ctl.images[second] == scanner.expected_sha256()
    ctl.wait("ballot.dropped")
    assert [m.body for m in ctl.of_type("ballot.dropped")] == [{"sheet": second, "counter": 1}]


def test_power_cut_while_dropping_finishes_the_drop_after_restart(make_scanner, controller):
    scanner = make_scanner()
    ctl = controller(scanner.device)
    scanner.engine.hold.add(scanlink.DROP)  # the mechanism stalls with the sheet half in
    scanner.board.start()
    ctl.wait("hello")
    scanner.insert()
    state = wait_journal(scanner, "dropping")
    sheet = f"{scanner.device}-1-1"
    assert state == {"phase": "dropping", "sheet": sheet, "counter": 1}
    scanner.engine.commands.wait_for(lambda c: c == scanlink.DROP)
    scanner.power_cut()
    scanner.engine.drop_held()
    assert ctl.of_type("ballot.dropped") == []
    scanner.board.start()
    dropped = ctl.wait("ballot.dropped")
    assert dropped.body == {"sheet": sheet, "counter": 1}
    scanner.display.wait_screen("accepted", sheet=sheet, counter=1)
    scanner.display.wait_screen("ready", counter=1, start=len(scanner.display.screens) - 1)
    assert journal(scanner) == {"phase": "idle", "sheet": None, "counter": 1}
    assert scanner.engine.sheet is None
    assert len(ctl.of_type("ballot.dropped")) == 1
    # The next ballot continues the count.
    scanner.insert()
    assert scanner.display.wait_screen("accepted", counter=2)["sheet"] == f"{scanner.device}-2-1"


def test_corrupt_row_returns_the_sheet_and_the_next_one_is_read_cleanly(make_scanner, controller):
    scanner = make_scanner(300, 200)
    ctl = controller(scanner.device)
    scanner.engine.arm(Fault("corrupt_row", row=37))
    scanner.board.start()
    ctl.wait("hello")
    scanner.insert()
    shown = scanner.display.wait_screen("returned")
    assert shown["reason"] == "corrupt_scan" and "damaged" in shown["message"]
    assert ctl.wait("ballot.returned").body["reason"] == "corrupt_scan"
    assert ctl.of_type("blob.end") == []
    scanner.insert()
    accepted = scanner.display.wait_screen("accepted")
    assert accepted == {"screen": "accepted", "sheet": f"{scanner.device}-1-2", "counter": 1}
    assert ctl.images[accepted["sheet"]] == scanner.expected_sha256()
