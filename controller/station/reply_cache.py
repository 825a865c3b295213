"""A check-in's answer as the reply cache keeps it: without the voter's name.

The dispatcher caches every reply so that a resent request gets the same answer
(``controller.station.dispatch``). A ``checkin.result`` names the voter; kept sealed,
the cache would be a second list of who checked in, in order. It is kept ``thin``: the
voter's list row stands in for the name, which ``full`` looks up again from the voter
list when the answer has to be sent again. After the polls close, no check-in is
answered again and the terminals' cached answers are deleted (``controller.polls.scrub``).
"""

from __future__ import annotations

import sqlite3
from typing import Any


def thin(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` of a ``checkin.result`` without the voter's name."""
    voter = body.get("voter")
    if isinstance(voter, dict):
        return dict(body, voter={"row": voter.get("row")})
    return dict(body)


def full(conn: sqlite3.Connection, cached: dict[str, Any]) -> dict[str, Any]:
    """The ``checkin.result`` body again, with the name from the voter list."""
    voter = cached.get("voter")
    if not isinstance(voter, dict):
        return cached
    row = conn.execute(
        "SELECT surname, given_names FROM voters WHERE row = ?", (voter.get("row"),)
    ).fetchone()
    name = f"{row[0]} {row[1]}".strip() if row else ""
    return dict(cached, voter={"row": voter.get("row"), "name": name})
