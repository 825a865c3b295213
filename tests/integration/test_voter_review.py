"""A ballot sent back for the voter to review, with the real scanner firmware: the screen
says what is wrong, the same ballot fed again goes into the box and counts as it is (or,
with an unclear mark, as the commission decides it after closing)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hil.poll_workers import logged_in
from hil.rig import StationRig, wait_idle
from hil.voters import expected_contests, feed_sheet

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "election.json"


def test_an_overvoted_ballot_is_shown_back_then_cast_as_it_is(
    station: Callable[..., StationRig], tmp_path: Path
) -> None:
    election = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    election["warn_voter"] = ["overvote", "blank"]
    path = tmp_path / "warned.json"
    path.write_text(json.dumps(election, ensure_ascii=False), encoding="utf-8")
    rig = station(voters=1, seed=5, election=path)
    assert rig.election.warn_voter == ("overvote", "blank")
    voter = rig.voters[0]
    screen = rig.simulated_voter(voter).check_in(rig.terminals[0])
    assert screen["status"] == "issued", screen
    party = rig.election.contest("party-list")
    choices = {cid: [] for cid in rig.election.styles[voter.style]}
    choices["party-list"] = [party.options[0].id, party.options[1].id]
    sheet = rig.make_ballot(voter.style, choices, voter.row)
    scanner = rig.scanners[0]

    where, shown = feed_sheet(scanner, sheet, 120)
    assert where == "returned" and shown is not None, shown
    assert shown["reason"] == "review"
    assert shown["message"].startswith(f"{party.title['en']}: too many marks, will not count")
    assert rig.status()["cast"] == 0

    where, shown = feed_sheet(scanner, sheet, 120)  # the voter casts it as it is
    assert where == "dropped" and shown is not None and shown["counter"] == 1, shown
    wait_idle(rig, 60)
    results = rig.close_polls()
    assert results["ballots_cast"] == 1
    assert results["contests"] == expected_contests(rig.election, [(voter.style, choices)])
    assert results["contests"]["party-list"]["overvotes"] == 1
    assert all(results["checks"].values()), results["checks"]


def test_an_unclear_mark_is_shown_back_then_cast_flagged_and_decided(
    station: Callable[..., StationRig], tmp_path: Path
) -> None:
    from controller.election.load import load_election
    from hil.peripherals.scan_engine import Sheet
    from tests.controller.unclear import DPI, unclear_ballot, unclear_reader

    # The election warns about nothing: an unclear mark goes back all the same.
    rig = station(voters=1, seed=6, controller="inline",
                  reader=unclear_reader(load_election(EXAMPLE)))
    assert rig.election.warn_voter == ()
    voter = rig.voters[0]
    screen = rig.simulated_voter(voter).check_in(rig.terminals[0])
    assert screen["status"] == "issued", screen
    first, second = rig.election.style_contests(voter.style)[:2]
    choices = {first.id: [first.options[0].id]}
    unclear = (second.id, second.options[0].id)
    image = unclear_ballot(rig.election, voter.style, choices, [unclear])
    scanner = rig.scanners[0]

    where, shown = feed_sheet(scanner, Sheet(image, DPI), 120)
    assert where == "returned" and shown is not None, shown
    assert shown["reason"] == "review"
    assert shown["message"].startswith(f"{second.title['en']}: unclear mark, may not count.")
    where, shown = feed_sheet(scanner, Sheet(image, DPI), 120)  # cast as it is
    assert where == "dropped" and shown is not None and shown["counter"] == 1, shown
    wait_idle(rig, 60)
    with logged_in(rig.url, rig.chair) as http:
        closing = http.post("/api/polls/close")
        assert closing.status_code == 409 and "flagged" in closing.json()["detail"]
        [ballot] = http.get("/api/adjudication").json()["ballots"]
        decided = http.post(f"/api/adjudication/{ballot['record']}", json={
            "by": "chair", "reason": "a tick in the oval",
            "marks": [{"contest": unclear[0], "option": unclear[1], "decision": "vote"}]})
        assert decided.status_code == 200, decided.text
    results = rig.close_polls()
    assert results["ballots_cast"] == 1
    assert results["contests"][second.id]["options"][unclear[1]] == 1
    assert results["contests"][first.id]["options"][first.options[0].id] == 1
    assert results["adjudication"]["marks_counted"] == 1
    assert all(results["checks"].values()), results["checks"]
