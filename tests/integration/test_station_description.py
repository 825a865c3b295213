"""A station brought up from a description file: its devices, wiring and heaps as written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hil.rig import StationRig, wait_idle
from hil.voters import expected_contests


def test_a_station_of_a_plain_terminal_and_a_scanner_runs_a_day(
    station: Callable[..., StationRig], tmp_path: Path
) -> None:
    described = tmp_path / "small-station.json"
    described.write_text(json.dumps({
        "station": "ps-0042",
        "devices": [
            # A terminal with a document reader only, at the heap heap_for gives it.
            {"id": "desk-a", "role": "idterminal",
             "uarts": {"mrz": "mrz-reader", "display": "display"},
             "config": {"reply_timeout": 30}},
            {"id": "box-a", "role": "scanner",
             "uarts": {"scan": "scan-engine", "display": "display"},
             "config": {"decision_timeout": 45}, "target": {"kind": "virtual", "heap": "160k"}},
        ],
    }))
    rig = station(description=described, voters=2, seed=41)
    assert rig.station_id == "ps-0042"
    assert [u.name for u in rig.terminals] == ["desk-a"]
    assert [u.name for u in rig.scanners] == ["box-a"]
    desk, box = rig.terminals[0], rig.scanners[0]
    assert desk.sensor is None and desk.printer is None
    assert sorted(desk.board.config["uart"]) == ["display", "mrz"]
    assert desk.board.cmdline()[-3:] == ["-X", "heapsize=104k", "main.py"]  # and TLS
    assert box.board.cmdline()[-3:] == ["-X", "heapsize=160k", "main.py"]
    status = rig.status()
    assert {d["id"] for d in status["devices"]} == {"desk-a", "box-a"}
    outcomes = rig.run_voters()
    assert [(o.checkin, o.cast, o.error) for o in outcomes] == [("issued", True, None)] * 2, [
        o.checkin_screen for o in outcomes]
    assert all(o.checkin_screen["reason"] == "ballot issued" for o in outcomes)
    wait_idle(rig)
    results = rig.close_polls()
    assert results["station"] == "ps-0042"
    assert results["contests"] == rig.expected_contests(outcomes) == expected_contests(
        rig.election, [(o.voter.style, rig.truth[o.voter.voter_id]) for o in outcomes])
    assert len(box.engine.box) == 2
