"""A scanner's sheet through the intake: reassembled, read, decided, recorded.

``Intake`` is what the dispatcher calls for a scanner's blob and ballot messages.
Reading happens outside any transaction (``prepare_end``), recording inside the
caller's (``apply_end``, ``dropped``, ``returned``). The image of a read sheet is kept
in ``images_dir``: an accepted one under its record's random id and without a date, a
returned one under its sheet id.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from controller.intake import ledger
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
            self._save_image(sheet, scan.gray)
            return Outcome(sheet, "return", "unreadable", MESSAGES["unreadable"], scan.sha256)
        outcome = decide(sheet, scan.sha256, read)
        outcome = self.review.check(
            device, outcome, self.election, self.review_seconds, self.return_marginal
        )
        if outcome.record is not None:
            self._save_image(outcome.record["cvr"], scan.gray, undated=True)
        elif outcome.reason != "review":
            # A sheet sent back for review shows votes that are cast a minute later, fed
            # again: its image, dated and named by its sheet, would point at the record.
            self._save_image(sheet, scan.gray)
        return outcome

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
        return ledger.record_decision(conn, device, outcome)

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
