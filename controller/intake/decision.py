"""What is decided about a read sheet, and what the voter is told.

The reader is called one way (``Reader``): ``reader(gray, election, mode=, station=,
dpi=)`` returns ``{"status": "accepted" | "rejected", ...}``. ``decide`` turns that
result into an ``Outcome``: accept with the cast vote record to be, or return with a
reason and the voter-facing message. A result that is not one of the two, or an
accepted sheet without its votes, contests or style, is returned as ``unreadable``.

Where the election's rules let a voter take the ballot back for a new one
(``Election.warn_voter``), an accepted sheet with an overvoted contest, a contest left
short or no vote at all is returned first with reason ``review`` and a message that
names what the voter may want to correct. Fed again as it is — the same style and the
same votes, from the same scanner, within ``REVIEW_SECONDS`` and before any other
sheet — it is accepted and goes into the box (``Review``). The warning's kind and
contests travel only in the live answer: the stored decision, the audit log and the
scanner's return report say ``review``, since a time next to what was wrong with a
ballot would point at the record it becomes.

A sheet with a ``marginal`` mark — one the reader is unsure of — goes back the same
way whatever the election's rules say (``marginal`` in the message, naming the
contests): the voter may make the mark clear or ask for a new ballot. Fed again as it
is, or accepted at once where the station does not return such sheets, it is cast
like any other, and its record, which keeps every mark's class, is flagged for the
commission (``controller.polls.adjudication``): no mark the reader was unsure of is
silently left out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from controller.nist.cvr import new_cvr_id

log = logging.getLogger("shailoo.intake")

REVIEW_SECONDS = 120.0  # how long a warned ballot fed again as it is goes in unwarned


class Reader(Protocol):
    """How the intake calls a ballot reader (the real one is
    ``controller.ballots.read.read_ballot``): the grey image, the election, the
    station's mode and id, and the dpi the scanner reports, which lets the reader
    refuse a sheet at the wrong scale."""

    def __call__(
        self, gray: np.ndarray, election: Any, *, mode: str, station: str, dpi: int
    ) -> dict[str, Any]: ...


MESSAGES = {
    "accepted": "ballot accepted: it goes into the box",
    "polls_closed": "polls are not open: take your ballot back",
    "incomplete": "the scan did not arrive completely: please feed the ballot again",
    "bad_hash": "the scan arrived damaged: please feed the ballot again",
    "too_large": "the scan is larger than a ballot: please feed the ballot again",
    "unreadable": "the ballot could not be read: please feed it again or ask a poll worker",
    "interrupted": "the scan was interrupted",
    "review": "Please check your ballot. Insert it again to cast it as it is, or ask for a "
    "new one.",
}
# What a warned voter is told, per kind of warning, and the close of every such message.
# Short: the scanner holds the whole decision message in a small heap (a 190-character
# message ran a 128 KB scanner out of memory), so at most ``MAX_REVIEW`` characters.
WARNINGS = {
    "overvote": {
        "ky": "ашыкча белги, эсептелбейт",
        "ru": "лишние отметки, не будет учтён",
        "en": "too many marks, will not count",
    },
    "undervote": {
        "ky": "белги аз",
        "ru": "отметок меньше, чем можно",
        "en": "fewer marks than allowed",
    },
    "blank": {
        "ky": "бюллетенде белги жок",
        "ru": "в бюллетене нет отметок",
        "en": "no mark on the ballot",
    },
    "marginal": {
        "ky": "белги так эмес, эсептелбей калышы мүмкүн",
        "ru": "нечёткая отметка, может не учитываться",
        "en": "unclear mark, may not count",
    },
}
REVIEW_CLOSE = {
    "ky": "Ушундай салуу үчүн кайра салыңыз, же жаңысын сураңыз.",
    "ru": "Вставьте ещё раз, чтобы опустить как есть, или попросите новый.",
    "en": "Insert it again to cast it as it is, or ask for a new one.",
}
MAX_REVIEW = 120


@dataclass
class Outcome:
    """What reading a sheet decided, before it is recorded."""

    sheet: str
    decision: str
    reason: str | None
    message: str
    image_sha256: str | None = None
    style: str | None = None
    record: dict[str, Any] | None = None
    # The scan as PNG, kept with the decision (``controller.intake.images``).
    png: bytes | None = field(default=None, repr=False, compare=False)


def decide(sheet: str, digest: str, read: Any) -> Outcome:
    """What the reader's result ``read`` for ``sheet`` (image hash ``digest``) decides:
    accept with the cast vote record to be, or return with the reason and message."""
    if not isinstance(read, dict) or read.get("status") not in ("accepted", "rejected"):
        log.error("sheet %s: the reader gave no decision", sheet)
        return Outcome(sheet, "return", "unreadable", MESSAGES["unreadable"], digest)
    style = read.get("style")
    style = style if isinstance(style, str) else None
    if read["status"] == "rejected":
        reason = str(read.get("reason") or "unreadable")[:64]
        message = MESSAGES.get(reason) or _reader_message(reason)
        return Outcome(sheet, "return", reason, message, digest, style)
    votes = read.get("votes")
    contests = read.get("contests")
    if not isinstance(votes, dict) or not isinstance(contests, dict):
        log.error("sheet %s: accepted without votes and contests", sheet)
        return Outcome(sheet, "return", "unreadable", MESSAGES["unreadable"], digest)
    if not isinstance(style, str):
        log.error("sheet %s: accepted without a ballot style", sheet)
        return Outcome(sheet, "return", "unreadable", MESSAGES["unreadable"], digest)
    # The cast vote record to be: its id is drawn now, so that the image can be kept
    # under it; it becomes a record only when the sheet drops into the box.
    record: dict[str, Any] = {
        "cvr": new_cvr_id(),
        "style": style,
        "image_sha256": digest,
        "votes": votes,
        "contests": contests,
        "marks": read["marks"] if isinstance(read.get("marks"), list) else [],
        "thresholds": read["thresholds"] if isinstance(read.get("thresholds"), dict) else {},
    }
    return Outcome(sheet, "accept", None, MESSAGES["accepted"], digest, style, record)


def returned(sheet: str, reason: str) -> Outcome:
    """The sheet goes back for ``reason``, one of ``MESSAGES``."""
    return Outcome(sheet, "return", reason, MESSAGES[reason])


class Review:
    """Per scanner, the last ballot sent back for review and until when the same
    ballot fed again goes in. Memory only: after a restart the voter is warned once
    more, which is the safe side."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._reviewed: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def check(
        self,
        device: str,
        outcome: Outcome,
        election: Any,
        seconds: float,
        with_marginal: bool,
    ) -> Outcome:
        """An accepted sheet the election's rules warn about goes back once for review;
        ``with_marginal`` False leaves unclear marks to the commission alone."""
        with self._lock:
            last = self._reviewed.pop(device, None)
        if outcome.record is None:
            return outcome  # returned anyway; a warned ballot fed again must be this one
        marks = outcome.record["marks"] if with_marginal else None
        warnings = review_warnings(election, outcome.record["votes"],
                                   outcome.record["contests"], marks)
        if not warnings:
            return outcome
        key = _ballot_digest(outcome.record["style"], outcome.record["votes"])
        if last is not None and last[0] == key and self.clock() <= last[1]:
            return outcome  # the voter has seen the warning and casts the ballot as it is
        with self._lock:
            self._reviewed[device] = (key, self.clock() + seconds)
        return Outcome(outcome.sheet, "return", "review",
                       review_message(warnings, election), outcome.image_sha256,
                       outcome.style)


def marginal_contests(marks: Any) -> list[str]:
    """The contests with a ``marginal`` mark among the reader's ``marks``, in their order."""
    out: list[str] = []
    for mark in marks if isinstance(marks, list) else ():
        if isinstance(mark, dict) and mark.get("class") == "marginal":
            contest = mark.get("contest")
            if isinstance(contest, str) and contest not in out:
                out.append(contest)
    return out


def review_warnings(
    election: Any,
    votes: dict[str, list[str]],
    verdicts: dict[str, str],
    marks: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """What the voter is warned about on a ballot read as ``votes`` with the reader's
    ``verdicts`` and ``marks``: ``[{"kind", "contests"}]``, ``marginal`` first (always,
    whatever the rules: an unclear mark is never left to chance), then what the
    election's rules name in the order of ``controller.election.definition.WARNINGS``; [] when
    nothing.

    A ballot without a single vote is ``blank`` (not when it has an unclear mark, which
    is warned about as such); where only ``undervote`` is warned about, it is an
    undervote in every contest.
    """
    rules = getattr(election, "warn_voter", ()) or ()
    out: list[dict[str, Any]] = []
    unclear = marginal_contests(marks)
    if unclear:
        out.append({"kind": "marginal", "contests": unclear})
    over = [cid for cid, verdict in verdicts.items() if verdict == "overvote"]
    if "overvote" in rules and over:
        out.append({"kind": "overvote", "contests": over})
    if not any(votes.get(cid) for cid in verdicts):
        if "blank" in rules and not unclear:
            out.append({"kind": "blank", "contests": []})
        elif "undervote" in rules:
            out.append({"kind": "undervote", "contests": list(verdicts)})
    elif "undervote" in rules:
        short = [cid for cid, verdict in verdicts.items() if verdict in ("undervote", "blank")]
        if short:
            out.append({"kind": "undervote", "contests": short})
    return out


def review_message(
    warnings: list[dict[str, Any]], election: Any, lang: str = "en",
    limit: int | None = MAX_REVIEW,
) -> str:
    """The text shown to a voter whose ballot goes back for review, naming the contests
    by their titles in ``lang``; at most ``limit`` characters (None: no limit), contests
    beyond what fits left as "+N"."""
    close = REVIEW_CLOSE[lang]
    if not warnings:
        return close
    for shown in range(max((len(w["contests"]) for w in warnings), default=0), -1, -1):
        parts = []
        for warning in warnings:
            text = WARNINGS[warning["kind"]][lang]
            contests = warning["contests"]
            if contests:
                names = [_title(election, cid, lang) for cid in contests[:shown]]
                if len(contests) > shown:
                    names.append(f"+{len(contests) - shown}")
                text = f"{', '.join(names)}: {text}"
            parts.append(text)
        message = "; ".join(parts) + ". " + close
        if limit is None or len(message) <= limit or shown == 0:
            break
    return message if limit is None else message[:limit]


def _title(election: Any, contest_id: str, lang: str) -> str:
    try:
        return str(election.contest(contest_id).title[lang])
    except (AttributeError, KeyError, TypeError):
        return contest_id


def _ballot_digest(style: str, votes: dict[str, list[str]]) -> str:
    """What identifies a ballot fed again as it is: its style and its votes."""
    text = json.dumps([style, {c: sorted(v) for c, v in votes.items()}], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _reader_message(reason: str) -> str:
    # The reader's own texts; imported here so that the intake loads without the
    # image stack the reader needs.
    from controller.ballots.read import REASONS

    text = REASONS.get(reason, {}).get("en")
    return f"ballot returned: {text or reason}"
