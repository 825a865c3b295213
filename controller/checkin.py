"""Check-in: find the voter by the presented document and issue at most one ballot.

The terminal sends the MRZ lines as read; the controller parses them itself (a
terminal's own parsing is not trusted for anything but display) and requires every
check digit to hold. The voter is found by document number, and the birth date on
the document must agree with the list.

One voter, one ballot: ``issuances.voter_row`` is UNIQUE and the issuance is one
INSERT inside the caller's write transaction, so of two terminals asking at the
same moment exactly one gets ``issued`` and the other ``already_issued``. A
terminal repeating its own transaction id (a resend after a power cut) gets its
``issued`` answer again, not ``already_issued``.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

from controller import audit
from controller.voters import Voter, find_by_document
from drivers import mrz
from protocol.errors import ProtocolError

if TYPE_CHECKING:
    from controller.fingers import FingerSample

ISSUED = "issued"
ALREADY_ISSUED = "already_issued"
NOT_ON_LIST = "not_on_list"
INVALID_DOCUMENT = "invalid_document"
POLLS_CLOSED = "polls_closed"
MAX_TXN = 64

_MESSAGES = {
    ISSUED: "ballot issued",
    ALREADY_ISSUED: "a ballot was already issued to this voter",
    NOT_ON_LIST: "the document is not on this station's voter list",
    POLLS_CLOSED: "polls are not open",
}


def _result(
    txn: str, status: str, voter: Voter | None = None, reason: str | None = None
) -> dict[str, Any]:
    return {
        "txn": txn,
        "status": status,
        "voter": {"row": voter.row, "name": voter.name} if voter else None,
        "style": voter.style if voter and status == ISSUED else None,
        "reason": reason or _MESSAGES.get(status, status),
    }


def validate_request(body: dict[str, Any]) -> tuple[str, list[str]]:
    """Return ``(txn, mrz lines)`` of a ``checkin.request`` body; ``ProtocolError`` if malformed."""
    txn = body.get("txn")
    if not isinstance(txn, str) or not 0 < len(txn) <= MAX_TXN:
        raise ProtocolError("malformed", f"txn must be text of 1-{MAX_TXN} characters")
    lines = body.get("mrz")
    if not isinstance(lines, list) or not 1 <= len(lines) <= 3:
        raise ProtocolError("malformed", "mrz must be a list of 1-3 lines")
    if not all(isinstance(line, str) and len(line) <= mrz.MAX_LINE for line in lines):
        raise ProtocolError("malformed", "mrz lines must be short strings")
    return txn, lines


def _birth_matches(mrz_birth: str, list_birth: str) -> bool:
    # The MRZ has YYMMDD; the list has YYYY-MM-DD. Compare what both carry.
    return mrz_birth == list_birth[2:4] + list_birth[5:7] + list_birth[8:10]


def check_in(
    conn: sqlite3.Connection,
    device: str,
    body: dict[str, Any],
    polls: str,
    finger: FingerSample | None = None,
    finger_status: str | None = None,
) -> dict[str, Any]:
    """Decide one ``checkin.request`` inside the caller's write transaction.

    ``finger`` is the sample the terminal captured (``controller.fingers``), or None
    with ``finger_status`` saying why (the terminal's "no_finger", "sensor_error",
    "upload_failed", "no_sensor", or the controller's "not_received", "mismatch").
    Returns the ``checkin.result`` body. Every outcome is written to the audit log
    under the issuance number, never the voter's identity, with the finger status.
    """
    txn, lines = validate_request(body)
    result = _decide(conn, device, txn, lines, polls)
    issuance = conn.execute(
        "SELECT id FROM issuances WHERE voter_row = ?",
        (result["voter"]["row"] if result["voter"] else -1,),
    ).fetchone()
    audit.append(
        conn,
        "checkin." + result["status"],
        device,
        txn=txn,
        issuance=issuance[0] if issuance else None,
        finger_status=finger_status,
    )
    return result


def _decide(
    conn: sqlite3.Connection, device: str, txn: str, lines: list[str], polls: str
) -> dict[str, Any]:
    try:
        doc = mrz.parse(lines)
    except mrz.MrzError as err:
        return _result(txn, INVALID_DOCUMENT, reason=f"unreadable document: {err}")
    if not doc["valid"]:
        failed = ", ".join(name for name, ok in sorted(doc["checks"].items()) if not ok)
        return _result(txn, INVALID_DOCUMENT, reason=f"check digit wrong: {failed}")
    mine = conn.execute(
        "SELECT voter_row FROM issuances WHERE device = ? AND txn = ?", (device, txn)
    ).fetchone()
    if mine:
        voter = Voter(*conn.execute("SELECT * FROM voters WHERE row = ?", (mine[0],)).fetchone())
        if voter.document_number != doc["document_number"].upper():
            raise ProtocolError("malformed", f"txn {txn!r} was used for another document")
        return _result(txn, ISSUED, voter)
    if polls != "open":
        return _result(txn, POLLS_CLOSED)
    voter = find_by_document(conn, doc["document_number"])
    if voter is None:
        return _result(txn, NOT_ON_LIST)
    if not _birth_matches(doc["birth_date"], voter.birth_date):
        return _result(
            txn, INVALID_DOCUMENT, reason="birth date on the document differs from the voter list"
        )
    try:
        conn.execute(
            "INSERT INTO issuances (voter_row, device, txn, issued_at) VALUES (?, ?, ?, ?)",
            (voter.row, device, txn, time.time()),
        )
    except sqlite3.IntegrityError:
        return _result(txn, ALREADY_ISSUED, voter)
    return _result(txn, ISSUED, voter)
