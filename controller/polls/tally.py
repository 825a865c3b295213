"""Counting the cast ballots of a station.

Only cast ballots count: their vote records
(``controller.intake.ledger.cast_records``). The reader's
verdict per contest is re-checked against the election: a contest with more marks than
it allows is an overvote whatever the reader said, no mark is blank, fewer than allowed
is an undervote, and a vote for an option the contest does not have makes the records
invalid (reported as a failed check, never silently dropped or counted).

A marginal mark the commission decided to be a vote (``controller.polls.adjudication``) is
counted with the ballot's other votes, and its contest's verdict found again; one
decided not a vote, or not yet decided, counts nothing.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from controller.intake.ledger import cast_records
from controller.polls import adjudication


@dataclass
class Tally:
    """Counts per contest plus what the control checks need."""

    contests: dict[str, dict[str, Any]]
    cast: int = 0
    cast_by_device: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def empty_contests(election: Any) -> dict[str, dict[str, Any]]:
    """Zero counts for every contest and option of the election."""
    return {
        c.id: {
            "options": {o.id: 0 for o in c.options},
            "undervotes": 0,
            "overvotes": 0,
            "blank": 0,
        }
        for c in election.contests
    }


def tally(conn: sqlite3.Connection, election: Any) -> Tally:
    """Count every cast sheet (read inside the caller's transaction)."""
    contests = {c.id: c for c in election.contests}
    result = Tally(empty_contests(election))
    rows = cast_records(conn)
    decided = adjudication.decisions(conn)
    for sheet, device, style, record_text in rows:
        result.cast += 1
        result.cast_by_device[device] = result.cast_by_device.get(device, 0) + 1
        try:
            record = json.loads(record_text)
            votes, verdicts = record["votes"], record["contests"]
            if not isinstance(votes, dict) or not isinstance(verdicts, dict):
                raise TypeError
        except (TypeError, ValueError, KeyError):
            result.problems.append(f"sheet {sheet}: no readable vote record")
            continue
        votes, verdicts = adjudication.apply(election, votes, verdicts, decided.get(sheet))
        if style in election.styles:
            on_ballot = list(election.styles[style])
        else:
            result.problems.append(f"sheet {sheet}: ballot style {style!r} is not in the election")
            continue
        for cid in votes:
            if cid not in on_ballot:
                result.problems.append(f"sheet {sheet}: votes in contest {cid!r} not on its style")
        for cid in on_ballot:
            contest = contests.get(cid)
            if contest is None:
                result.problems.append(f"sheet {sheet}: style names unknown contest {cid!r}")
                continue
            chosen = votes.get(cid, [])
            if not isinstance(chosen, list) or not all(isinstance(o, str) for o in chosen):
                result.problems.append(f"sheet {sheet}: votes of {cid} are not a list of options")
                continue
            chosen = sorted(set(chosen))
            counts = result.contests[cid]
            unknown = [o for o in chosen if o not in counts["options"]]
            if unknown:
                # Which option stays out of the message: problems go to the audit log.
                result.problems.append(f"sheet {sheet}: a vote in {cid} for an unknown option")
                continue
            if verdicts.get(cid) == "overvote" or len(chosen) > contest.vote_for:
                counts["overvotes"] += 1
                continue
            if not chosen:
                counts["blank"] += 1
                continue
            if len(chosen) < contest.vote_for:
                counts["undervotes"] += 1
            for option in chosen:
                counts["options"][option] += 1
    return result
