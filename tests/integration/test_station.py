"""A whole polling station on real firmware: 2 terminals, 1 scanner, 32 voters."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hil.rig import StationRig, wait_idle
from hil.voters import VoterOutcome, expected_contests, present_document

VOTERS = 32


def test_a_station_day_matches_the_ground_truth(station: Callable[..., StationRig]) -> None:
    rig = station(terminals=2, scanners=1, voters=VOTERS, seed=11)
    for unit in rig.terminals:
        # A terminal with a fingerprint sensor and a slip printer (hil.targets.virtual.heap_for).
        assert unit.board.cmdline()[-3:] == ["-X", "heapsize=136k", "main.py"]
    for unit in rig.scanners:
        assert unit.board.cmdline()[-3:] == ["-X", "heapsize=136k", "main.py"]
    status = rig.status()
    assert status["mode"] == "test" and status["polls"] == "open"
    assert all(d["online"] and d["known"] for d in status["devices"])
    assert status["voters"] == VOTERS and status["checked_in"] == 0
    # The ground truth covers blank ballots too.
    assert any(all(not marks for marks in rig.truth[v.voter_id].values()) for v in rig.voters)

    # One voter presents the same document at both terminals at the same moment.
    twin = rig.voters[0]
    barrier = threading.Barrier(2)
    screens: dict[str, dict[str, Any]] = {}

    finger = twin.finger_image()

    def present(unit: Any) -> None:
        with unit.queue:
            barrier.wait(10)
            screens[unit.name] = present_document(unit, twin.mrz(), 60, finger)

    threads = [threading.Thread(target=present, args=(unit,)) for unit in rig.terminals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert sorted(s["status"] for s in screens.values()) == ["already_issued", "issued"]
    issued = next(s for s in screens.values() if s["status"] == "issued")
    assert (issued["row"], issued["style"]) == (twin.row, twin.style)
    assert rig.status()["checked_in"] == 1

    # The twin casts the one ballot; then everybody else comes, several at a time.
    first = VoterOutcome(twin)
    rig.simulated_voter(twin).cast(rig.scanners[0], first)
    assert first.cast and first.counter == 1, first
    outcomes = rig.run_voters(rig.voters[1:])
    failed = [o for o in outcomes if o.error or o.checkin != "issued" or not o.cast]
    assert not failed, failed

    status = wait_idle(rig, 60)
    assert (status["checked_in"], status["cast"], status["pending"]) == (VOTERS, VOTERS, 0)
    results = rig.close_polls()
    truth = [(v.style, rig.truth[v.voter_id]) for v in rig.voters]
    assert results["contests"] == expected_contests(rig.election, truth)
    assert results["ballots_issued"] == VOTERS
    assert results["ballots_cast"] == VOTERS
    assert results["mode"] == "test"
    assert all(results["checks"].values()), results["checks"]
    assert results["scanner_counters"] == {"scan-1": VOTERS}
    engine = rig.scanners[0].engine
    assert len(engine.box) == VOTERS
    assert sorted(s.label for s in engine.box) == sorted(v.voter_id for v in rig.voters)
    counters = [o.counter for o in [first, *outcomes]]
    assert sorted(counters) == list(range(1, VOTERS + 1))
    # Nothing above needed a device to crash and come back: a reset on an ordinary day
    # is a firmware bug even when the station recovers from it.
    for unit in rig.units():
        assert unit.board.resets == 0, f"{unit.name} reset:\n{unit.board.console_tail(30)}"
