"""A scanner's sheet through the intake: reassembled, read, decided, recorded.

``Intake`` is what the dispatcher calls for a scanner's blob and ballot messages.
Reading happens outside any transaction (``prepare_end``), recording inside the
caller's (``apply_end``, ``dropped``, ``returned``). With ``keep_images``, the image of
a read sheet is kept in the database with its decision (``controller.intake.images``):
an accepted one under its record's random id, a returned one under a random name,
never under its sheet id or with a time (``docs/secrecy.md``).
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from controller.intake import images, ledger
from controller.intake.decision import (
    MESSAGES,
    REVIEW_SECONDS,
    Outcome,
    Reader,
    Review,
    decide,
    returned,
)
from controller.intake.reassembly import MAX_BLOB, Reassembly, ReassemblyFailed
from controller.intake.sheet_id import check_sheet_id
from controller.store.database import Store

log = logging.getLogger("shailoo.intake")


class Intake:
    """Per-device blob assembly and the sheet lifecycle.

    ``reader`` reads a sheet, called as ``decision.Reader`` says. Methods without a
    ``conn`` argument touch memory only; the others run inside the caller's write
    transaction.
    """

    def __init__(
        self,
        store: Store,
        election: Any,
        reader: Reader,
        mode: str,
        station: str,
        keep_images: bool = False,
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
        self.keep_images = keep_images
        self.reassembly = Reassembly(max_blob)
        self.review = Review(clock)
        self.review_seconds = review_seconds
        # False where the scanner is not to hand sheets back for an unclear mark: they
        # go straight into the box, flagged for the commission like any cast one.
        self.return_marginal = return_marginal

    def begin(self, device: str, body: dict[str, Any]) -> None:
        """Start a blob. A blob too large for a sheet is refused (and later returned)."""
        self.reassembly.begin(device, body)

    def chunk(self, device: str, body: dict[str, Any], attachment: bytes) -> None:
        """Add a chunk. Only the first problem of a blob is raised; the rest are dropped."""
        self.reassembly.chunk(device, body, attachment)

    def prepare_end(self, device: str, body: dict[str, Any], polls: str) -> Outcome | None:
        """Finish and read the blob named by a ``blob.end``, outside any transaction.

        Returns None when the sheet was decided before (the stored decision stands).
        """
        sheet = check_sheet_id(device, body.get("blob"))
        with self.store.read() as conn:
            if ledger.stored_decision(conn, sheet) is not None:
                return None
        try:
            scan = self.reassembly.finish(device, sheet, body)
        except ReassemblyFailed as failed:
            return returned(sheet, "polls_closed" if polls != "open" else failed.reason)
        if polls != "open":
            return returned(sheet, "polls_closed")
        try:
            read = self.reader(
                scan.gray, self.election, mode=self.mode, station=self.station, dpi=scan.dpi
            )
        except Exception:
            log.exception("%s: reading sheet %s failed", device, sheet)
            outcome = Outcome(sheet, "return", "unreadable", MESSAGES["unreadable"], scan.sha256)
            return self._with_image(outcome, scan.gray)
        outcome = decide(sheet, scan.sha256, read)
        outcome = self.review.check(
            device, outcome, self.election, self.review_seconds, self.return_marginal
        )
        if outcome.reason == "review":
            # A sheet sent back for review shows votes that are cast a minute later, fed
            # again: its image is not kept at all.
            return outcome
        return self._with_image(outcome, scan.gray)

    def apply_end(
        self, conn: sqlite3.Connection, device: str, outcome: Outcome | None, sheet: str, polls: str
    ) -> dict[str, Any]:
        """Record the decision of a ``blob.end``; return the ``ballot.decision`` body."""
        stored = ledger.stored_decision(conn, sheet)
        if stored is not None:
            return stored
        if outcome is None:
            outcome = returned(sheet, "incomplete")
        if outcome.decision == "accept" and polls != "open":
            outcome = returned(sheet, "polls_closed")
        body = ledger.record_decision(conn, device, outcome)
        if outcome.png is not None:
            name = outcome.record["cvr"] if outcome.record is not None else images.returned_name()
            images.keep(conn, name, outcome.png)
        return body

    def dropped(
        self, conn: sqlite3.Connection, device: str, body: dict[str, Any], polls: str
    ) -> dict[str, Any]:
        """A sheet went into the box: pending → cast. Returns the ``ballot.recorded`` body."""
        return ledger.dropped(conn, device, body, polls, self.election)

    def returned(
        self, conn: sqlite3.Connection, device: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A sheet went back to the voter: pending/rejected → voided. Returns ``ballot.voided``."""
        return ledger.returned(conn, device, body)

    def _with_image(self, outcome: Outcome, gray: np.ndarray) -> Outcome:
        """``outcome`` carrying the scan as PNG when images are kept."""
        if not self.keep_images:
            return outcome
        try:
            return dataclasses.replace(outcome, png=images.encode_png(gray))
        except (OSError, ValueError):
            # The image is kept beside the record for review; losing it must not lose the vote.
            log.exception("could not encode the image of sheet %s", outcome.sheet)
            return outcome
