"""Polls: open, close, and the results document produced at closing.

Polls move setup → open → closed and never back (reopening needs more than a
button). Closing is refused while a scanner holds an accepted sheet that has not
dropped yet, unless the chair forces it; then that sheet is left uncounted and the
``no_pending_sheets`` check says so. Results exist only once polls are closed (no
tallies while polls are open) and are computed once, stored, and served from then on.

Results document::

    {"station", "election", "election_hash", "mode", "closed_at", "ballots_issued",
     "ballots_cast", "contests": {id: {"options": {id: n}, "undervotes", "overvotes",
     "blank"}}, "checks": {name: bool}, "scanner_counters": {device: n}}
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from controller import audit
from controller.store import Store, get_meta, set_meta
from controller.tally import tally
from protocol.canonical import dumps

SETUP = "setup"
OPEN = "open"
CLOSED = "closed"


class PollsError(Exception):
    """A polls action that the current state does not allow; ``status`` is an HTTP code."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def polls_state(conn: sqlite3.Connection) -> str:
    """``setup``, ``open`` or ``closed``."""
    return get_meta(conn, "polls", SETUP) or SETUP


def _counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    issued = conn.execute("SELECT COUNT(*) FROM issuances").fetchone()[0]
    cast = conn.execute("SELECT COUNT(*) FROM sheets WHERE state = 'cast'").fetchone()[0]
    pending = conn.execute("SELECT COUNT(*) FROM sheets WHERE state = 'pending'").fetchone()[0]
    return issued, cast, pending


def open_polls(store: Store) -> str:
    """Open the polls (idempotent while open); return the new state."""
    with store.tx() as conn:
        state = polls_state(conn)
        if state == OPEN:
            return OPEN
        if state == CLOSED:
            raise PollsError("polls were closed and cannot be reopened")
        issued, cast, pending = _counts(conn)
        if issued or cast or pending:
            # Totals must be zero at opening; anything else means a used database.
            raise PollsError(
                f"totals are not zero at opening (issued {issued}, cast {cast}, "
                f"pending {pending}): use a fresh data directory"
            )
        set_meta(conn, "polls", OPEN)
        audit.append(conn, "polls.opened", None, issued=0, cast=0)
    return OPEN


def _scanner_counters(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT id, counter FROM devices WHERE role = 'scanner' ORDER BY id")
    return {r[0]: r[1] or 0 for r in rows}


def build_results(
    conn: sqlite3.Connection, station: str, election: Any, mode: str, closed_at: str
) -> tuple[dict[str, Any], list[str]]:
    """Tally and check inside the caller's transaction; return the results and the
    problems found in the records (which fail ``records_valid``)."""
    counted = tally(conn, election)
    issued, cast, pending = _counts(conn)
    counters = _scanner_counters(conn)
    chain_ok, _ = audit.verify(conn)
    scanners = set(counters) | set(counted.cast_by_device)
    checks = {
        "polls_closed": polls_state(conn) == CLOSED,
        "issued_ge_cast": issued >= cast,
        "scanner_counters_match_records": all(
            counters.get(d, 0) == counted.cast_by_device.get(d, 0) for d in scanners
        ),
        "no_pending_sheets": pending == 0,
        "records_valid": not counted.problems,
        "election_unchanged": get_meta(conn, "election_hash") == election.hash,
        "audit_chain_intact": chain_ok,
    }
    results = {
        "station": station,
        "election": election.id,
        "election_hash": election.hash,
        "mode": mode,
        "closed_at": closed_at,
        "ballots_issued": issued,
        "ballots_cast": cast,
        "contests": counted.contests,
        "checks": checks,
        "scanner_counters": counters,
    }
    return results, counted.problems


def close_polls(
    store: Store, station: str, election: Any, mode: str, force: bool = False
) -> dict[str, Any]:
    """Close the polls and return the results (the stored ones if already closed)."""
    with store.tx() as conn:
        state = polls_state(conn)
        if state == CLOSED:
            return _stored(conn)
        if state != OPEN:
            raise PollsError("polls were never opened")
        pending = conn.execute("SELECT COUNT(*) FROM sheets WHERE state = 'pending'").fetchone()[0]
        if pending and not force:
            raise PollsError(
                f"{pending} accepted ballot(s) have not dropped into the box yet; "
                "wait for the scanner, or close with force to leave them uncounted"
            )
        set_meta(conn, "polls", CLOSED)
        closed_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        results, problems = build_results(conn, station, election, mode, closed_at)
        text = json.dumps(results, sort_keys=True)
        conn.execute("INSERT INTO results (id, body) VALUES (1, ?)", (text,))
        audit.append(
            conn,
            "polls.closed",
            None,
            forced=bool(pending),
            cast=results["ballots_cast"],
            issued=results["ballots_issued"],
            problems=problems[:100],
            results_sha256=hashlib.sha256(dumps(results)).hexdigest(),
        )
    return results


def _stored(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT body FROM results WHERE id = 1").fetchone()
    if row is None:
        raise PollsError("polls are closed but no results are stored", 500)
    return json.loads(row[0])


def get_results(store: Store) -> dict[str, Any]:
    """The stored results; ``PollsError`` while polls are not closed."""
    with store.read() as conn:
        if polls_state(conn) != CLOSED:
            raise PollsError("no results while polls are open: close the polls first")
        return _stored(conn)
