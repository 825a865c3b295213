"""The polls' state: setup → open → closed, never back, kept in the store's meta table.

Polls move setup → open → closed and never back (reopening needs more than a
button). Opening needs a fresh store (no ballot issued, cast or pending).
Closing and the results it produces are ``controller.polls.closing`` and
``controller.polls.results``.
"""

from __future__ import annotations

import sqlite3

from controller.store import audit
from controller.store.database import Store, get_meta, set_meta

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


def counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """Ballots ``(issued, cast, pending)`` at this station."""
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
        issued, cast, pending = counts(conn)
        if issued or cast or pending:
            # Totals must be zero at opening; anything else means a used database.
            raise PollsError(
                f"totals are not zero at opening (issued {issued}, cast {cast}, "
                f"pending {pending}): use a fresh data directory"
            )
        set_meta(conn, "polls", OPEN)
        audit.append(conn, "polls.opened", None, issued=0, cast=0)
    return OPEN
