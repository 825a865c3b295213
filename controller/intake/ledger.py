"""The station's record of sheets and cast votes, in SQL (the caller's transaction).

A sheet goes ``pending`` (read and accepted, waiting for the scanner to drop it) →
``cast`` on ``ballot.dropped``; or ``rejected`` (the reader said return it) →
``voided`` on ``ballot.returned``. Each step is idempotent per sheet id, so a resent
``ballot.dropped`` counts nothing twice. Only cast sheets are tallied.

The votes of a cast sheet live only in the ``cvrs`` table: the drop moves what the
reading found (every mark score, the votes, the image hash, the style) from the
sheet's row to a cast vote record with a random id and no time, in the same
transaction, and clears it from the sheet. The ``sheets`` table, which has the
scanner's sheet ids (numbered in feeding order), then says only that a sheet was
cast — never how — so nothing lines a vote up with the order of the check-ins
(``docs/cvr.md``, ``docs/secrecy.md``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from controller.intake import images
from controller.intake.decision import MESSAGES, Outcome
from controller.intake.sheet_id import check_sheet_id
from controller.nist.cvr import CastBallot, new_cvr_id
from controller.polls import adjudication
from controller.store import audit
from controller.store.database import get_meta, set_meta
from protocol.errors import ProtocolError

log = logging.getLogger("shailoo.intake")


def stored_decision(conn: sqlite3.Connection, sheet: str) -> dict[str, Any] | None:
    """The ``ballot.decision`` body once given for ``sheet``, None if it was never decided."""
    row = conn.execute(
        "SELECT decision, reason, message FROM sheets WHERE id = ?", (sheet,)
    ).fetchone()
    if row is None:
        return None
    return {"sheet": sheet, "decision": row[0], "reason": row[1], "message": row[2]}


def record_decision(conn: sqlite3.Connection, device: str, outcome: Outcome) -> dict[str, Any]:
    """Record the decision on a new sheet; return the ``ballot.decision`` body."""
    sheet = outcome.sheet
    accepted = outcome.decision == "accept"
    review = outcome.reason == "review"
    # An accepted sheet's image hash and style stay inside its record, which leaves
    # this table at the drop. A returned sheet's image hash is kept nowhere: a
    # returned ballot is often fed again and cast, and its kept image, whose hash
    # anyone can compute, would point from the sheet (and its place in the day) at
    # the votes. A sheet sent back for review may become a record a minute later (fed
    # again as it is): what was wrong with it and its style are not kept either.
    conn.execute(
        "INSERT INTO sheets (id, device, state, decision, reason, message, style, record) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            sheet,
            device,
            "pending" if accepted else "rejected",
            outcome.decision,
            outcome.reason,
            MESSAGES["review"] if review else outcome.message,
            None if accepted or review else outcome.style,
            json.dumps(outcome.record) if outcome.record is not None else None,
        ),
    )
    if accepted:
        audit.append(conn, "sheet.accepted", device, sheet=sheet)
    else:
        audit.append(conn, "sheet.returned", device, sheet=sheet, reason=outcome.reason)
    return {
        "sheet": sheet,
        "decision": outcome.decision,
        "reason": outcome.reason,
        "message": outcome.message,
    }


def dropped(
    conn: sqlite3.Connection, device: str, body: dict[str, Any], polls: str, election: Any
) -> dict[str, Any]:
    """A sheet went into the box: pending → cast. Returns the ``ballot.recorded`` body."""
    sheet = check_sheet_id(device, body.get("sheet"))
    counter = body.get("counter")
    if not isinstance(counter, int) or isinstance(counter, bool) or counter < 0:
        raise ProtocolError("malformed", "ballot.dropped counter must be a count")
    conn.execute(
        "UPDATE devices SET counter = MAX(COALESCE(counter, 0), ?) WHERE id = ?",
        (counter, device),
    )
    row = conn.execute("SELECT state, record, style FROM sheets WHERE id = ?", (sheet,)).fetchone()
    state = row[0] if row else None
    recorded = state == "cast"
    if state == "pending" and polls == "open":
        _record_vote(conn, device, sheet, row[1], None, row[2], election)
        conn.execute(
            "UPDATE sheets SET state = 'cast', record = NULL, style = NULL WHERE id = ?", (sheet,)
        )
        audit.append(conn, "ballot.cast", device, sheet=sheet, counter=counter)
        recorded = True
    elif state != "cast":
        # Paper in the box that the station never accepted (or accepted before
        # closing): never counted, always on record for the hand count to settle.
        problem = "after_close" if state == "pending" else (state or "unknown_sheet")
        log.error("%s: sheet %s dropped but not counted (%s)", device, sheet, problem)
        audit.append(
            conn, "ballot.drop_not_counted", device, sheet=sheet, counter=counter, state=problem
        )
    return {"sheet": sheet, "cast": cast_count(conn), "recorded": recorded}


def _record_vote(
    conn: sqlite3.Connection,
    device: str,
    sheet: str,
    text: str | None,
    image_sha256: str | None,
    style: str | None,
    election: Any,
) -> None:
    """Move a dropping sheet's reading into its cast vote record (caller's transaction)."""
    try:
        record = json.loads(text) if text else None
        if not isinstance(record, dict):
            raise ValueError
    except ValueError:
        # Paper in the box without a readable record: counted as cast by the sheets,
        # missing from the records, which the closing checks then report.
        log.error("%s: sheet %s cast without a vote record", device, sheet)
        audit.append(conn, "ballot.cast_without_record", device, sheet=sheet)
        return
    cvr_id = record.pop("cvr", None) or new_cvr_id()
    record.setdefault("image_sha256", image_sha256)
    record.setdefault("style", style)
    conn.execute(
        "INSERT INTO cvrs (id, device, style, image_sha256, record) VALUES (?, ?, ?, ?, ?)",
        (
            cvr_id,
            device,
            record.pop("style") or "",
            record.pop("image_sha256"),
            json.dumps(record, sort_keys=True),
        ),
    )
    if get_meta(conn, "election_definition") is None and hasattr(election, "to_dict"):
        # The records are read against this definition; kept with them so that they
        # can be exported from the data folder alone.
        set_meta(conn, "election_definition", json.dumps(election.to_dict()))


def returned(
    conn: sqlite3.Connection, device: str, body: dict[str, Any]
) -> dict[str, Any]:
    """A sheet went back to the voter: pending/rejected → voided. Returns ``ballot.voided``."""
    sheet = check_sheet_id(device, body.get("sheet"))
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
        raise ProtocolError("malformed", "ballot.returned reason must be short text")
    row = conn.execute("SELECT state, record FROM sheets WHERE id = ?", (sheet,)).fetchone()
    state = row[0] if row else None
    if state in ("pending", "rejected"):
        # A voided sheet's reading is nobody's vote: neither it nor its image is kept.
        kept_as = _record_id(row[1])
        if kept_as is not None:
            images.discard(conn, kept_as)
        conn.execute("UPDATE sheets SET state = 'voided', record = NULL WHERE id = ?", (sheet,))
        audit.append(conn, "ballot.voided", device, sheet=sheet, reason=reason)
    elif state is None:
        # A scan the controller never decided (interrupted on the scanner). The
        # tombstone makes a late blob.end for this sheet get "return", never "accept".
        conn.execute(
            "INSERT INTO sheets (id, device, state, decision, reason, message) "
            "VALUES (?, ?, 'voided', 'return', 'interrupted', ?)",
            (sheet, device, MESSAGES["interrupted"]),
        )
        audit.append(conn, "ballot.voided", device, sheet=sheet, reason=reason)
    elif state == "cast":
        log.error("%s: sheet %s reported returned but it was cast", device, sheet)
        audit.append(conn, "ballot.return_of_cast", device, sheet=sheet, reason=reason)
        return {"sheet": sheet, "voided": False}
    return {"sheet": sheet, "voided": True}


def _record_id(text: str | None) -> str | None:
    """The record id a pending sheet's reading was drawn with, if it has one."""
    try:
        record = json.loads(text) if text else None
    except ValueError:
        return None
    cvr = record.get("cvr") if isinstance(record, dict) else None
    return cvr if isinstance(cvr, str) else None


def cast_count(conn: sqlite3.Connection) -> int:
    """How many ballots are cast at this station."""
    return conn.execute("SELECT COUNT(*) FROM sheets WHERE state = 'cast'").fetchone()[0]


def cast_records(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    """``(record id, device, style, record JSON)`` of every cast vote, in id order.

    The record JSON holds ``votes`` (contest → option ids), ``contests`` (contest →
    the reader's verdict), ``marks`` and ``thresholds``.
    """
    rows = conn.execute("SELECT id, device, style, record FROM cvrs ORDER BY id").fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def cast_ballots(conn: sqlite3.Connection) -> list[CastBallot]:
    """Every cast vote record as a ``CastBallot``, in id order, with the commission's
    decisions on its marginal marks; ``ValueError`` if one is damaged."""
    decided = adjudication.decisions(conn)
    out = []
    rows = conn.execute(
        "SELECT id, device, style, image_sha256, record FROM cvrs ORDER BY id"
    ).fetchall()
    for cvr_id, device, style, image_sha256, text in rows:
        try:
            record = json.loads(text)
            votes, verdicts = record["votes"], record["contests"]
            if not isinstance(votes, dict) or not isinstance(verdicts, dict):
                raise TypeError
        except (TypeError, ValueError, KeyError):
            raise ValueError(f"cast vote record {cvr_id} is damaged") from None
        out.append(
            CastBallot(
                id=cvr_id,
                device=device,
                style=style,
                image_sha256=image_sha256,
                votes=votes,
                verdicts=verdicts,
                marks=record.get("marks") or [],
                thresholds=record.get("thresholds") or {},
                adjudication={
                    target: (made.decision, made.by, made.reason)
                    for target, made in decided.get(cvr_id, {}).items()
                },
            )
        )
    return out
