"""Closing the polls, which produces the results when nothing waits for the commission.

Closing is refused while a scanner holds an accepted sheet that has not dropped yet,
unless the chair forces it; then that sheet is left uncounted and the
``no_pending_sheets`` check says so.

Ballots cast with a mark the reader was unsure of are flagged for the commission
(``controller.polls.adjudication``), which decides them only once polls are closed.
Closing with such a mark undecided closes the polls (no more ballots) but produces no
results: ``close_polls`` raises ``AwaitingAdjudication`` and the dashboard lists the
flagged ballots. Closing again once every mark is decided produces the results, which
count the decisions. Nothing is decided by default: a vote the commission has not seen
is neither counted nor thrown away silently.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from controller.polls import adjudication
from controller.polls.results import has_results, produce, stored_results
from controller.polls.scrub import scrub_after_close
from controller.polls.state import (
    CLOSED,
    OPEN,
    AwaitingAdjudication,
    PollsError,
    counts,
    polls_state,
)
from controller.store import audit
from controller.store.database import Store, get_meta, set_meta


def close_polls(
    store: Store, station: str, election: Any, mode: str, force: bool = False
) -> dict[str, Any]:
    """Close the polls and return the results (the stored ones if already closed).

    ``AwaitingAdjudication`` when a flagged ballot has an undecided mark: the polls are
    closed all the same (committed), and calling this again once the commission has
    decided every mark produces the results. Once closed, the files are scrubbed of the
    day's order (``controller.polls.scrub``).
    """
    try:
        return _close(store, station, election, mode, force)
    finally:
        scrub_after_close(store)


def _close(store: Store, station: str, election: Any, mode: str, force: bool) -> dict[str, Any]:
    with store.tx() as conn:
        state = polls_state(conn)
        if state == CLOSED:
            if has_results(conn):
                return stored_results(conn)
            undecided = adjudication.summary(conn)["undecided"]
            if not undecided:
                closed_at = get_meta(conn, "closed_at") or _now()
                return produce(conn, station, election, mode, closed_at, "results.final", {})
        else:
            if state != OPEN:
                raise PollsError("polls were never opened")
            pending = conn.execute(
                "SELECT COUNT(*) FROM sheets WHERE state = 'pending'"
            ).fetchone()[0]
            if pending and not force:
                raise PollsError(
                    f"{pending} accepted ballot(s) have not dropped into the box yet; "
                    "wait for the scanner, or close with force to leave them uncounted"
                )
            set_meta(conn, "polls", CLOSED)
            closed_at = _now()
            set_meta(conn, "closed_at", closed_at)
            undecided = adjudication.summary(conn)["undecided"]
            if not undecided:
                return produce(conn, station, election, mode, closed_at, "polls.closed",
                                {"forced": bool(pending)})
            issued, cast, _ = counts(conn)
            audit.append(conn, "polls.closed", None, forced=bool(pending), cast=cast,
                         issued=issued, awaiting_adjudication=undecided)
    raise AwaitingAdjudication(undecided)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
