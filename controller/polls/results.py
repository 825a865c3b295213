"""The results document: tallied, checked and stored once, at closing.

Results exist only once polls are closed (no tallies while polls are open) and are
computed once, stored, and served from then on. Ballots cast with a mark the reader
was unsure of are flagged for the commission (``controller.polls.adjudication``); while
one of their marks is undecided there are no results and ``get_results`` answers 409.

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
from typing import Any

from controller.integrity import cvr_set
from controller.polls import adjudication
from controller.polls.state import CLOSED, AwaitingAdjudication, PollsError, counts, polls_state
from controller.polls.tally import tally
from controller.store import audit
from controller.store.database import Store, get_meta
from protocol.canonical import dumps


def _scanner_counters(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT id, counter FROM devices WHERE role = 'scanner' ORDER BY id")
    return {r[0]: r[1] or 0 for r in rows}


def build_results(
    conn: sqlite3.Connection, station: str, election: Any, mode: str, closed_at: str
) -> tuple[dict[str, Any], list[str]]:
    """Tally and check inside the caller's transaction; return the results and the
    problems found in the records (which fail ``records_valid``)."""
    counted = tally(conn, election)
    issued, cast, pending = counts(conn)
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


def produce(
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
    # The records counted, hash by hash: the entry below and its seal sign their digest.
    records = cvr_set.manifest(conn)
    cvr_set.keep(conn, records)
    signed: dict[str, str] = {"cvrs_sha256": cvr_set.digest(records)}
    try:
        # The export's records too, so an export file is checked with the public key alone.
        exported = cvr_set.export_records(conn, election, station, mode)
        signed["cvr_records_sha256"] = cvr_set.records_digest(exported)
    except ValueError:
        pass  # a record that cannot be written fails records_valid already
    audit.append(
        conn,
        kind,
        None,
        **detail,
        cast=results["ballots_cast"],
        issued=results["ballots_issued"],
        problems=problems[:100],
        results_sha256=hashlib.sha256(dumps(results)).hexdigest(),
        **signed,
    )
    return results


def has_results(conn: sqlite3.Connection) -> bool:
    """Whether the results are produced (and so final)."""
    return conn.execute("SELECT 1 FROM results WHERE id = 1").fetchone() is not None


def stored_results(conn: sqlite3.Connection) -> dict[str, Any]:
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
        return stored_results(conn)
