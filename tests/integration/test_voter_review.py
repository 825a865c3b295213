"""A ballot sent back for the voter to review, with the real scanner firmware: the screen
says what is wrong, the same ballot fed again goes into the box and counts as it is."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

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
