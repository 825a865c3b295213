"""Power cuts on the scanner: no ballot lost, none counted twice."""

from __future__ import annotations

from collections.abc import Callable

from drivers import scanlink
from hil.history import wait_until
from hil.rig import StationRig, wait_idle
from hil.voters import expected_contests, feed_sheet


def check_in(rig: StationRig, index: int) -> None:
    voter = rig.voters[index]
    screen = rig.simulated_voter(voter).check_in(rig.terminals[index % len(rig.terminals)])
    assert screen["status"] == "issued", screen


def close_and_check(rig: StationRig, cast: int) -> None:
    """Close the polls; the results count exactly the first ``cast`` voters, once each."""
    wait_idle(rig, 60)
    results = rig.close_polls()
    truth = [(v.style, rig.truth[v.voter_id]) for v in rig.voters[:cast]]
    assert results["contests"] == expected_contests(rig.election, truth)
    assert results["ballots_cast"] == cast
    assert results["scanner_counters"] == {"scan-1": cast}
    assert all(results["checks"].values()), results["checks"]
    assert len(rig.scanners[0].engine.box) == cast


def test_power_cut_in_the_middle_of_a_ballot_upload(station: Callable[..., StationRig]) -> None:
    rig = station(voters=2, seed=21)
    scanner = rig.scanners[0]
    engine, board, display = scanner.engine, scanner.board, scanner.display
    voter = rig.voters[0]
    check_in(rig, 0)
    sheet = rig.make_ballot(voter.style, rig.truth[voter.voter_id], voter.row)
    sheet.label = voter.voter_id

    mark = display.mark()
    engine.insert(sheet)
    interrupted = display.wait_screen("scanning", 30, mark)["sheet"]
    engine.wait_rows(sheet.height // 2, 60)
    board.power_cut()
    assert engine.sheet is sheet and engine.rows_sent < sheet.height
    status = rig.status()
    assert (status["cast"], status["pending"]) == (0, 0)

    # Power back: the scanner finds the interrupted scan in its journal and hands the
    # sheet back to the voter.
    mark = display.mark()
    board.start()
    assert engine.wait_settled(sheet, 60) == "returned"
    board.wait_console(f"sheet {interrupted} returned (interrupted)", 30)
    display.wait_screen("ready", 30, mark, counter=0)
    assert rig.status()["cast"] == 0

    # The voter feeds it again: one new sheet id, one ballot in the box.
    where, screen = feed_sheet(scanner, sheet, 120)
    assert where == "dropped", sheet
    assert screen is not None and screen["counter"] == 1 and screen["sheet"] != interrupted

    outcome = rig.simulated_voter(rig.voters[1]).vote(rig.terminals[1], scanner)
    assert outcome.cast and outcome.counter == 2, outcome
    close_and_check(rig, 2)


def test_power_cut_as_the_ballot_drops_into_the_box(station: Callable[..., StationRig]) -> None:
    rig = station(voters=2, seed=22)
    scanner = rig.scanners[0]
    engine, board, display = scanner.engine, scanner.board, scanner.display
    voter = rig.voters[0]
    check_in(rig, 0)
    sheet = rig.make_ballot(voter.style, rig.truth[voter.voter_id], voter.row)
    sheet.label = voter.voter_id

    def cut_on_drop(ftype: int, payload: bytes) -> None:
        # The board dies the instant it commands the drop; the mechanism completes it.
        if ftype == scanlink.DROP and board.alive():
            board.power_cut()

    engine.before_command = cut_on_drop
    engine.insert(sheet)
    assert engine.wait_settled(sheet, 120) == "dropped"
    engine.before_command = None
    assert not board.alive()
    # Accepted and in the box, but the scanner never said so: not cast yet.
    status = rig.status()
    assert (status["cast"], status["pending"]) == (0, 1)

    mark = display.mark()
    board.start()
    # From its journal the scanner knows the drop was under way, finds the path empty
    # and reports the ballot dropped: counted once, counter 1.
    wait_until(lambda: rig.status()["cast"] == 1, 60, "the dropped ballot to be recorded")
    display.wait_screen("ready", 30, mark, counter=1)

    outcome = rig.simulated_voter(rig.voters[1]).vote(rig.terminals[1], scanner)
    assert outcome.cast and outcome.counter == 2, outcome
    close_and_check(rig, 2)
