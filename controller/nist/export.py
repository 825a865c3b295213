"""Exporting a station's cast vote records once polls are closed.

``export_cvrs`` reads every record in one consistent snapshot, writes the NIST SP
1500-103 report, checks it against the schema and its own references, and returns it
with two hashes: ``report_sha256`` over the exact bytes of this export (canonical
JSON, which is what ``shailoo controller export-cvr`` writes), and ``records_sha256``
over the canonical JSON of the CVR list alone, which does not change from one export
to the next (the report's ``GeneratedDate`` does) and is what a signature should cover.

The API exports without the schema check (the report is made by ``build_report``,
whose output the tests validate field by field); ``shailoo controller export-cvr``,
the archival export, validates against the schema as well.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.election.definition import Election, ElectionError
from controller.intake.ledger import cast_ballots
from controller.nist.cvr import CvrError, build_report, check_report, records_sha256, report_bytes
from controller.polls.results import has_results
from controller.polls.state import CLOSED, PollsError, polls_state
from controller.store.database import Store, get_meta


@dataclass(frozen=True)
class CvrExport:
    """One export: the report, its bytes, and the hashes to print, return and sign."""

    report: dict[str, Any]
    data: bytes
    report_sha256: str
    records_sha256: str
    count: int


def export_cvrs(
    store: Store,
    election: Election | None = None,
    station: str | None = None,
    mode: str | None = None,
    generated: datetime | None = None,
    schema_check: bool = False,
) -> CvrExport:
    """The cast vote record report of the station whose store this is.

    ``election``, ``station`` and ``mode`` default to what the store recorded (the
    definition is kept with the first record). The report's references and records are
    always checked; ``schema_check`` also validates it against the schema, which takes
    several seconds per thousand records. Raises ``PollsError`` (409) while polls are
    not closed, ``CvrError`` when the records cannot be written or fail a check.
    """
    with store.read() as conn:
        if polls_state(conn) != CLOSED:
            raise PollsError("cast vote records are exported once polls are closed")
        if not has_results(conn):
            # Flagged ballots still wait for (or may still change) the commission's decision.
            raise PollsError("cast vote records are exported once the results are produced")
        station = station or get_meta(conn, "station")
        mode = mode or get_meta(conn, "mode") or "official"
        kept = get_meta(conn, "election_definition")
        expected_hash = get_meta(conn, "election_hash")
        try:
            ballots = cast_ballots(conn)
        except ValueError as err:
            raise CvrError([str(err)]) from None
    if station is None:
        raise CvrError(["the store names no station"])
    if election is None:
        election = _kept_election(kept, bool(ballots))
    if expected_hash is not None and election.hash != expected_hash:
        made, given = expected_hash[:16], election.hash[:16]
        raise CvrError([f"the records were made with election {made}…, not {given}…"])
    report = build_report(election, ballots, station, mode, generated)
    problems = check_report(report, election, schema=schema_check)
    if problems:
        raise CvrError(problems)
    data = report_bytes(report)
    return CvrExport(
        report=report,
        data=data,
        report_sha256=hashlib.sha256(data).hexdigest(),
        records_sha256=records_sha256(report),
        count=len(ballots),
    )


def _kept_election(kept: str | None, any_cast: bool) -> Election:
    if kept is None:
        why = "no ballot was cast" if not any_cast else "the definition was not kept"
        raise CvrError([f"{why}: give the election definition to export the records"])
    try:
        return Election.from_dict(json.loads(kept), "the kept definition")
    except (ValueError, ElectionError) as err:
        raise CvrError([f"the definition kept with the records is damaged: {err}"]) from None
