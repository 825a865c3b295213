"""Scanner firmware against the simulated scan engine of the HIL rig, fault by fault.

The engine is ``hil.peripherals.ScanEngine`` on a real pty (the same one the station
rig uses), the firmware runs in ``micropython`` at the scanner's 128 KB heap, and the
controller is the fake one of ``tests/firmware/fake_controller.py`` on a real broker.
Every test checks where the paper physically went (``engine.box`` / ``engine.returned``) against
what the scanner reported: no fault may leave a ballot counted that is not in the box,
or in the box and not counted.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from drivers import scanlink
from hil.peripherals import Sheet
from hil.peripherals.scan_engine import Fault
from tests.firmware.conftest import Scanner


@pytest.fixture
def scanner(make_scanner) -> Scanner:
    return make_scanner()


def sheet(label: str, height: int = 60) -> Sheet:
    image = (np.arange(200 * height) * 7 % 256).astype(np.uint8).reshape(height, 200)
    return Sheet(image, 150, label)


def faults_of(ctl, device: str) -> list[dict]:
    """The ``faults`` of every retained status the device published, in order."""
    return [s[1].get("faults", {}) for s in ctl.status.items() if s[0] == device]


def wait_fault(ctl, device: str, expected: dict, start: int = 0) -> None:
    ctl.status.wait_for(lambda s: s[0] == device and s[1].get("faults", {}) == expected
                    and s[1]["state"] == "online", 20, start)


def start(scanner: Scanner, controller):
    ctl = controller(scanner.device)
    scanner.board.start()
    scanner.display.wait_screen("ready", counter=0)
    ctl.wait("hello")
    return ctl


def test_cover_opened_mid_scan_returns_the_sheet_uncounted(scanner, controller) -> None:
    ctl = start(scanner, controller)
    scanner.engine.arm(Fault("cover", row=20))
    paper = scanner.engine.insert(sheet("voter-a"))
    fault = scanner.display.wait_screen("fault")
    assert "cover open" in fault["reason"]
    wait_fault(ctl, scanner.device, {"engine": "cover-open"})
    assert scanner.journal()["phase"] == "scanning"
    scanner.engine.close_cover()
    shown = scanner.display.wait_screen("returned")
    assert shown["reason"] == "cover_open" and "cover was opened" in shown["message"]
    assert scanner.engine.wait_settled(paper, 10) == "returned"
    assert ctl.wait("ballot.returned").body["reason"] == "cover_open"
    assert ctl.of_type("blob.end") == [] and ctl.of_type("ballot.dropped") == []
    assert ctl.wait("event", pred=lambda m: m.body["kind"] == "cover_open")
    wait_fault(ctl, scanner.device, {})
    assert scanner.engine.box.items() == []
    assert scanner.journal() == {"phase": "idle", "sheet": None, "counter": 0}


def test_jam_during_drop_left_in_the_path_is_dropped_and_counted_once(scanner, controller):
    ctl = start(scanner, controller)
    scanner.engine.arm(Fault("jam", command=scanlink.DROP))
    paper = scanner.engine.insert(sheet("voter-b"))
    stuck = scanner.display.wait_screen("jammed")
    name = f"{scanner.device}-1-1"
    assert stuck["sheet"] == name and stuck["counted"] is False
    assert "NOT counted" in stuck["message"]
    assert scanner.journal() == {"phase": "jammed", "sheet": name, "counter": 1}
    wait_fault(ctl, scanner.device, {"engine": "ballot-stuck"})
    event = ctl.wait("event", pred=lambda m: m.body["kind"] == "jam")
    assert "not counted" in event.body["detail"] and name in event.body["detail"]
    assert ctl.of_type("ballot.dropped") == [] and scanner.engine.box.items() == []
    scanner.engine.clear_jam()  # the ballot stays in the paper path
    shown = scanner.display.wait_screen("accepted")
    assert shown == {"screen": "accepted", "sheet": name, "counter": 1}
    assert scanner.engine.wait_settled(paper, 10) == "dropped"
    assert ctl.wait("ballot.dropped").body == {"sheet": name, "counter": 1}
    wait_fault(ctl, scanner.device, {})
    assert scanner.engine.box.items() == [paper]
    assert scanner.journal() == {"phase": "idle", "sheet": None, "counter": 1}
    assert len(ctl.of_type("ballot.dropped")) == 1


def test_jammed_ballot_taken_out_is_returned_not_counted(scanner, controller) -> None:
    ctl = start(scanner, controller)
    scanner.engine.arm(Fault("jam", command=scanlink.DROP))
    scanner.engine.insert(sheet("voter-c"))
    scanner.display.wait_screen("jammed")
    taken = scanner.engine.clear_jam(take_out=True)
    assert taken is not None and taken.label == "voter-c"
    shown = scanner.display.wait_screen("returned")
    assert shown["reason"] == "removed" and "not counted" in shown["message"]
    assert ctl.wait("ballot.returned").body == {
        "sheet": f"{scanner.device}-1-1", "reason": "removed"}
    assert ctl.of_type("ballot.dropped") == [] and scanner.engine.box.items() == []
    assert scanner.journal() == {"phase": "idle", "sheet": None, "counter": 0}
    wait_fault(ctl, scanner.device, {})
    # The voter inserts the same ballot again: counted once, as number 1.
    scanner.engine.insert(taken)
    assert scanner.display.wait_screen("accepted", counter=1)["sheet"] == f"{scanner.device}-1-2"
    assert scanner.engine.box.items() == [taken]


def test_jammed_ballot_survives_a_power_cut_and_is_not_lost(scanner, controller) -> None:
    ctl = start(scanner, controller)
    scanner.engine.arm(Fault("jam", command=scanlink.DROP))
    paper = scanner.engine.insert(sheet("voter-d"))
    scanner.display.wait_screen("jammed")
    scanner.power_cut()
    mark, status_mark = len(scanner.display.screens), len(ctl.status)
    scanner.board.start()
    # After the restart the scanner says so again before anything else.
    again = scanner.display.wait_screen("jammed", start=mark)
    assert again["counted"] is False
    wait_fault(ctl, scanner.device, {"engine": "ballot-stuck"}, status_mark)
    scanner.engine.clear_jam()
    scanner.display.wait_screen("accepted", counter=1, start=mark)
    assert scanner.engine.wait_settled(paper, 10) == "dropped"
    ctl.wait("ballot.dropped")
    assert [m.body for m in ctl.of_type("ballot.dropped")] == [
        {"sheet": f"{scanner.device}-1-1", "counter": 1}]


def test_double_sheet_is_returned_with_its_own_reason(scanner, controller) -> None:
    ctl = start(scanner, controller)
    scanner.engine.arm(Fault("double"))
    paper = scanner.engine.insert(sheet("voter-e"))
    shown = scanner.display.wait_screen("returned")
    assert shown["reason"] == "double_sheet" and "one at a time" in shown["message"]
    assert scanner.engine.wait_settled(paper, 10) == "returned"
    assert ctl.wait("ballot.returned").body["reason"] == "double_sheet"
    kinds = [m.body["kind"] for m in ctl.of_type("event")]
    assert "double_sheet" in kinds and "jam" not in kinds
    assert ctl.of_type("blob.begin") == []
    scanner.engine.insert(paper)
    assert scanner.display.wait_screen("accepted", counter=1)["sheet"] == f"{scanner.device}-1-2"


def test_jam_mid_scan_waits_for_the_poll_worker_then_returns(scanner, controller) -> None:
    ctl = start(scanner, controller)
    scanner.engine.arm(Fault("jam", row=30))
    paper = scanner.engine.insert(sheet("voter-f"))
    assert "jam" in scanner.display.wait_screen("fault")["reason"]
    wait_fault(ctl, scanner.device, {"engine": "jam"})
    scanner.engine.clear_jam()
    assert scanner.display.wait_screen("returned")["reason"] == "jam"
    assert scanner.engine.wait_settled(paper, 10) == "returned"
    assert ctl.of_type("blob.end") == []


def test_corrupt_rows_from_the_rig_engine_return_the_sheet(scanner, controller) -> None:
    ctl = start(scanner, controller)
    scanner.engine.arm(Fault("corrupt_row", row=11))
    paper = scanner.engine.insert(sheet("voter-g"))
    assert scanner.display.wait_screen("returned")["reason"] == "corrupt_scan"
    assert scanner.engine.wait_settled(paper, 10) == "returned"
    scanner.engine.insert(paper)
    accepted = scanner.display.wait_screen("accepted", counter=1)
    assert ctl.images[accepted["sheet"]] == hashlib.sha256(paper.image.tobytes()).hexdigest()
    assert ctl.wait("ballot.dropped").body["sheet"] == accepted["sheet"]


def test_cover_opened_while_idle_is_shown_and_reported(scanner, controller) -> None:
    ctl = start(scanner, controller)
    scanner.engine.open_cover()
    assert scanner.display.wait_screen("fault")["reason"] == "cover-open"
    wait_fault(ctl, scanner.device, {"engine": "cover-open"})
    mark = len(ctl.status)
    scanner.engine.close_cover()
    scanner.display.wait_screen("ready", counter=0, start=2)
    wait_fault(ctl, scanner.device, {}, mark)
    assert faults_of(ctl, scanner.device)[-1] == {}
    assert scanner.board.alive()
