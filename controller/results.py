"""Polls: open, close, and the results document produced at closing.

Polls move setup → open → closed and never back (reopening needs more than a
button). Closing is refused while a scanner holds an accepted sheet that has not
dropped yet, unless the chair forces it; then that sheet is left uncounted and the
``no_pending_sheets`` check says so. Results exist only once polls are closed (no
tallies while polls are open) and are computed once, stored, and served from then on.

Ballots cast with a mark the reader was unsure of are flagged for the commission
(``controller.adjudication``), which decides them only once polls are closed. Closing
with such a mark undecided closes the polls (no more ballots) but produces no results:
``close_polls`` raises ``AwaitingAdjudication`` and the dashboard lists the flagged
ballots. Closing again once every mark is decided produces the results, which count
the decisions; until then ``get_results`` answers 409. Nothing is decided by default:
a vote the commission has not seen is neither counted nor thrown away silently.

Results document::

    {"station", "election", "election_hash", "mode", "closed_at", "ballots_issued",
     "ballots_cast", "contests": {id: {"options": {id: n}, "undervotes", "overvotes",
     "blank"}}, "checks": {name: bool}, "scanner_counters": {device: n},
     "adjudication": {"flagged", "adjudicated", "undecided", "marks", "marks_counted"}}
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from controller import adjudication, audit
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


class AwaitingAdjudication(PollsError):
    """Polls are closed, but results wait for the commission's decision on ``undecided``
    flagged ballots."""

    def __init__(self, undecided: int) -> None:
        super().__init__(
            f"polls are closed; {undecided} ballot(s) flagged for the commission have a "
            "mark not decided yet: the results are produced once every mark is decided",
            409,
        )
        self.undecided = undecided


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
        "adjudications_audited": not adjudication.audited(conn),
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
        "adjudication": adjudication.summary(conn),
    }
    return results, counted.problems


def close_polls(
    store: Store, station: str, election: Any, mode: str, force: bool = False
) -> dict[str, Any]:
    """Close the polls and return the results (the stored ones if already closed).

    ``AwaitingAdjudication`` when a flagged ballot has an undecided mark: the polls are
    closed all the same (committed), and calling this again once the commission has
    decided every mark produces the results.
    """
    with store.tx() as conn:
        state = polls_state(conn)
        if state == CLOSED:
            if has_results(conn):
                return _stored(conn)
            undecided = adjudication.summary(conn)["undecided"]
            if not undecided:
                closed_at = get_meta(conn, "closed_at") or _now()
                return _produce(conn, station, election, mode, closed_at, "results.final", {})
        else:
            if state != OPEN:
                raise PollsError("polls were never opened")
            pending = conn.execute(
                "SELECT COUNT(*) FROM sheets WHERE state = 'pending'"
            ).fetchone()[0]
            if pending and not force:
                raise PollsError(
                    f"{pending} accepted ballot(s) have not dropped into the box yet; "
                    "wait for the scanner, or close with force to leave them uncounted"
                )
            set_meta(conn, "polls", CLOSED)
            closed_at = _now()
            set_meta(conn, "closed_at", closed_at)
            undecided = adjudication.summary(conn)["undecided"]
            if not undecided:
                return _produce(conn, station, election, mode, closed_at, "polls.closed",
                                {"forced": bool(pending)})
            issued, cast, _ = _counts(conn)
            audit.append(conn, "polls.closed", None, forced=bool(pending), cast=cast,
                         issued=issued, awaiting_adjudication=undecided)
    raise AwaitingAdjudication(undecided)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _produce(
    conn: sqlite3.Connection,
    station: str,
    election: Any,
    mode: str,
    closed_at: str,
    kind: str,
    detail: dict[str, Any],
) -> dict[str, Any]:
    """Tally, store and audit the results (inside the caller's transaction)."""
    results, problems = build_results(conn, station, election, mode, closed_at)
    text = json.dumps(results, sort_keys=True)
    conn.execute("INSERT INTO results (id, body) VALUES (1, ?)", (text,))
    audit.append(
        conn,
        kind,
        None,
        **detail,
        cast=results["ballots_cast"],
        issued=results["ballots_issued"],
        problems=problems[:100],
        results_sha256=hashlib.sha256(dumps(results)).hexdigest(),
    )
    return results


def has_results(conn: sqlite3.Connection) -> bool:
    """Whether the results are produced (and so final)."""
    return conn.execute("SELECT 1 FROM results WHERE id = 1").fetchone() is not None


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
        if not has_results(conn):
            undecided = adjudication.summary(conn)["undecided"]
            if undecided:
                raise AwaitingAdjudication(undecided)
            raise PollsError("polls are closed: close them again to produce the results")
        return _stored(conn)
