"""Ballot intake: reassemble a scanned sheet, check it, read it, follow it to the box.

A sheet goes ``pending`` (read and accepted, waiting for the scanner to drop it) →
``cast`` on ``ballot.dropped``; or ``rejected`` (the reader said return it) →
``voided`` on ``ballot.returned``. Each step is idempotent per sheet id, so a resent
``ballot.dropped`` counts nothing twice. Only cast sheets are tallied.

The votes of a cast sheet live only in the ``cvrs`` table: the drop moves what the
reading found (every mark score, the votes, the image hash, the style) from the
sheet's row to a cast vote record with a random id and no time, in the same
transaction, and clears it from the sheet. The ``sheets`` table, which has times
and the scanner's sheet ids, then says only that a sheet was cast — never how — so
nothing lines a vote up with the order or the time of the check-ins
(``docs/cvr.md``). The image of an accepted sheet is kept under its record's id.

Where the election's rules let a voter take the ballot back for a new one
(``Election.warn_voter``), an accepted sheet with an overvoted contest, a contest left
short or no vote at all is returned first with reason ``review`` and a message that
names what the voter may want to correct. Fed again as it is — the same style and the
same votes, from the same scanner, within ``REVIEW_SECONDS`` and before any other
sheet — it is accepted and goes into the box. The warning's kind and contests travel
only in the live answer: the stored decision, the audit log and the scanner's return
report say ``review``, since a time next to what was wrong with a ballot would point
at the record it becomes.

A sheet with a ``marginal`` mark — one the reader is unsure of — goes back the same
way whatever the election's rules say (``marginal`` in the message, naming the
contests): the voter may make the mark clear or ask for a new ballot. Fed again as it
is, or accepted at once where the station does not return such sheets
(``return_marginal``), it is cast like any other, and its record, which keeps every
mark's class, is flagged for the commission (``controller.adjudication``): no mark
the reader was unsure of is silently left out.

Image transfer problems (a chunk missing, a hash that does not match, a blob larger
than its own metadata allows) are not votes: the sheet is decided ``return`` with a
reason, so the scanner gives the paper back and the voter can feed it again.

Chunks live in memory only: a blob interrupted by a controller restart cannot be
completed and is returned, as the wire contract expects of a scan interrupted on
the scanner's side.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from controller import adjudication, audit
from controller.nist.cvr import CastBallot, new_cvr_id
from controller.store import Store, get_meta, set_meta
from protocol.blob import BlobAssembler
from protocol.errors import ProtocolError

log = logging.getLogger("shailoo.intake")

Reader = Callable[..., dict[str, Any]]
KIND = "ballot-image"
MAX_BLOB = 16 * 1024 * 1024
MAX_SIDE = 16384
MAX_SHEET_ID = 80
REVIEW_SECONDS = 120.0  # how long a warned ballot fed again as it is goes in unwarned
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")

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


@dataclass
class _Blob:
    blob_id: str
    meta: dict[str, int]
    assembler: BlobAssembler | None
    failure: str | None = None


def check_sheet_id(device: str, sheet: object) -> str:
    """Return ``sheet`` if it is a well-formed sheet id of ``device`` (``<device>-...``)."""
    if (
        not isinstance(sheet, str)
        or not sheet.startswith(device + "-")
        or len(sheet) > MAX_SHEET_ID
        or not set(sheet) <= _ID_CHARS
    ):
        raise ProtocolError("malformed", f"sheet id {str(sheet)[:90]!r} is not one of {device}'s")
    return sheet


def _meta(meta: object, max_blob: int) -> tuple[dict[str, int], str | None]:
    """Validate image metadata; return it and a failure code when it is too large."""
    if not isinstance(meta, dict):
        raise ProtocolError("malformed", "blob meta must be an object")
    out: dict[str, int] = {}
    for name in ("width", "height", "dpi", "bpp"):
        value = meta.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ProtocolError("malformed", f"blob meta {name} must be a positive integer")
        out[name] = value
    if out["bpp"] != 8:
        raise ProtocolError("malformed", "only 8-bit grey images are accepted")
    too_large = (
        out["width"] > MAX_SIDE
        or out["height"] > MAX_SIDE
        or out["width"] * out["height"] > max_blob
    )
    return out, "too_large" if too_large else None


class Intake:
    """Per-device blob assembly and the sheet lifecycle.

    ``reader(gray, election, mode=..., station=...)`` reads a sheet (the real one
    is ``controller.ballots.read.read_ballot``). Methods without a ``conn`` argument
    touch memory only; the others run inside the caller's write transaction.
    """

    def __init__(
        self,
        store: Store,
        election: Any,
        reader: Reader,
        mode: str,
        station: str,
        images_dir: Path | None = None,
        max_blob: int = MAX_BLOB,
        review_seconds: float = REVIEW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        return_marginal: bool = True,
    ) -> None:
        self.store = store
        self.election = election
        self.reader = reader
        self.mode = mode
        self.station = station
        self.images_dir = images_dir
        self.max_blob = max_blob
        self._blobs: dict[str, _Blob] = {}
        self._lock = threading.Lock()
        self._reader_takes_dpi = _accepts(reader, "dpi")
        self.review_seconds = review_seconds
        self.clock = clock
        # False where the scanner is not to hand sheets back for an unclear mark: they
        # go straight into the box, flagged for the commission like any cast one.
        self.return_marginal = return_marginal
        # Per scanner: the digest of the last ballot sent back for review, and until
        # when the same ballot fed again goes in. Memory only: after a restart the
        # voter is warned once more, which is the safe side.
        self._reviewed: dict[str, tuple[str, float]] = {}

    def begin(self, device: str, body: dict[str, Any]) -> None:
        """Start a blob. A blob too large for a sheet is refused (and later returned)."""
        sheet = check_sheet_id(device, body.get("blob"))
        if body.get("kind") != KIND:
            raise ProtocolError("malformed", f"blob kind must be {KIND!r}")
        meta, failure = _meta(body.get("meta"), self.max_blob)
        with self._lock:
            current = self._blobs.get(device)
            if current and current.blob_id == sheet and current.meta == meta:
                return  # the same begin again: keep what has arrived
            if current and current.assembler and current.assembler.covered:
                log.warning("%s: blob %s abandoned for %s", device, current.blob_id, sheet)
            size = meta["width"] * meta["height"]
            assembler = None if failure else BlobAssembler(sheet, KIND, meta, size)
            self._blobs[device] = _Blob(sheet, meta, assembler, failure)
        if failure:
            raise ProtocolError(
                "too_large", f"blob {sheet} of {meta['width']}x{meta['height']} exceeds the limit"
            )

    def chunk(self, device: str, body: dict[str, Any], attachment: bytes) -> None:
        """Add a chunk. Only the first problem of a blob is raised; the rest are dropped."""
        sheet = check_sheet_id(device, body.get("blob"))
        with self._lock:
            blob = self._blobs.get(device)
            if blob is None or blob.blob_id != sheet:
                # Chunks of a blob whose begin never came: remember it as failed so
                # that its further chunks are not each refused and logged again.
                self._blobs[device] = _Blob(sheet, {}, None, "incomplete")
                raise ProtocolError("bad_chunk", f"chunk of {sheet} without blob.begin")
            if blob.failure or blob.assembler is None:
                return
            try:
                blob.assembler.add(body, attachment)
            except ProtocolError as err:
                blob.failure = "too_large" if err.code == "too_large" else "incomplete"
                raise

    def _stored(self, conn: sqlite3.Connection, sheet: str) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT decision, reason, message FROM sheets WHERE id = ?", (sheet,)
        ).fetchone()
        if row is None:
            return None
        return {"sheet": sheet, "decision": row[0], "reason": row[1], "message": row[2]}

    def prepare_end(self, device: str, body: dict[str, Any], polls: str) -> Outcome | None:
        """Finish and read the blob named by a ``blob.end``, outside any transaction.

        Returns None when the sheet was decided before (the stored decision stands).
        """
        sheet = check_sheet_id(device, body.get("blob"))
        with self.store.read() as conn:
            if self._stored(conn, sheet) is not None:
                return None
        with self._lock:
            blob = self._blobs.pop(device, None)
            if blob is not None and blob.blob_id != sheet:
                self._blobs[device] = blob  # a different sheet is in flight; leave it be
                blob = None
        if polls != "open":
            return _returned(sheet, "polls_closed")
        if blob is None:
            return _returned(sheet, "incomplete")
        if blob.failure or blob.assembler is None:
            return _returned(sheet, blob.failure or "incomplete")
        try:
            data = blob.assembler.finish(body)
        except ProtocolError as err:
            log.warning("%s: blob %s: %s", device, sheet, err)
            return _returned(sheet, "bad_hash" if err.code == "bad_hash" else "incomplete")
        digest = body["sha256"].lower()
        gray = np.frombuffer(data, dtype=np.uint8).reshape(blob.meta["height"], blob.meta["width"])
        options: dict[str, Any] = {"mode": self.mode, "station": self.station}
        if self._reader_takes_dpi:
            options["dpi"] = blob.meta["dpi"]  # lets the reader refuse a sheet at the wrong scale
        try:
            read = self.reader(gray, self.election, **options)
        except Exception:
            log.exception("%s: reading sheet %s failed", device, sheet)
            self._save_image(sheet, gray)
            return Outcome(sheet, "return", "unreadable", MESSAGES["unreadable"], digest)
        outcome = self._outcome(sheet, digest, read)
        outcome = self._review(device, outcome)
        if outcome.record is not None:
            self._save_image(outcome.record["cvr"], gray, undated=True)
        elif outcome.reason != "review":
            # A sheet sent back for review shows votes that are cast a minute later, fed
            # again: its image, dated and named by its sheet, would point at the record.
            self._save_image(sheet, gray)
        return outcome

    def _outcome(self, sheet: str, digest: str, read: Any) -> Outcome:
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

    def _review(self, device: str, outcome: Outcome) -> Outcome:
        """An accepted sheet the election's rules warn about goes back once for review."""
        with self._lock:
            last = self._reviewed.pop(device, None)
        if outcome.record is None:
            return outcome  # returned anyway; a warned ballot fed again must be this one
        marks = outcome.record["marks"] if self.return_marginal else None
        warnings = review_warnings(self.election, outcome.record["votes"],
                                   outcome.record["contests"], marks)
        if not warnings:
            return outcome
        key = _ballot_digest(outcome.record["style"], outcome.record["votes"])
        if last is not None and last[0] == key and self.clock() <= last[1]:
            return outcome  # the voter has seen the warning and casts the ballot as it is
        with self._lock:
            self._reviewed[device] = (key, self.clock() + self.review_seconds)
        return Outcome(outcome.sheet, "return", "review",
                       review_message(warnings, self.election), outcome.image_sha256,
                       outcome.style)

    def _save_image(self, name: str, gray: np.ndarray, undated: bool = False) -> None:
        """Keep a scan as ``NAME.png``; ``undated`` sets its file times to 0 (1970).

        The image of an accepted sheet shows the votes and is named by its record's
        random id; a modification time would tell when it was cast.
        """
        if self.images_dir is None:
            return
        from PIL import Image

        path = self.images_dir / f"{name}.png"
        try:
            self.images_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(gray, mode="L").save(path)
            if undated:
                os.utime(path, (0, 0))
        except OSError:
            # The image is kept beside the record for review; losing it must not lose the vote.
            log.exception("could not keep the image %s", path.name)

    def apply_end(
        self, conn: sqlite3.Connection, device: str, outcome: Outcome | None, sheet: str, polls: str
    ) -> dict[str, Any]:
        """Record the decision of a ``blob.end``; return the ``ballot.decision`` body."""
        stored = self._stored(conn, sheet)
        if stored is not None:
            return stored
        if outcome is None:
            outcome = _returned(sheet, "incomplete")
        if outcome.decision == "accept" and polls != "open":
            outcome = _returned(sheet, "polls_closed")
        now = time.time()
        accepted = outcome.decision == "accept"
        review = outcome.reason == "review"
        # An accepted sheet's image hash and style stay inside its record, which leaves
        # this table at the drop: a hash next to a time would point at the vote. A sheet
        # sent back for review may become a record a minute later (fed again as it is):
        # what was wrong with it, its style and its hash are kept nowhere.
        conn.execute(
            "INSERT INTO sheets (id, device, state, decision, reason, message, image_sha256, "
            "style, record, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sheet,
                device,
                "pending" if accepted else "rejected",
                outcome.decision,
                outcome.reason,
                MESSAGES["review"] if review else outcome.message,
                None if accepted or review else outcome.image_sha256,
                None if accepted or review else outcome.style,
                json.dumps(outcome.record) if outcome.record is not None else None,
                now,
                now,
            ),
        )
        if accepted:
            audit.append(conn, "sheet.accepted", device, sheet=sheet)
        else:
            audit.append(
                conn,
                "sheet.returned",
                device,
                sheet=sheet,
                image_sha256=None if review else outcome.image_sha256,
                reason=outcome.reason,
            )
        return {
            "sheet": sheet,
            "decision": outcome.decision,
            "reason": outcome.reason,
            "message": outcome.message,
        }

    def dropped(
        self, conn: sqlite3.Connection, device: str, body: dict[str, Any], polls: str
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
        row = conn.execute(
            "SELECT state, record, image_sha256, style FROM sheets WHERE id = ?", (sheet,)
        ).fetchone()
        state = row[0] if row else None
        recorded = state == "cast"
        if state == "pending" and polls == "open":
            self._record_vote(conn, device, sheet, row[1], row[2], row[3])
            conn.execute(
                "UPDATE sheets SET state = 'cast', record = NULL, image_sha256 = NULL, "
                "style = NULL, updated_at = ? WHERE id = ?",
                (time.time(), sheet),
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
        self,
        conn: sqlite3.Connection,
        device: str,
        sheet: str,
        text: str | None,
        image_sha256: str | None,
        style: str | None,
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
        if get_meta(conn, "election_definition") is None and hasattr(self.election, "to_dict"):
            # The records are read against this definition; kept with them so that they
            # can be exported from the data folder alone.
            set_meta(conn, "election_definition", json.dumps(self.election.to_dict()))

    def returned(
        self, conn: sqlite3.Connection, device: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A sheet went back to the voter: pending/rejected → voided. Returns ``ballot.voided``."""
        sheet = check_sheet_id(device, body.get("sheet"))
        reason = body.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
            raise ProtocolError("malformed", "ballot.returned reason must be short text")
        row = conn.execute("SELECT state FROM sheets WHERE id = ?", (sheet,)).fetchone()
        state = row[0] if row else None
        now = time.time()
        if state in ("pending", "rejected"):
            # A voided sheet's reading is nobody's vote: it is not kept.
            conn.execute(
                "UPDATE sheets SET state = 'voided', record = NULL, updated_at = ? WHERE id = ?",
                (now, sheet),
            )
            audit.append(conn, "ballot.voided", device, sheet=sheet, reason=reason)
        elif state is None:
            # A scan the controller never decided (interrupted on the scanner). The
            # tombstone makes a late blob.end for this sheet get "return", never "accept".
            conn.execute(
                "INSERT INTO sheets (id, device, state, decision, reason, message, "
                "created_at, updated_at) VALUES (?, ?, 'voided', 'return', 'interrupted', ?, ?, ?)",
                (sheet, device, MESSAGES["interrupted"], now, now),
            )
            audit.append(conn, "ballot.voided", device, sheet=sheet, reason=reason)
        elif state == "cast":
            log.error("%s: sheet %s reported returned but it was cast", device, sheet)
            audit.append(conn, "ballot.return_of_cast", device, sheet=sheet, reason=reason)
            return {"sheet": sheet, "voided": False}
        return {"sheet": sheet, "voided": True}


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
    election's rules name in the order of ``controller.election.WARNINGS``; [] when
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


def _accepts(func: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _reader_message(reason: str) -> str:
    try:
        from controller.ballots.read import REASONS
    except ImportError:
        REASONS = {}  # noqa: N806 - a reader without its own texts
    text = REASONS.get(reason, {}).get("en")
    return f"ballot returned: {text or reason}"


def _returned(sheet: str, reason: str) -> Outcome:
    return Outcome(sheet, "return", reason, MESSAGES[reason])


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
