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

The finger (``controller.checkin.finger_check``): a voter with enrolled fingers
(``controller.checkin.finger_references``) is issued a ballot only when the presented finger
matches one of them. A capture too poor to compare is answered ``finger_retry``
("place the finger again"), never a mismatch. A usable finger that does not match,
or no finger at all from an enrolled voter, is ``finger_mismatch``: the check-in is
held (``checkin_holds``) and only the chair can issue the ballot, with a reason
(:func:`override`). A voter without enrolled fingers is checked in by document
alone, and the audit entry says so (``finger: "no_reference"``).

Without a document (an empty ``mrz`` list and a finger), the station list is
searched by finger alone (1:N); no clear single candidate is ``not_found``.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from controller.biometrics.extract import reason_text
from controller.checkin import finger_check, finger_references
from controller.checkin.finger_check import FingerSampleError
from controller.checkin.voter_list import Voter, find_by_document
from controller.store import audit
from drivers import mrz
from protocol.errors import ProtocolError

if TYPE_CHECKING:
    from controller.checkin.finger_samples import FingerSample

ISSUED = "issued"
ALREADY_ISSUED = "already_issued"
NOT_ON_LIST = "not_on_list"
INVALID_DOCUMENT = "invalid_document"
POLLS_CLOSED = "polls_closed"
FINGER_RETRY = "finger_retry"
FINGER_MISMATCH = "finger_mismatch"
NOT_FOUND = "not_found"
MAX_TXN = 64
MAX_REASON = 300

_MESSAGES = {
    ISSUED: "ballot issued",
    ALREADY_ISSUED: "a ballot was already issued to this voter",
    NOT_ON_LIST: "the document is not on this station's voter list",
    POLLS_CLOSED: "polls are not open",
    FINGER_RETRY: "place the finger again",
    FINGER_MISMATCH: "the finger does not match the enrolled one: the chair decides",
    NOT_FOUND: "no voter of this station's list has this finger",
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
    if not isinstance(lines, list) or len(lines) > 3:
        raise ProtocolError("malformed", "mrz must be a list of 0-3 lines")
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

    ``finger`` is the sample the terminal captured (``controller.checkin.finger_samples``), or None
    with ``finger_status`` saying why (the terminal's "no_finger", "sensor_error",
    "upload_failed", "no_sensor", or the controller's "not_received", "mismatch").
    Returns the ``checkin.result`` body. Every outcome is written to the audit log
    under the issuance number, never the voter's identity, with the finger status.
    """
    txn, lines = validate_request(body)
    gate = _FingerGate(conn, device, txn, finger, finger_status)
    if lines:
        result = _decide(conn, device, txn, lines, polls, gate)
    else:
        result = _identify(conn, device, txn, polls, gate)
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
        finger=gate.verdict.outcome if gate.verdict else None,
        score=_audit_score(gate.verdict.score if gate.verdict else None),
        capture=gate.verdict.reason if gate.verdict else None,
    )
    return result


def _audit_score(score: float | None) -> int | None:
    # The audit log holds canonical JSON, which has integers only: ten-thousandths.
    return None if score is None else round(score * 10_000)


class _FingerGate:
    """The finger's say in one check-in; ``verdict`` is kept for the audit entry."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        device: str,
        txn: str,
        finger: FingerSample | None,
        finger_status: str | None,
    ) -> None:
        self.conn, self.device, self.txn = conn, device, txn
        self.finger, self.finger_status = finger, finger_status
        self.verdict: finger_check.Verdict | None = None

    def checked(self, compute: Any) -> Any:
        """Run a finger comparison; malformed finger data is a protocol error."""
        try:
            return compute()
        except FingerSampleError as err:
            raise ProtocolError("malformed", str(err)) from None

    def refuses(self, voter: Voter) -> dict[str, Any] | None:
        """None when the finger lets ``voter`` be issued a ballot, else the answer."""
        views = finger_references.enrolled(self.conn, voter.row)
        self.verdict = self.checked(lambda: finger_check.verify(self.finger, views))
        outcome = self.verdict.outcome
        if outcome in (finger_check.MATCH, finger_check.NO_REFERENCE):
            return None
        if outcome == finger_check.RETRY:
            return _result(self.txn, FINGER_RETRY, voter, _retry_reason(self.verdict.reason))
        self.conn.execute(
            "INSERT OR IGNORE INTO checkin_holds (txn, device, voter_row, score) "
            "VALUES (?, ?, ?, ?)",
            (self.txn, self.device, voter.row, self.verdict.score),
        )
        if outcome == finger_check.NO_FINGER:
            why = f"no finger to compare ({self.finger_status or 'none sent'}): the chair decides"
            return _result(self.txn, FINGER_MISMATCH, voter, why)
        return _result(self.txn, FINGER_MISMATCH, voter)


def _retry_reason(code: str | None) -> str:
    # The extractor words each refusal for the poll worker; every one says what to do.
    return reason_text(code) if code else "Place the finger again: the capture is poor."


def _identify(
    conn: sqlite3.Connection, device: str, txn: str, polls: str, gate: _FingerGate
) -> dict[str, Any]:
    finger = gate.finger
    if finger is None:
        raise ProtocolError("malformed", "a check-in without a document needs a finger")
    if polls != "open":
        return _result(txn, POLLS_CLOSED)
    mine = conn.execute(
        "SELECT voter_row FROM issuances WHERE device = ? AND txn = ?", (device, txn)
    ).fetchone()
    if mine:
        voter = Voter(*conn.execute("SELECT * FROM voters WHERE row = ?", (mine[0],)).fetchone())
        return _result(txn, ISSUED, voter)
    row, gate.verdict = gate.checked(
        lambda: finger_check.identify(finger, finger_references.searcher(conn))
    )
    if gate.verdict.outcome == finger_check.RETRY:
        return _result(txn, FINGER_RETRY, reason=_retry_reason(gate.verdict.reason))
    if row is None:
        return _result(txn, NOT_FOUND)
    voter = Voter(*conn.execute("SELECT * FROM voters WHERE row = ?", (row,)).fetchone())
    return _issue(conn, device, txn, voter)


def _issue(conn: sqlite3.Connection, device: str, txn: str, voter: Voter) -> dict[str, Any]:
    try:
        # No time: the issuance number orders the check-ins already, and a time would
        # only help line them up with anything else timed on the day.
        conn.execute(
            "INSERT INTO issuances (voter_row, device, txn) VALUES (?, ?, ?)",
            (voter.row, device, txn),
        )
    except sqlite3.IntegrityError:
        return _result(txn, ALREADY_ISSUED, voter)
    return _result(txn, ISSUED, voter)


class OverrideError(ValueError):
    """The chair's override cannot be applied; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def override(conn: sqlite3.Connection, txn: str, reason: str, polls: str) -> dict[str, Any]:
    """The chair issues the ballot of a held check-in, with a reason (audited)."""
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > MAX_REASON or any(ord(c) < 32 for c in reason):
        raise OverrideError(422, f"an override needs a reason of 1-{MAX_REASON} characters")
    if polls != "open":
        raise OverrideError(409, "polls are not open")
    hold = conn.execute(
        "SELECT device, voter_row, score, state FROM checkin_holds WHERE txn = ?", (txn,)
    ).fetchone()
    if hold is None:
        raise OverrideError(404, f"no held check-in {txn!r}")
    device, row, score, state = hold
    if state != "held":
        raise OverrideError(409, f"check-in {txn!r} was already {state}")
    voter = Voter(*conn.execute("SELECT * FROM voters WHERE row = ?", (row,)).fetchone())
    result = _issue(conn, device, txn, voter)
    conn.execute("UPDATE checkin_holds SET state = 'overridden' WHERE txn = ?", (txn,))
    issuance = conn.execute("SELECT id FROM issuances WHERE voter_row = ?", (row,)).fetchone()
    audit.append(
        conn,
        "checkin.override",
        device,
        txn=txn,
        status=result["status"],
        issuance=issuance[0] if issuance else None,
        score=_audit_score(score),
        reason=reason,
    )
    return result


def held(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Check-ins waiting for the chair, for the dashboard."""
    rows = conn.execute(
        "SELECT h.txn, h.device, h.score, v.row, v.surname, v.given_names "
        "FROM checkin_holds h JOIN voters v ON v.row = h.voter_row "
        "WHERE h.state = 'held' ORDER BY h.txn"
    )
    return [
        {"txn": t, "device": d, "score": sc, "row": r, "name": f"{sn} {gn}".strip()}
        for t, d, sc, r, sn, gn in rows
    ]



def _decide(
    conn: sqlite3.Connection,
    device: str,
    txn: str,
    lines: list[str],
    polls: str,
    gate: _FingerGate,
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
    if conn.execute("SELECT 1 FROM issuances WHERE voter_row = ?", (voter.row,)).fetchone():
        return _result(txn, ALREADY_ISSUED, voter)
    refused = gate.refuses(voter)
    if refused is not None:
        return refused
    return _issue(conn, device, txn, voter)
