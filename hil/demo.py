"""The training station: a whole polling station on this machine, in TEST MODE.

``run_demo`` starts a ``StationRig`` from a station description (the training
station of ``hil/stations/training.json`` unless another is given), tells the
operator where the dashboard is, lets simulated voters walk through and then either
keeps the station up until Ctrl-C (training) or, with ``until_closed``, closes the
polls the way the chair does, prints the results protocol and compares it with what
the voters marked.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from hil.history import RigTimeout
from hil.rig import StationRig, wait_idle
from hil.station import StationDescription
from hil.voters import VoterOutcome, diff_contests, expected_contests, present_document, stranger

Echo = Callable[[str], None]

BANNER = """\
============================================================================
  TRAINING STATION - TEST MODE
  Nothing here is an election: the ballots are TEST BALLOTS, the voters are
  simulated, and an official ballot would be refused by this station.
============================================================================"""


@dataclass
class DayReport:
    """What a demo day produced and whether it matches the ground truth."""

    outcomes: list[VoterOutcome]
    results: dict[str, Any] | None = None
    expected: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the results equal the ground truth and nothing went wrong."""
        return self.results is not None and not self.problems


def _voter_line(outcome: VoterOutcome) -> str:
    voter = outcome.voter
    what = outcome.checkin or "no answer"
    if outcome.cast:
        what += f", ballot {outcome.style} cast (scanner counter {outcome.counter})"
        if outcome.feeds > 1:
            what += f" after {outcome.feeds} feeds ({', '.join(outcome.returns)})"
    if outcome.error:
        what += f" - PROBLEM: {outcome.error}"
    return f"row {voter.row:4d} {voter.name:<32} {what}"


def _mischief(rig: StationRig, echo: Echo) -> list[str]:
    """Two things that happen on every real day: a second try, and a stranger."""
    problems = []
    terminal = rig.terminals[-1]
    again = rig.voters[0]
    stranger_voter = stranger(rig.seed)
    for voter, want, who in (
        (again, "already_issued", f"{again.name} comes back for a second ballot"),
        (stranger_voter, "not_on_list", "a citizen not on this station's list arrives"),
    ):
        with terminal.queue:
            try:
                screen = present_document(
                    terminal, voter.mrz(), 60, voter.finger_image(1), voter.fingers_usable
                )
                got = screen.get("status")
            except (RigTimeout, RuntimeError) as err:
                got = f"error: {err}"
        echo(f"  {who}: terminal {terminal.name} shows {got!r}")
        if got != want:
            problems.append(f"{who}: expected {want!r}, terminal showed {got!r}")
    return problems


def _results_table(results: dict[str, Any], expected: dict[str, Any], echo: Echo) -> None:
    echo("")
    echo(
        f"RESULTS PROTOCOL - station {results['station']} ({results['mode'].upper()} MODE), "
        f"closed {results['closed_at']}"
    )
    echo(f"  ballots issued {results['ballots_issued']}, ballots cast {results['ballots_cast']}")
    for cid, counts in results["contests"].items():
        want = expected.get(cid, {})
        echo(f"  contest {cid}:")
        for option, n in counts["options"].items():
            w = want.get("options", {}).get(option)
            mark = "" if w == n else f"   <- ground truth {w}"
            echo(f"    {option:<28} {n:5d}{mark}")
        for key in ("undervotes", "overvotes", "blank"):
            w = want.get(key)
            mark = "" if w == counts[key] else f"   <- ground truth {w}"
            echo(f"    ({key}){'':<{26 - len(key)}} {counts[key]:5d}{mark}")
    checks = results.get("checks", {})
    failed = [name for name, ok in checks.items() if not ok]
    echo(f"  control checks: {'all passed' if not failed else 'FAILED: ' + ', '.join(failed)}")
    echo(f"  scanner counters: {results.get('scanner_counters')}")


def _verify_records(rig: StationRig, echo: Echo) -> list[str]:
    """The day's records checked as a verifier would: the station's public key only."""
    from controller.integrity import station_key
    from controller.integrity.verify import check_data

    try:
        key = station_key.load_public(str(rig.workdir / "station.pub"))
        found = check_data(rig.data_dir, key, rig.election)
    except (station_key.StationKeyError, sqlite3.DatabaseError) as err:
        return [f"audit log not verified: {err}"]
    if found.ok:
        echo(f"  audit log: {found.entries} entries, signed by station key {found.key}; "
             f"audit log seal {found.paper_code}")
    return [f"audit log: {problem}" for problem in found.problems]


def run_day(
    rig: StationRig, echo: Echo, close: bool, pace: float = 0.0, bar: bool = True
) -> DayReport:
    """Walk every voter through ``rig``; with ``close``, close polls and compare results."""
    started = time.monotonic()
    outcomes: list[VoterOutcome]
    if bar:
        with click.progressbar(
            length=len(rig.voters), label="voters", show_pos=True, show_eta=True
        ) as progress:
            outcomes = rig.run_voters(on_done=lambda o: progress.update(1), pace=pace)
    else:
        outcomes = rig.run_voters(on_done=lambda o: echo(_voter_line(o)), pace=pace)
    report = DayReport(outcomes)
    for outcome in outcomes:
        if outcome.error or outcome.checkin != "issued" or not outcome.cast:
            report.problems.append(_voter_line(outcome).strip())
    cast = sum(o.cast for o in outcomes)
    refeeds = sum(o.feeds - 1 for o in outcomes if o.feeds)
    echo(f"{cast} of {len(outcomes)} voters cast their ballot ({refeeds} fed again)")
    for unit in rig.units():
        if unit.board.resets:
            # Recovered, so not a wrong result; but a device that resets is worth a look.
            rig.keep_workdir = True
            echo(
                f"WARNING: {unit.name} reset {unit.board.resets} time(s) during the day "
                f"(console log: {unit.board.log_path})"
            )
    report.problems += _mischief(rig, echo)
    if not close:
        report.seconds = time.monotonic() - started
        return report
    try:
        wait_idle(rig, 60)
    except RigTimeout as err:
        report.problems.append(str(err))
    echo("the chair closes the polls")
    results = rig.close_polls()
    report.results = results
    # The ground truth is what every voter on the list marked, cast or not: a voter
    # whose ballot got lost shows up as a difference.
    truth = [(v.style, rig.truth[v.voter_id]) for v in rig.voters]
    report.expected = expected_contests(rig.election, truth)
    _results_table(results, report.expected, echo)
    report.problems += diff_contests(report.expected, results["contests"])
    for key, want in (("ballots_issued", len(rig.voters)), ("ballots_cast", len(rig.voters))):
        if results.get(key) != want:
            report.problems.append(f"{key}: expected {want}, reported {results.get(key)}")
    if results.get("ballots_cast") != rig.ballots_in_boxes():
        report.problems.append(
            f"ballots_cast {results.get('ballots_cast')} but {rig.ballots_in_boxes()} "
            "sheets are physically in the ballot boxes"
        )
    for name, ok in results.get("checks", {}).items():
        if not ok:
            report.problems.append(f"control check {name} failed")
    report.problems += _verify_records(rig, echo)
    report.seconds = time.monotonic() - started
    return report


def run_demo(
    voters: int | None,
    until_closed: bool,
    http_port: int,
    seed: int,
    description: StationDescription | None = None,
    election: Path | None = None,
    pace: float | None = None,
    echo: Echo = click.echo,
) -> int:
    """Run the demo; return the process exit status (0: the day matched the ground truth)."""
    count = voters if voters is not None else (40 if until_closed else 20)
    pace = pace if pace is not None else (0.0 if until_closed else 3.0)
    started = time.monotonic()
    echo(BANNER)
    rig = StationRig(
        description=description,
        voters=count,
        seed=seed,
        http_port=http_port,
        election=election,
        mode="test",
        progress=lambda text: echo(f"  {text}"),
    )
    try:
        try:
            rig.start()
        except Exception:
            rig.keep_workdir = True
            echo(f"the station did not start; files and logs kept in {rig.workdir}")
            raise
        echo("")
        echo(f"Station dashboard: {rig.url}/   (open it in a browser)")
        echo(f"Log in as the chair: worker {rig.chair.id}, PIN {rig.chair.pin}, and the code")
        echo(f"  of TOTP secret {rig.chair.secret} in an authenticator app, or shown by")
        echo(f"  shailoo workers code --setup {rig.setup_path} --id {rig.chair.id}")
        echo(rig.describe())
        echo(f"station up in {time.monotonic() - started:.1f} s; {count} voters are coming")
        echo("")
        report = run_day(rig, echo, close=until_closed, pace=pace, bar=until_closed)
        if until_closed:
            code = _verdict(report, time.monotonic() - started, echo)
            if code:
                rig.keep_workdir = True
                echo(f"station files and device logs kept in {rig.workdir}")
            return code
        for problem in report.problems:
            echo(f"PROBLEM: {problem}")
        echo("")
        echo(f"The station stays open at {rig.url}/ - press Ctrl-C to close it down.")
        while True:
            time.sleep(3600)  # the operator decides when the training ends
    except KeyboardInterrupt:
        echo("\nstopping the station")
        return 130
    finally:
        rig.stop()


def _verdict(report: DayReport, seconds: float, echo: Echo) -> int:
    echo("")
    if report.ok:
        echo(f"RESULTS MATCH THE GROUND TRUTH ({len(report.outcomes)} voters, {seconds:.1f} s)")
        return 0
    echo(f"RESULTS DO NOT MATCH THE GROUND TRUTH ({seconds:.1f} s):")
    for problem in report.problems:
        echo(f"  - {problem}")
    return 1
