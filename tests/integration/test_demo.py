"""``shailoo demo``: the training station's day, and its verdict when results differ."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hil.demo import run_day
from hil.peripherals import Sheet
from hil.rig import StationRig

ROOT = Path(__file__).resolve().parents[2]


def test_demo_command_runs_a_day_that_matches_the_ground_truth() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from shailoo.cli import main; sys.exit(main())",
            "demo",
            "--voters",
            "6",
            "--until-closed",
            "--http-port",
            "0",
            "--seed",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "TRAINING STATION - TEST MODE" in out
    assert "Station dashboard: http://127.0.0.1:" in out
    # Two equipped terminals and a scanner: 128 KB and the TLS allowance.
    assert out.count("heapsize=136k") >= 3
    assert "6 of 6 voters cast their ballot" in out
    assert "shows 'already_issued'" in out and "shows 'not_on_list'" in out
    assert "control checks: all passed" in out
    assert "RESULTS MATCH THE GROUND TRUTH (6 voters" in out


def test_a_day_that_differs_from_the_ground_truth_is_reported(
    station: Callable[..., StationRig],
) -> None:
    rig = station(voters=3, seed=6)
    # The second voter marks another option than the ground truth says, as a misread
    # or a lost ballot would make the results differ.
    odd = rig.voters[1]
    contest_id = rig.election.styles[odd.style][0]
    contest = next(c for c in rig.election.contests if c.id == contest_id)
    meant = rig.truth[odd.voter_id][contest_id]
    other = next(o.id for o in contest.options if [o.id] != meant)
    printed = rig.make_ballot

    def make_ballot(style: str, choices: dict[str, list[str]], seed: int) -> Sheet:
        if seed == odd.row:
            choices = dict(choices, **{contest_id: [other]})
        return printed(style, choices, seed)

    rig.make_ballot = make_ballot  # type: ignore[method-assign]
    lines: list[str] = []
    report = run_day(rig, lines.append, close=True, bar=False)
    assert not report.ok
    assert report.results is not None and report.results["ballots_cast"] == 3
    assert f"{contest_id} {other}: expected" in "\n".join(report.problems), report.problems
    assert any("<- ground truth" in line for line in lines), lines
