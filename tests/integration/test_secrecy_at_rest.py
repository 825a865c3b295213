"""The linking attack on a real day's files does no better than random pairing.

A station with the real firmware on virtual boards, a real broker and the controller
process runs a short day of voters with known marks, and closes. From the work
directory alone (database, WAL and shared-memory files, logs, device flash folders,
file times and inode numbers: ``tests/integration/linking.py``), every check-in order
is paired with every order of the cast vote records the files give. No pairing may
link more voters to their own votes than the best of ``TRIALS`` random pairings of
the same day, plus one: random pairing at or above that bound has a chance of
about 1/``TRIALS`` per order tried. The attack is played on the folder as the running
station leaves it right after closing, and again once the station is shut down.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import mean

import pytest

from hil.rig import StationRig, wait_idle
from tests.integration.linking import Day, attack, chance, records

VOTERS = 20
TRIALS = 20_000


def _check(day: Day, when: str) -> None:
    cvrs = records(day.workdir)
    assert len(cvrs) == len(day.marks), f"{len(cvrs)} records for {len(day.marks)} voters"
    random_scores = chance(day, cvrs, TRIALS)
    bound = max(random_scores) + 1
    # The day must let an attack show: if every ballot had the same votes, any pairing
    # would "link" everyone and the bound could never be passed.
    assert mean(random_scores) < len(cvrs) / 4, "too few distinct ballots for the attack"
    scores = attack(day)
    assert len(scores) >= 8, f"too few orders to try: {sorted(scores)}"
    over = {name: s for name, s in scores.items() if s >= bound}
    assert not over, (
        f"{when}: pairings that link at least {bound} of {len(cvrs)} voters "
        f"(random pairing: mean {mean(random_scores):.2f}, best {bound - 1}): {over}"
    )


@pytest.mark.timeout(400)
def test_a_days_files_do_not_link_voters_to_their_votes(
    station: Callable[..., StationRig],
) -> None:
    rig = station(voters=VOTERS, seed=11, blank_rate=0.0)
    outcomes = rig.run_voters()
    assert all(o.cast and o.checkin == "issued" for o in outcomes), [
        (o.voter.voter_id, o.checkin, o.cast, o.error) for o in outcomes
    ]
    wait_idle(rig, 60)
    rig.close_polls()
    day = Day(rig.workdir, {o.voter.voter_id: dict(o.choices or {}) for o in outcomes})
    _check(day, "right after closing")
    rig.stop()
    _check(day, "after shutdown")
