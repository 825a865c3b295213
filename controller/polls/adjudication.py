"""Ballots flagged for the commission: cast with a mark the reader was unsure of.

A cast vote record whose reading has a ``marginal`` mark (a score between the
reader's ``marginal`` and ``marked`` thresholds) is *flagged*: the mark is no vote
until the commission decides it. Each decision — per marginal mark, ``vote`` or
``not_vote``, with who decided and why, one decision per ballot covering all its
marginal marks — is kept in ``adjudications`` beside the
records (random record id, no time, no order) and audited; the tally, the results
protocol and the cast vote records then use it.

Secrecy decides when this happens. A flagged ballot's image shows its votes, and a list
that grew while voters fed the scanner would say whose ballot was the new one. So the
flagged ballots are listed, and decided, only once polls are closed, in record-id
order, and the results wait until every marginal mark is decided
(``controller.polls.results``). The audit entry of a decision names the record, how many
marks were decided and how many of them counted, who decided, and a SHA-256 over the
decision (targets, decisions, reason): never which option, so the log holds no
selection (VVSG 15.1-C) while the decisions kept in the store can be checked against it.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from controller.ballots.read import verdict
from controller.store import audit
from protocol.canonical import dumps

DECISIONS = ("vote", "not_vote")
MAX_NAME = 80
MAX_REASON = 400
MAX_MARKS = 64  # more marginal marks than a ballot has targets is not a decision
MAX_BODY = 16 * 1024
RECORD_ID = re.compile(r"cvr-[0-9a-f]{32}\Z")

Target = tuple[str, str]


class AdjudicationError(Exception):
    """A decision that cannot be recorded; ``status`` is an HTTP code, nothing changed."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Decision:
    """The commission's decision on one marginal mark."""

    decision: str
    by: str
    reason: str


@dataclass
class FlaggedBallot:
    """A cast ballot with at least one marginal mark, and what is decided of it."""

    record: str
    device: str
    style: str
    marks: list[dict[str, Any]]
    thresholds: dict[str, Any]
    decisions: dict[Target, Decision] = field(default_factory=dict)

    @property
    def unclear(self) -> list[dict[str, Any]]:
        """The marginal marks, in the reader's order."""
        return [m for m in self.marks if _is_marginal(m)]

    @property
    def decided(self) -> bool:
        """Whether every marginal mark has a decision."""
        return all((m["contest"], m["option"]) in self.decisions for m in self.unclear)

    def to_json(self) -> dict[str, Any]:
        """The ballot as the API lists it."""
        marks = []
        for m in self.marks:
            entry = {k: m.get(k) for k in ("contest", "option", "score", "class")}
            made = self.decisions.get((m.get("contest"), m.get("option")))
            if made is not None:
                entry.update(decision=made.decision, by=made.by, reason=made.reason)
            marks.append(entry)
        return {
            "record": self.record,
            "device": self.device,
            "style": self.style,
            "thresholds": self.thresholds,
            "decided": self.decided,
            "marks": marks,
        }


def decisions(conn: sqlite3.Connection) -> dict[str, dict[Target, Decision]]:
    """Every recorded decision: record id → (contest, option) → ``Decision``."""
    out: dict[str, dict[Target, Decision]] = {}
    rows = conn.execute(
        "SELECT cvr, contest, option, decision, decided_by, reason FROM adjudications"
    )
    for cvr, contest, option, decision, by, reason in rows:
        out.setdefault(cvr, {})[(contest, option)] = Decision(decision, by, reason)
    return out


def _reading(text: str) -> dict[str, Any] | None:
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _is_marginal(mark: Any) -> bool:
    return (
        isinstance(mark, dict)
        and mark.get("class") == "marginal"
        and isinstance(mark.get("contest"), str)
        and isinstance(mark.get("option"), str)
    )


def flagged(conn: sqlite3.Connection) -> list[FlaggedBallot]:
    """Every cast ballot with a marginal mark, in record-id order (never casting order)."""
    made = decisions(conn)
    out = []
    rows = conn.execute("SELECT id, device, style, record FROM cvrs ORDER BY id")
    for record_id, device, style, text in rows:
        record = _reading(text)
        marks = record.get("marks") if record else None
        if not isinstance(marks, list) or not any(_is_marginal(m) for m in marks):
            continue
        thresholds = record.get("thresholds") if record else None
        out.append(
            FlaggedBallot(
                record_id,
                device,
                style,
                [m for m in marks if isinstance(m, dict)],
                thresholds if isinstance(thresholds, dict) else {},
                made.get(record_id, {}),
            )
        )
    return out


def summary(conn: sqlite3.Connection) -> dict[str, int]:
    """The results protocol's line: ``flagged`` ballots, ``adjudicated`` (every mark
    decided), ``undecided``, and of their marginal ``marks`` how many ``counted``."""
    ballots = flagged(conn)
    marks = sum(len(b.unclear) for b in ballots)
    counted = sum(
        1
        for b in ballots
        for m in b.unclear
        if (made := b.decisions.get((m["contest"], m["option"]))) and made.decision == "vote"
    )
    done = sum(1 for b in ballots if b.decided)
    return {
        "flagged": len(ballots),
        "adjudicated": done,
        "undecided": len(ballots) - done,
        "marks": marks,
        "marks_counted": counted,
    }


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise AdjudicationError(f"{name} must be text")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise AdjudicationError(f"{name} must not be empty")
    if len(text) > limit:
        raise AdjudicationError(f"{name} is longer than {limit} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in text):
        raise AdjudicationError(f"{name} holds control characters")
    return text


def parse_request(body: Any) -> tuple[str, str, dict[Target, str]]:
    """Validate a decision request ``{"by", "reason", "marks": [{"contest", "option",
    "decision"}]}``; return ``(by, reason, {(contest, option): decision})``."""
    if not isinstance(body, dict):
        raise AdjudicationError("the body must be a JSON object")
    extra = set(body) - {"by", "reason", "marks"}
    if extra:
        raise AdjudicationError(f"unknown field(s): {', '.join(sorted(map(str, extra)))[:80]}")
    by = _text(body.get("by"), "by", MAX_NAME)
    reason = _text(body.get("reason"), "reason", MAX_REASON)
    marks = body.get("marks")
    if not isinstance(marks, list) or not marks:
        raise AdjudicationError("marks must be a non-empty list")
    if len(marks) > MAX_MARKS:
        raise AdjudicationError(f"more than {MAX_MARKS} marks in one decision")
    out: dict[Target, str] = {}
    for n, mark in enumerate(marks):
        if not isinstance(mark, dict) or set(mark) != {"contest", "option", "decision"}:
            raise AdjudicationError(f"marks[{n}] must be {{contest, option, decision}}")
        contest, option, decision = mark["contest"], mark["option"], mark["decision"]
        if not isinstance(contest, str) or not isinstance(option, str):
            raise AdjudicationError(f"marks[{n}]: contest and option must be ids")
        if decision not in DECISIONS:
            raise AdjudicationError(f"marks[{n}].decision must be one of {', '.join(DECISIONS)}")
        if (contest, option) in out:
            raise AdjudicationError(f"marks[{n}]: that mark is decided twice")
        out[(contest, option)] = decision
    return by, reason, out


def decide(
    conn: sqlite3.Connection, record: Any, body: Any, polls: str
) -> dict[str, Any]:
    """Record the commission's decision on marks of flagged ballot ``record`` (inside the
    caller's write transaction); return the ballot as listed. Changing a decision is
    allowed, and audited, until the results are produced.

    ``AdjudicationError`` (nothing changed): polls not closed or results already final
    (409), an id that is no flagged ballot (404), a mark that is not one of its
    marginal marks, or a malformed request (422).
    """
    if not isinstance(record, str) or not RECORD_ID.match(record):
        raise AdjudicationError("not a record id", 404)
    if polls != "closed":
        raise AdjudicationError(
            "flagged ballots are decided once polls are closed, never while voters vote", 409
        )
    if conn.execute("SELECT 1 FROM results WHERE id = 1").fetchone() is not None:
        raise AdjudicationError("the results are final: decisions can no longer change", 409)
    by, reason, wanted = parse_request(body)
    ballot = next((b for b in flagged(conn) if b.record == record), None)
    if ballot is None:
        raise AdjudicationError(f"record {record} is not a flagged ballot", 404)
    unclear = {(m["contest"], m["option"]) for m in ballot.unclear}
    stray = [t for t in wanted if t not in unclear]
    if stray:
        raise AdjudicationError(
            f"{len(stray)} of the marks named are not marginal marks of record {record}"
        )
    if len(wanted) != len(unclear):
        # One decision covers the whole ballot, so the store holds exactly what the
        # last audit entry of the ballot commits to.
        raise AdjudicationError(
            f"decide every marginal mark of record {record} at once: "
            f"{len(unclear) - len(wanted)} of {len(unclear)} left out"
        )
    for (contest, option), decision in wanted.items():
        conn.execute(
            "INSERT INTO adjudications (cvr, contest, option, decision, decided_by, reason) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (cvr, contest, option) DO UPDATE SET "
            "decision = excluded.decision, decided_by = excluded.decided_by, "
            "reason = excluded.reason",
            (record, contest, option, decision, by, reason),
        )
        ballot.decisions[(contest, option)] = Decision(decision, by, reason)
    audit.append(
        conn,
        "ballot.adjudicated",
        None,
        record=record,
        marks=len(wanted),
        counted=sum(1 for d in wanted.values() if d == "vote"),
        by=by,
        decision_sha256=decision_digest(record, wanted, by, reason),
    )
    return ballot.to_json()


def audited(conn: sqlite3.Connection) -> list[str]:
    """The records whose stored decisions are not what their last ``ballot.adjudicated``
    audit entry commits to (edited in the store, or never audited); [] when all match."""
    last: dict[str, str] = {}
    for entry in audit.entries(conn, "ballot.adjudicated"):
        detail = entry["detail"]
        if isinstance(detail, dict) and isinstance(detail.get("record"), str):
            last[detail["record"]] = str(detail.get("decision_sha256"))
    bad = []
    for record, made in sorted(decisions(conn).items()):
        people = {d.by for d in made.values()}
        reasons = {d.reason for d in made.values()}
        wanted = {target: d.decision for target, d in made.items()}
        if len(people) != 1 or len(reasons) != 1 or last.get(record) != decision_digest(
            record, wanted, people.pop(), reasons.pop()
        ):
            bad.append(record)
    return bad


def decision_digest(record: str, wanted: dict[Target, str], by: str, reason: str) -> str:
    """SHA-256 of one decision's content: what the audit log keeps instead of it."""
    marks = [{"contest": c, "option": o, "decision": d} for (c, o), d in sorted(wanted.items())]
    content = {"record": record, "marks": marks, "by": by, "reason": reason}
    return hashlib.sha256(dumps(content)).hexdigest()


def apply(
    election: Any,
    votes: dict[str, list[str]],
    verdicts: dict[str, str],
    decided: dict[Target, Decision] | None,
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """A ballot's votes and verdicts once the marks decided ``vote`` are added; the
    verdict of each contest that gained a vote is found again (one more mark may make
    an overvote)."""
    if not decided:
        return votes, verdicts
    out_votes = {cid: list(o) if isinstance(o, list) else o for cid, o in votes.items()}
    out_verdicts = dict(verdicts)
    changed = set()
    for (contest, option), made in sorted(decided.items()):
        if made.decision != "vote":
            continue
        chosen = out_votes.setdefault(contest, [])
        if isinstance(chosen, list) and option not in chosen:
            chosen.append(option)
            changed.add(contest)
    for contest in changed:
        try:
            out_verdicts[contest] = verdict(election.contest(contest), out_votes[contest])
        except (KeyError, AttributeError):
            out_verdicts[contest] = "unknown"  # the tally reports the contest as not on the ballot
    return out_votes, out_verdicts
